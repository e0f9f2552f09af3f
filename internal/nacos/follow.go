package nacos

import (
	"context"
	"time"
)

// DefaultFollowInterval is how often a Follower lists and compares every config when no
// interval is given.
const DefaultFollowInterval = time.Minute

// ChangeFunc receives a config's new content; content and md5 are empty when the config was
// deleted. at is when the change happened, as far as Rewind can tell.
type ChangeFunc func(key ConfigKey, content, md5 string, at time.Time)

// Follower reports every new content of the configs in a server's registered namespaces. It
// listens for the changes Nacos 2.x and 3.x push, and, as a safety net (and the only way on
// Nacos 1.x), lists every config periodically and reads those whose md5 changed. It only
// reports; the caller stores snapshots.
type Follower struct {
	// Client is the server to follow.
	Client *Client
	// OnChange is called for each new content and each deletion, one call at a time.
	OnChange ChangeFunc
	// Interval is the period of the full check; DefaultFollowInterval when zero.
	Interval time.Duration
	// Known holds the md5 of the content the caller already has per config, so that content
	// is not reported again. Configs not in Known are reported on the first check.
	Known map[ConfigKey]string
	// OnError, when set, receives errors of the checks; they never stop the Follower.
	OnError func(error)
	// OnListed, when set, receives each namespace's listing of the periodic check (with the
	// configs' types, and on Nacos 3.x their modification times), before changes are read.
	OnListed func(namespace string, configs []Config)
}

// Run follows the server until ctx is cancelled, then stops listening and returns nil.
func (f *Follower) Run(ctx context.Context) error {
	interval := f.Interval
	if interval <= 0 {
		interval = DefaultFollowInterval
	}
	run := &followRun{
		f:         f,
		known:     map[ConfigKey]string{},
		listening: map[ConfigKey]bool{},
		attempts:  map[ConfigKey]int{},
		changed:   make(chan ConfigKey, 64),
		done:      make(chan struct{}),
	}
	for k, md5 := range f.Known {
		run.known[k] = md5
	}
	defer run.stop()

	run.check(ctx)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			run.check(ctx)
		case key := <-run.changed:
			if run.refresh(ctx, key, time.Now()) {
				delete(run.attempts, key)
			} else {
				run.retryLater(key)
			}
		}
	}
}

// followRun is the state of one Run; only Run's goroutine touches it, except changed.
type followRun struct {
	f         *Follower
	known     map[ConfigKey]string // md5 last reported (or given) per config
	listening map[ConfigKey]bool
	attempts  map[ConfigKey]int // failed reads after a pushed change, per config
	changed   chan ConfigKey    // keys the server pushed a change for
	done      chan struct{}
}

func (r *followRun) stop() {
	close(r.done)
	for key := range r.listening {
		r.f.Client.stopListening(key)
	}
}

func (r *followRun) report(ctx context.Context, err error) {
	if err != nil && ctx.Err() == nil && r.f.OnError != nil {
		r.f.OnError(err)
	}
}

// check lists every config of every namespace, reads those whose md5 changed, and reports
// the configs that disappeared.
func (r *followRun) check(ctx context.Context) {
	canListen, err := r.f.Client.canListen(ctx)
	if err != nil {
		r.report(ctx, err)
		return
	}
	for _, ns := range r.f.Client.cfg.Namespaces {
		configs, err := r.f.Client.ListConfigs(ctx, ns, "")
		if err != nil {
			r.report(ctx, err)
			continue
		}
		if r.f.OnListed != nil {
			r.f.OnListed(ns, configs)
		}
		seen := make(map[ConfigKey]bool, len(configs))
		for _, cfg := range configs {
			seen[cfg.Key] = true
			if canListen && !r.listening[cfg.Key] {
				r.listen(ctx, cfg.Key)
			}
			if md5, ok := r.known[cfg.Key]; ok && md5 == cfg.MD5 {
				continue
			}
			at := cfg.Modified
			if at.IsZero() {
				at = time.Now()
			}
			r.refresh(ctx, cfg.Key, at)
		}
		for key := range r.known {
			if key.Namespace == ns && !seen[key] {
				r.refresh(ctx, key, time.Now())
			}
		}
	}
}

// listen asks to be told of pushed changes of key.
func (r *followRun) listen(ctx context.Context, key ConfigKey) {
	err := r.f.Client.listen(key, func() {
		select {
		case r.changed <- key:
		case <-r.done:
		}
	})
	if err != nil {
		r.report(ctx, err)
		return
	}
	r.listening[key] = true
}

// maxPushRetries bounds the retries of a read after a pushed change; the periodic check
// catches what they miss.
const maxPushRetries = 5

// retryLater reads a pushed config again after a growing delay.
func (r *followRun) retryLater(key ConfigKey) {
	n := r.attempts[key] + 1
	if n > maxPushRetries {
		delete(r.attempts, key)
		return
	}
	r.attempts[key] = n
	time.AfterFunc(time.Duration(1<<(n-1))*time.Second, func() {
		select {
		case r.changed <- key:
		case <-r.done:
		}
	})
}

// refresh reads a config and reports it if its content is new or it was deleted; it returns
// false when the read failed. Pushed notices are only triggers: reading the config orders
// changes whose notices arrive out of order.
func (r *followRun) refresh(ctx context.Context, key ConfigKey, at time.Time) bool {
	cfg, exists, err := r.f.Client.Get(ctx, key)
	if err != nil {
		r.report(ctx, err)
		return false
	}
	old, known := r.known[key]
	if !exists {
		if !known {
			return true
		}
		delete(r.known, key)
		if r.listening[key] {
			r.f.Client.stopListening(key)
			delete(r.listening, key)
		}
		r.f.OnChange(key, "", "", at)
		return true
	}
	if known && old == cfg.MD5 {
		return true
	}
	r.known[key] = cfg.MD5
	r.f.OnChange(key, cfg.Content, cfg.MD5, at)
	return true
}
