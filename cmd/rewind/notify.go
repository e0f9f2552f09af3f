package main

import (
	"context"
	"log/slog"
	"net/url"
	"os"

	"github.com/rewindhq/rewind/internal/metrics"
	"github.com/rewindhq/rewind/internal/notify"
	"github.com/rewindhq/rewind/internal/sqlite"
	"github.com/rewindhq/rewind/web"
)

// senders makes the notification sender of each term this replica leads:
// it routes the outbox's events by the rules and sends them, woken by every
// commit that writes to the outbox, at any replica.
type senders struct {
	store   *sqlite.Store
	compose *notify.Composer
	send    notify.Sending
	log     *slog.Logger
	cur     current[notify.Sender]
}

func newSenders(store *sqlite.Store, configs web.ConfigBackend, externalURL string, log *slog.Logger) *senders {
	host, _ := os.Hostname()
	if u, err := url.Parse(externalURL); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	composer := &notify.Composer{Facts: store, ExternalURL: externalURL}
	if configs != nil {
		composer.Formats = configs
	}
	return &senders{store: store, compose: composer, send: notify.NewTransport(host), log: log.With("component", "notify")}
}

// run sends until ctx ends (the term ends), then returns once the attempts
// under way are recorded.
func (s *senders) run(ctx context.Context) {
	sender := notify.NewSender(s.store, s.compose, s.send, s.log)
	// The leader before this one stopped before this term began: its
	// claims are taken over at once, as the runner takes over its plans.
	sender.TakeOver = true
	sender.Observe = func(kind notify.ChannelKind, outcome string) {
		metrics.NotificationDelivered(string(kind), outcome == "sent")
	}
	s.cur.set(sender)
	sender.Run(ctx)
	s.cur.set(nil)
}

// wake wakes the sender of this term, if this replica leads.
func (s *senders) wake() {
	if sender := s.cur.get(); sender != nil {
		sender.Wake()
	}
}
