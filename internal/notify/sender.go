package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/rewindhq/rewind/internal/i18n"
	"github.com/rewindhq/rewind/internal/rewind"
)

// Store is what the sender needs of the history store.
type Store interface {
	Facts
	UnroutedEvents(ctx context.Context, limit int) ([]Event, error)
	// Route queues ev's deliveries and marks it routed, in one transaction.
	Route(ctx context.Context, ev int64, ds []Delivery) error
	Rules(ctx context.Context, userID int64) ([]Rule, error)
	Channel(ctx context.Context, id int64) (*Channel, error)
	UserByID(ctx context.Context, id int64) (*rewind.User, error)
	RequestWorkflows(ctx context.Context, id int64) ([]int64, error)
	Event(ctx context.Context, id int64) (*Event, error)
	// Claim takes due deliveries for one attempt each, until until: queued
	// ones, those whose lease ran out, and those whose attempt started
	// before takeBefore (zero: none).
	Claim(ctx context.Context, now, until, takeBefore time.Time, limit int) ([]Claim, error)
	// Finish records an attempt's end: sent, or failed and queued again
	// for retry, or given up when retry is nil.
	Finish(ctx context.Context, c Claim, sent bool, errText string, retry *time.Time) error
	// PruneOutbox deletes the ended deliveries of events older than before.
	PruneOutbox(ctx context.Context, before time.Time) (int64, error)
}

// Sending is how a message reaches a channel; *Transport is the real one.
type Sending interface {
	Send(ctx context.Context, ch *Channel, m *Message, e Envelope) error
}

// Backoff says when a failed delivery is tried again: after Base, then
// three times longer each time up to Max, each wait drawn at random
// between its half and its whole (so that many deliveries that failed
// together do not come back together); after MaxAttempts it gives up.
type Backoff struct {
	Base, Max   time.Duration
	MaxAttempts int
}

// DefaultBackoff tries for about four hours: 10s, 30s, 1.5m, 4.5m, … up to
// an hour between attempts, ten attempts in all.
var DefaultBackoff = Backoff{Base: 10 * time.Second, Max: time.Hour, MaxAttempts: 10}

// Delay is the wait after the n-th failed attempt (from 1), with jitter
// drawn from r in [0, 1).
func (b Backoff) Delay(n int, r float64) time.Duration {
	d := b.Base
	for i := 1; i < n && d < b.Max; i++ {
		d *= 3
	}
	d = min(d, b.Max)
	return d/2 + time.Duration(r*float64(d/2))
}

// Sender routes outbox events into deliveries and sends them. Several
// senders may run on one store: claims are conditional, so a delivery is
// sent by one of them at a time.
type Sender struct {
	store     Store
	compose   *Composer
	transport Sending
	log       *slog.Logger
	wake      chan struct{}

	Backoff Backoff
	// Lease is how long a claim holds; it exceeds any attempt's timeout, so
	// that only a sender that stopped loses its claim.
	Lease time.Duration
	// Poll is how often the sender looks without being woken (for retries).
	Poll time.Duration
	// Workers bounds the attempts made at once.
	Workers int
	// TakeOver makes the sender take at once the claims of senders started
	// before it, as the runner takes over their plans: with one Rewind per
	// store, they stopped. Without it, their claims wait for their lease.
	TakeOver bool
	started  time.Time
	Now      func() time.Time
	// Observe, when set, is told the outcome of every attempt ("sent",
	// "failed") with the channel's kind, for metrics.
	Observe func(kind ChannelKind, outcome string)
	// Keep is how long the outbox keeps an event whose deliveries ended;
	// the audit trail keeps what happened for good.
	Keep   time.Duration
	pruned time.Time
}

// NewSender returns a sender over store that composes with c and sends
// with t.
func NewSender(store Store, c *Composer, t Sending, log *slog.Logger) *Sender {
	return &Sender{store: store, compose: c, transport: t, log: log, wake: make(chan struct{}, 1),
		Backoff: DefaultBackoff, Lease: DefaultTimeout + 30*time.Second, Poll: 2 * time.Second, Workers: 4, Keep: 30 * 24 * time.Hour,
		Now: func() time.Time { return time.Now().UTC() }}
}

// Wake tells the sender that the outbox may hold news.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run routes and sends until ctx ends; attempts under way then still end
// and are recorded. A restart takes up what was left: unrouted events,
// queued deliveries, and claims whose lease ran out.
func (s *Sender) Run(ctx context.Context) {
	tick := time.NewTicker(s.Poll)
	defer tick.Stop()
	for {
		s.Round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-tick.C:
		}
	}
}

// batch is how many events or deliveries one round takes at most.
const batch = 32

// Round routes the unrouted events and sends what is due, until nothing
// is left or ctx ends.
func (s *Sender) Round(ctx context.Context) {
	for ctx.Err() == nil {
		routed, err := s.route(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Error("route notifications", "err", err)
		}
		sent, err := s.sendDue(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Error("send notifications", "err", err)
		}
		if routed < batch && sent < batch {
			s.prune(ctx)
			return
		}
	}
}

// prune deletes, once an hour, the outbox's events older than Keep
// whose deliveries ended.
func (s *Sender) prune(ctx context.Context) {
	now := s.Now()
	if s.Keep <= 0 || now.Sub(s.pruned) < time.Hour {
		return
	}
	s.pruned = now
	if n, err := s.store.PruneOutbox(ctx, now.Add(-s.Keep)); err != nil {
		s.log.Error("prune the outbox", "err", err)
	} else if n > 0 {
		s.log.Info("pruned the outbox", "events", n)
	}
}

// route turns unrouted events into deliveries by the rules.
func (s *Sender) route(ctx context.Context) (int, error) {
	evs, err := s.store.UnroutedEvents(ctx, batch)
	if err != nil || len(evs) == 0 {
		return 0, err
	}
	rules, err := s.store.Rules(ctx, 0)
	if err != nil {
		return 0, err
	}
	channels := map[int64]*Channel{}
	for _, ev := range evs {
		ds, err := s.deliveries(ctx, ev, rules, channels)
		if err != nil {
			return 0, fmt.Errorf("route event %d: %w", ev.ID, err)
		}
		if err := s.store.Route(ctx, ev.ID, ds); err != nil && rewind.ErrorCode(err) != rewind.ECONFLICT {
			return 0, err
		}
	}
	return len(evs), nil
}

// deliveries are the messages the rules make of ev: one per channel, and
// one per subscriber.
func (s *Sender) deliveries(ctx context.Context, ev Event, rules []Rule, channels map[int64]*Channel) ([]Delivery, error) {
	var workflows []int64
	requester := ""
	switch {
	case ev.RequestID != 0:
		r, err := s.store.Request(ctx, ev.RequestID)
		if err != nil {
			return nil, err
		}
		requester = r.Requester
		if workflows, err = s.store.RequestWorkflows(ctx, ev.RequestID); err != nil {
			return nil, err
		}
	case ev.ReleaseID != 0:
		rel, err := s.store.Release(ctx, ev.ReleaseID)
		if err != nil {
			return nil, err
		}
		workflows = []int64{rel.WorkflowID}
	}
	var out []Delivery
	for _, r := range rules {
		if !r.Routes(ev.Kind) || (r.EnvironmentID != 0 && r.EnvironmentID != ev.EnvironmentID) ||
			(r.WorkflowID != 0 && !slices.Contains(workflows, r.WorkflowID)) {
			continue
		}
		ch, ok := channels[r.ChannelID]
		if !ok {
			c, err := s.store.Channel(ctx, r.ChannelID)
			if err != nil && rewind.ErrorCode(err) != rewind.ENOTFOUND {
				return nil, err
			}
			channels[r.ChannelID], ch = c, c
		}
		if ch == nil || !ch.Enabled {
			continue
		}
		d := Delivery{ChannelID: ch.ID, NextAt: s.Now()}
		if r.UserID != 0 {
			u, err := s.store.UserByID(ctx, r.UserID)
			if err != nil || u.Email == "" || ch.Kind != Email || !u.RoleIn(ev.EnvironmentID).Allows(rewind.RoleViewer) {
				continue // gone, no address, not an e-mail channel, or not theirs to read
			}
			if (r.MineOnly && requester != u.Username) || (ev.Kind == EventPending && requester == u.Username) {
				continue // not theirs, or their own request waiting for others
			}
			d.Recipient, d.Locale = u.Email, r.Locale
		}
		if !slices.ContainsFunc(out, func(o Delivery) bool { return o.ChannelID == d.ChannelID && o.Recipient == d.Recipient }) {
			out = append(out, d)
		}
	}
	return out, nil
}

// sendDue claims the deliveries that are due and sends them, Workers at a time.
func (s *Sender) sendDue(ctx context.Context) (int, error) {
	now := s.Now()
	if s.started.IsZero() {
		s.started = now
	}
	var takeBefore time.Time
	if s.TakeOver {
		takeBefore = s.started // every attempt begun before this sender started
	}
	claims, err := s.store.Claim(ctx, now, now.Add(s.Lease), takeBefore, batch)
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(s.Workers, 1))
	for _, c := range claims {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			// An attempt begun ends and is recorded, even when Rewind stops.
			s.attempt(context.WithoutCancel(ctx), c)
		}()
	}
	wg.Wait()
	return len(claims), err
}

// attempt sends claim c once and records how it went.
func (s *Sender) attempt(ctx context.Context, c Claim) {
	d := c.Delivery
	ch, err := s.store.Channel(ctx, d.ChannelID)
	if err != nil {
		s.finish(ctx, c, nil, fmt.Errorf("read channel: %w", err))
		return
	}
	if !ch.Enabled {
		s.finish(ctx, c, ch, permanent("The channel is off."))
		return
	}
	ev, err := s.store.Event(ctx, d.EventID)
	if err != nil {
		s.finish(ctx, c, ch, err)
		return
	}
	locale := d.Locale
	if locale == "" {
		locale = ch.Locale
	}
	m, err := s.compose.Compose(ctx, *ev, locale)
	if err != nil {
		s.finish(ctx, c, ch, err)
		return
	}
	if c.Repeat {
		m.Note = i18n.For(locale).T("Rewind stopped while it was sending this message before; you may have received it already.")
	}
	env := Envelope{DeliveryID: d.ID, EventID: d.EventID, Attempt: c.Attempt}
	if d.Recipient != "" {
		env.Recipients = []string{d.Recipient}
	}
	ctx, cancel := context.WithTimeout(ctx, s.Lease-10*time.Second)
	defer cancel()
	s.finish(ctx, c, ch, s.transport.Send(ctx, ch, m, env))
}

// finish records the end of attempt c: sent when err is nil; else tried
// again after the backoff, unless the failure is permanent or the bound is
// reached.
func (s *Sender) finish(ctx context.Context, c Claim, ch *Channel, err error) {
	ctx = context.WithoutCancel(ctx)
	if s.Observe != nil && ch != nil {
		outcome := "sent"
		if err != nil {
			outcome = "failed"
		}
		s.Observe(ch.Kind, outcome)
	}
	if err == nil {
		if ferr := s.store.Finish(ctx, c, true, "", nil); ferr != nil {
			s.log.Error("record sent notification", "delivery", c.Delivery.ID, "err", ferr)
		}
		return
	}
	var se *SendError
	text, retry := "", (*time.Time)(nil)
	if errors.As(err, &se) {
		text = se.Msg
		if n := c.Attempt - c.Delivery.AttemptsBefore; !se.Permanent && n < s.Backoff.MaxAttempts {
			at := s.Now().Add(max(s.Backoff.Delay(n, rand.Float64()), se.RetryAfter))
			retry = &at
		}
	} else {
		text = "Internal error: " + rewind.ErrorMessage(err)
		s.log.Error("notification", "delivery", c.Delivery.ID, "err", err)
	}
	kind := ChannelKind("")
	if ch != nil {
		kind = ch.Kind
	}
	s.log.Warn("notification not sent", "delivery", c.Delivery.ID, "channel", c.Delivery.ChannelID, "kind", kind,
		"attempt", c.Attempt, "retry", retry != nil, "err", text)
	if ferr := s.store.Finish(ctx, c, false, text, retry); ferr != nil {
		s.log.Error("record failed notification", "delivery", c.Delivery.ID, "err", ferr)
	}
}
