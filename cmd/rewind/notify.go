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

// startSender runs the notification sender until ctx ends: it routes the
// outbox's events by the rules and sends them, woken by every commit that
// writes to the outbox. The returned channel closes when it has stopped
// and recorded the attempts under way.
func startSender(ctx context.Context, store *sqlite.Store, configs web.ConfigBackend, externalURL string, log *slog.Logger) <-chan struct{} {
	host, _ := os.Hostname()
	if u, err := url.Parse(externalURL); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	composer := &notify.Composer{Facts: store, ExternalURL: externalURL}
	if configs != nil {
		composer.Formats = configs
	}
	sender := notify.NewSender(store, composer, notify.NewTransport(host), log.With("component", "notify"))
	sender.TakeOver = true // one Rewind per store: claims older than this start were left by a stop
	sender.Observe = func(kind notify.ChannelKind, outcome string) {
		metrics.NotificationDelivered(string(kind), outcome == "sent")
	}
	store.OnNotice(sender.Wake)
	done := make(chan struct{})
	go func() { defer close(done); sender.Run(ctx) }()
	return done
}
