package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
)

// Channel is the name of the LISTEN/NOTIFY channel of the store in db:
// one per schema, so that stores sharing a database do not hear each other.
func Channel(ctx context.Context, db *sql.DB) (string, error) {
	var schema string
	if err := db.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return "", fmt.Errorf("store's schema: %w", err)
	}
	return "rewind:" + schema, nil
}

// Notify sends payload (at most 8000 bytes) to the listeners of channel.
// Sent in a transaction, it is delivered when that commits.
func Notify(ctx context.Context, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, channel, payload string) error {
	_, err := db.ExecContext(ctx, `SELECT pg_notify(?, ?)`, channel, payload)
	return err
}

// Listen calls fn with the payload of each notification on channel until
// ctx ends. It holds a connection of its own to the server at url and
// makes a new one when it breaks; connected is called each time it
// listens (again), for the caller to catch up on what it may have missed.
func Listen(ctx context.Context, url, channel string, log *slog.Logger, connected func(), fn func(payload string)) {
	cfg, err := Config(url)
	if err != nil {
		log.Error("listen to other replicas", "err", err)
		return
	}
	// A connection that only waits would not notice a silent network
	// failure; keepalives end it within a minute or so.
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 6}}
	cfg.DialFunc = dialer.DialContext
	backoff := time.Second
	for ctx.Err() == nil {
		err := listenOnce(ctx, cfg, channel, connected, fn)
		if ctx.Err() != nil {
			return
		}
		log.Warn("listening to other replicas stopped; trying again", "err", Redact(err.Error(), url), "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func listenOnce(ctx context.Context, cfg *pgx.ConnConfig, channel string, connected func(), fn func(string)) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	if connected != nil {
		connected()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) && ctx.Err() != nil {
				return nil
			}
			return err
		}
		fn(n.Payload)
	}
}
