package configs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/rewindhq/rewind/internal/nacos"
	"github.com/rewindhq/rewind/internal/rewind"
)

// importRetry is how long a failed history import waits before it is tried again.
const importRetry = time.Minute

// server follows one registered Nacos server: its configs (through a
// nacos.Follower), its health, and the import of its configs' history.
//
// The configs are followed in sessions: a session starts, with a new client,
// when the server passes its health check, and ends, closing the client, when
// a check fails. So no SDK client lingers, reconnecting, while the server is
// down (nacos-sdk-go's reconnection has data races of its own), and a new
// session lists every config again, recording what changed meanwhile.
type server struct {
	m        *Manager
	reg      rewind.NacosServer
	probe    *nacos.Client // health checks only (HTTP); nil when setupErr is set
	setupErr error

	cancel  context.CancelFunc
	done    chan struct{}
	recheck chan struct{} // asks for a health check now
	wake    chan struct{} // tells the importer there is work

	mu      sync.Mutex
	client  *nacos.Client // the session's client; nil between sessions
	st      rewind.NacosStatus
	changed chan struct{}              // closed and replaced when st.Problem changes
	types   map[nacos.ConfigKey]string // Nacos' type per config, from the listings
	targets map[nacos.ConfigKey]int64  // target ID per config
	queued  map[nacos.ConfigKey]bool   // configs whose history is to be imported
	failed  map[nacos.ConfigKey]time.Time
	live    map[nacos.ConfigKey]liveRead // recent reads of configs, for pages
}

// liveCacheTTL is how long a read of a config serves pages.
const liveCacheTTL = time.Second

// liveRead is a config as read at a time.
type liveRead struct {
	st *rewind.ConfigState
	at time.Time
}

// cached returns a recent read of a config.
func (s *server) cached(key nacos.ConfigKey) (*rewind.ConfigState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.live[key]
	if !ok || time.Since(r.at) > liveCacheTTL {
		return nil, false
	}
	st := *r.st
	return &st, true
}

func (s *server) cache(key nacos.ConfigKey, st *rewind.ConfigState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := *st
	s.live[key] = liveRead{st: &cp, at: time.Now()}
}

// forget drops the read of a config that changed or is being changed.
func (s *server) forget(key nacos.ConfigKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.live, key)
}

func newServer(m *Manager, reg rewind.NacosServer) *server {
	reg.Namespaces = append([]string(nil), reg.Namespaces...)
	s := &server{
		m: m, reg: reg,
		done:    make(chan struct{}),
		recheck: make(chan struct{}, 1),
		wake:    make(chan struct{}, 1),
		changed: make(chan struct{}),
		types:   map[nacos.ConfigKey]string{},
		targets: map[nacos.ConfigKey]int64{},
		queued:  map[nacos.ConfigKey]bool{},
		failed:  map[nacos.ConfigKey]time.Time{},
		live:    map[nacos.ConfigKey]liveRead{},
	}
	probe, err := s.newClient()
	if err != nil {
		s.setupErr = rewind.Errorf(rewind.EINVALID, "Nacos server %s cannot be used: %v", reg.Name, err)
		s.st = rewind.NacosStatus{Problem: s.setupErr.Error(), Checked: time.Now()}
		close(s.done)
		return s
	}
	s.probe = probe
	return s
}

// newClient makes a client for the server; an https:// server is also
// verified against Options.CAFile.
func (s *server) newClient() (*nacos.Client, error) {
	cfg := nacos.ServerConfig{Name: s.reg.Name, Addr: s.reg.Addr, ContextPath: s.reg.ContextPath,
		Namespaces: s.reg.Namespaces, Username: s.reg.Username, Password: s.reg.Password}
	if rewind.NacosOverHTTPS(s.reg.Addr) {
		cfg.CAFile = s.m.opt.CAFile
	}
	return nacos.New(cfg, s.m.opt.DataDir)
}

// run checks and follows the server until ctx ends.
func (s *server) run(ctx context.Context) {
	defer close(s.done)
	defer s.probe.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.watchHealth(ctx) }()
	go func() { defer wg.Done(); s.inTerms(ctx, s.importLoop) }()
	for ctx.Err() == nil {
		if !s.waitProblem(ctx, false) {
			break
		}
		s.session(ctx)
	}
	wg.Wait()
}

// waitProblem waits until the server has a problem (want true) or none
// (want false); it returns false when ctx ends first.
func (s *server) waitProblem(ctx context.Context, want bool) bool {
	for {
		s.mu.Lock()
		has, changed, checked := s.st.Problem != "", s.changed, !s.st.Checked.IsZero()
		s.mu.Unlock()
		if checked && has == want {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-changed:
		}
	}
}

// session follows the configs with a new client until the server has a
// problem or ctx ends.
func (s *server) session(ctx context.Context) {
	client, err := s.newClient()
	if err != nil {
		s.m.log.Error("nacos client", "server", s.reg.Name, "err", err)
		return
	}
	sctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	s.client = client
	s.mu.Unlock()
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		s.inTerms(sctx, func(ctx context.Context) { s.follow(ctx, client) })
	}()
	// Imports that waited for the server go now.
	s.mu.Lock()
	for key := range s.failed {
		s.queued[key] = true
	}
	clear(s.failed)
	s.mu.Unlock()
	s.signalImport()

	s.waitProblem(ctx, true)
	cancel()
	<-followed
	s.mu.Lock()
	s.client = nil
	clear(s.live)
	s.mu.Unlock()
	client.Close()
}

// sessionClient returns the client of the current session, or the server's problem.
func (s *server) sessionClient() (*nacos.Client, error) {
	if s.setupErr != nil {
		return nil, s.setupErr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		return s.client, nil
	}
	if s.st.Problem != "" {
		return nil, rewind.Errorf(rewind.EUNAVAILABLE, "%s", s.st.Problem)
	}
	return nil, rewind.Errorf(rewind.EUNAVAILABLE, "Rewind is still connecting to Nacos server %s; try again in a moment.", s.reg.Name)
}

// follow reports every new content of the server's configs until ctx ends.
func (s *server) follow(ctx context.Context, client *nacos.Client) {
	known := map[nacos.ConfigKey]string{}
	configs, err := s.m.store.KnownConfigs(ctx, s.reg.ID)
	if err != nil && ctx.Err() == nil {
		s.m.log.Error("read known configs", "server", s.reg.Name, "err", err)
	}
	for _, k := range configs {
		key := keyOf(k.Target)
		known[key] = k.Hash
		s.mu.Lock()
		s.targets[key] = k.Target.ID
		s.mu.Unlock()
		// History that was never imported (the server was down, or Rewind
		// stopped first) is imported now.
		if n, err := s.m.store.MaxRevision(ctx, k.Target.ID); err == nil && n == 0 {
			s.queueImport(key)
		}
	}
	f := &nacos.Follower{
		Client:   client,
		Interval: s.m.opt.FollowInterval,
		Known:    known,
		OnChange: func(key nacos.ConfigKey, content, md5 string, at time.Time) {
			if _, err := s.observe(ctx, key, content, md5, at); err != nil && ctx.Err() == nil {
				s.m.log.Error("record config version", "server", s.reg.Name, "config", key.String(), "err", err)
			}
		},
		OnError: func(err error) {
			s.m.log.Warn("follow nacos configs", "server", s.reg.Name, "err", err)
			s.askRecheck()
		},
		OnListed: s.listed,
	}
	_ = f.Run(ctx)
}

// inTerms runs work in each of the gate's terms until ctx ends: only the
// leader follows configs and imports their history.
func (s *server) inTerms(ctx context.Context, work func(ctx context.Context)) {
	for {
		term, end, ok := s.m.opt.Gate.Term(ctx)
		if !ok {
			return
		}
		work(term)
		end()
		if s.m.opt.Gate == nil {
			return
		}
	}
}

// stop ends run and waits for it.
func (s *server) stop() {
	if s.cancel != nil {
		s.cancel()
	}
	<-s.done
}

func (s *server) askRecheck() {
	select {
	case s.recheck <- struct{}{}:
	default:
	}
}

// watchHealth checks the server now, then every HealthInterval and when asked.
func (s *server) watchHealth(ctx context.Context) {
	tick := time.NewTicker(s.m.opt.HealthInterval)
	defer tick.Stop()
	for {
		s.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.recheck:
		}
	}
}

// check asks the server which Nacos it is and whether it accepts Rewind's login.
func (s *server) check(ctx context.Context) {
	if s.probe == nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	major, full, err := s.probe.DetectVersion(cctx)
	if err == nil {
		err = s.probe.Check(cctx)
	}
	if ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	was, first := s.st.Problem, s.st.Checked.IsZero()
	s.st.Checked = time.Now()
	if full != "" {
		s.st.Version, s.st.ReadOnly = full, major == "1"
	}
	s.st.Problem = ""
	if err != nil {
		s.st.Problem = problem(s.reg.Name, err)
	}
	if first || s.st.Problem != was {
		close(s.changed)
		s.changed = make(chan struct{})
	}
	switch {
	case s.st.Problem != "" && s.st.Problem != was:
		s.m.log.Warn("nacos server unusable", "server", s.reg.Name, "problem", s.st.Problem)
	case s.st.Problem == "" && was != "":
		s.m.log.Info("nacos server usable again", "server", s.reg.Name, "version", s.st.Version)
	}
}

// problem says for people why the server cannot be used.
func problem(name string, err error) string {
	var re *rewind.Error
	if d := describe(name, err); errors.As(d, &re) {
		return re.Message
	}
	return fmt.Sprintf("Nacos server %s: %v", name, err)
}

func (s *server) status() rewind.NacosStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

// listed keeps the types of a namespace's configs from a listing.
func (s *server) listed(_ string, configs []nacos.Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range configs {
		if c.Type != "" {
			s.types[c.Key] = c.Type
		}
	}
}

// typeOf is Nacos' type of a config, "" when unknown.
func (s *server) typeOf(key nacos.ConfigKey) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.types[key]
}

// target returns the target of a config, creating it when missing; a
// target marked deleted comes back.
func (s *server) target(ctx context.Context, key nacos.ConfigKey) (*rewind.Target, error) {
	t := &rewind.Target{Kind: rewind.KindConfig, EnvironmentID: s.reg.EnvironmentID, OwnerID: s.reg.ID,
		Namespace: key.Namespace, Group: key.Group, Name: key.DataID}
	if _, err := s.m.store.EnsureTarget(ctx, t); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.targets[key] = t.ID
	s.mu.Unlock()
	return t, nil
}

// observe records a config's content seen live (empty content and md5 for a
// deletion) unless it is already its newest version, and queues the import of
// its Nacos history. A content a restore is writing is recorded as the
// restore's version.
func (s *server) observe(ctx context.Context, key nacos.ConfigKey, content, md5 string, at time.Time) (*rewind.Version, error) {
	if r, ok := s.cached(key); !ok || r.MD5 != md5 {
		s.forget(key)
	}
	t, err := s.target(ctx, key)
	if err != nil {
		return nil, err
	}
	deleted := md5 == "" && content == ""
	v := &rewind.Version{TargetID: t.ID, Content: content, Hash: md5, Source: rewind.SourceObserved, CreatedAt: at.UTC(), Meta: map[string]string{}}
	if deleted {
		v.Meta[rewind.MetaOp] = rewind.NacosDelete
	}
	if typ := s.typeOf(key); typ != "" {
		v.Meta[rewind.MetaType] = typ
	}
	if e, ok := s.m.expected(t.ID); ok && e.hash == md5 && e.deleted == deleted {
		v.Source, v.RequestID, v.Author = rewind.SourceRollback, e.requestID, e.requester
	}
	got, added, err := s.m.store.RecordConfigVersion(ctx, v)
	if err != nil {
		return nil, err
	}
	if deleted {
		if err := s.m.store.MarkTargetDeleted(ctx, t.ID); err != nil {
			return nil, err
		}
	}
	if added {
		s.m.log.Info("config version recorded", "server", s.reg.Name, "config", key.String(), "version", got.Number, "source", got.Source)
		s.queueImport(key)
	}
	return got, nil
}

// queueImport asks the importer to read a config's Nacos history.
func (s *server) queueImport(key nacos.ConfigKey) {
	s.mu.Lock()
	s.queued[key] = true
	s.mu.Unlock()
	s.signalImport()
}

func (s *server) signalImport() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// importLoop imports the history of queued configs, one at a time.
func (s *server) importLoop(ctx context.Context) {
	retry := time.NewTicker(importRetry)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-retry.C:
			s.mu.Lock()
			for key, at := range s.failed {
				if time.Since(at) >= importRetry {
					s.queued[key] = true
					delete(s.failed, key)
				}
			}
			s.mu.Unlock()
		}
		for {
			s.mu.Lock()
			var key nacos.ConfigKey
			found := false
			for k := range s.queued {
				key, found = k, true
				delete(s.queued, k)
				break
			}
			s.mu.Unlock()
			if !found || ctx.Err() != nil {
				break
			}
			if err := s.importHistory(ctx, key); err != nil && ctx.Err() == nil {
				s.m.log.Warn("import nacos history", "server", s.reg.Name, "config", key.String(), "err", err)
				s.mu.Lock()
				s.failed[key] = time.Now()
				s.mu.Unlock()
			}
		}
	}
}

// importHistory records the Nacos history of a config that Rewind has not recorded yet.
func (s *server) importHistory(ctx context.Context, key nacos.ConfigKey) error {
	s.mu.Lock()
	id, ok := s.targets[key]
	s.mu.Unlock()
	if !ok {
		return nil
	}
	client, err := s.sessionClient()
	if err != nil {
		return err
	}
	history, err := client.History(ctx, key)
	if err != nil {
		return err
	}
	vs := make([]*rewind.Version, 0, len(history))
	for _, h := range history {
		meta := map[string]string{rewind.MetaOp: h.Op, rewind.MetaHistoryID: h.HistoryID}
		if h.SourceIP != "" {
			meta[rewind.MetaSourceIP] = h.SourceIP
		}
		vs = append(vs, &rewind.Version{Revision: h.HistoryID, Content: h.Content, Hash: h.MD5, Author: h.Operator,
			CreatedAt: h.At.UTC(), Meta: meta})
	}
	n, err := s.m.store.ImportConfigHistory(ctx, id, vs)
	if err != nil {
		return err
	}
	if n > 0 {
		s.m.log.Info("nacos history imported", "server", s.reg.Name, "config", key.String(), "versions", strconv.Itoa(n))
	}
	return nil
}
