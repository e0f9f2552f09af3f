// Package sqlite is Rewind's history store: users, environments, clusters,
// targets, versions, rollback requests, approvals and audit events, kept in one
// SQLite file (modernc.org/sqlite).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver

	"github.com/rewindhq/rewind/db"
	"github.com/rewindhq/rewind/internal/rewind"
)

// Sealer encrypts credentials before they are stored.
type Sealer interface {
	Seal(plain []byte) ([]byte, error)
	Open(sealed []byte) ([]byte, error)
}

// Store is the history store.
type Store struct {
	db   *sql.DB
	box  Sealer
	path string
	now  func() time.Time

	// The transactions that wrote to the outbox, and who is told when
	// they commit (see notice).
	wakeMu   sync.Mutex
	wakeTx   map[*sql.Tx]bool
	onNotice func()
}

// urlValues are the connection settings of every store connection:
// busy_timeout first, then WAL and foreign keys.
func urlValues() url.Values {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	return q
}

// Open opens (creating if needed) the store at path, runs SQLite's quick
// integrity check (a damaged store gives a *DamagedError and is left as it
// is) and applies migrations.
func Open(ctx context.Context, path string, box Sealer) (*Store, error) {
	sqlDB, err := openDB(ctx, path, true)
	if err != nil {
		return nil, err
	}
	s := &Store{db: sqlDB, box: box, path: path, now: func() time.Time { return time.Now().UTC() }, wakeTx: map[*sql.Tx]bool{}}
	if err := s.QuickCheck(ctx); err != nil {
		sqlDB.Close()
		return nil, err
	}
	if _, err := db.Migrate(ctx, sqlDB); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("migrate store %s: %w", path, damaged(path, err))
	}
	return s, nil
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the store answers.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
}

// DB exposes the underlying database for adapters that keep their own tables.
func (s *Store) DB() *sql.DB { return s.db }

// inTx runs fn in a transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		s.committed(tx, false)
		return err
	}
	err = tx.Commit()
	s.committed(tx, err == nil)
	return err
}

const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

func fmtTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func fmtTimePtr(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return fmtTime(*t)
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

func parseTimePtr(s sql.NullString) *time.Time {
	if !s.Valid {
		return nil
	}
	t := parseTime(s.String)
	return &t
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func notFound(what string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return rewind.Errorf(rewind.ENOTFOUND, "%s not found.", what)
	}
	return err
}
