// Package sqlite is Rewind's history store: users, environments, clusters,
// targets, versions, rollback requests, approvals and audit events, kept in one
// SQLite file (modernc.org/sqlite), or in PostgreSQL for several replicas.
// The same SQL serves both engines: internal/postgres runs it on PostgreSQL
// (placeholders, LIKE, booleans, one writing transaction at a time), and the
// SQL sticks to what both understand: RETURNING id rather than
// LastInsertId, ON CONFLICT rather than INSERT OR IGNORE, no SQLite-only
// functions (see dialect.go for the few places that differ).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"modernc.org/sqlite" // the database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/rewindhq/rewind/db"
	"github.com/rewindhq/rewind/internal/postgres"
	"github.com/rewindhq/rewind/internal/rewind"
)

// Sealer encrypts credentials before they are stored.
type Sealer interface {
	Seal(plain []byte) ([]byte, error)
	Open(sealed []byte) ([]byte, error)
}

// Store is the history store.
type Store struct {
	db     *sql.DB
	box    Sealer
	path   string // the SQLite file; "" on PostgreSQL
	now    func() time.Time
	engine string // db.SQLite or db.Postgres

	// The transactions that wrote to the outbox, and who is told when
	// they commit (see notice).
	wakeMu   sync.Mutex
	wakeTx   map[*sql.Tx]bool
	onNotice func()
}

// urlValues are the connection settings of every SQLite connection:
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

// Open opens the store named by store, a SQLite file's path (created if
// needed) or a postgres:// URL, and applies its migrations. A SQLite file
// first passes SQLite's quick integrity check: a damaged one gives a
// *DamagedError and is left as it is.
func Open(ctx context.Context, store string, box Sealer) (*Store, error) {
	if postgres.IsURL(store) {
		return openPostgres(ctx, store, box)
	}
	path := store
	sqlDB, err := openDB(ctx, path, true)
	if err != nil {
		return nil, err
	}
	s := newStore(sqlDB, box, db.SQLite)
	s.path = path
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

// openPostgres opens the PostgreSQL store at url and applies migrations.
func openPostgres(ctx context.Context, url string, box Sealer) (*Store, error) {
	sqlDB, err := postgres.Open(url)
	if err != nil {
		return nil, err
	}
	sqlDB.SetMaxOpenConns(10)
	sqlDB.SetMaxIdleConns(4)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	fail := func(what string, err error) (*Store, error) {
		sqlDB.Close()
		return nil, fmt.Errorf("%s PostgreSQL store: %s", what, postgres.Redact(err.Error(), url))
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return fail("open", err)
	}
	if _, err := db.MigratePostgres(ctx, sqlDB); err != nil {
		var newer *db.ErrNewerStore
		if errors.As(err, &newer) {
			sqlDB.Close()
			return nil, err
		}
		return fail("migrate", err)
	}
	return newStore(sqlDB, box, db.Postgres), nil
}

func newStore(sqlDB *sql.DB, box Sealer, engine string) *Store {
	return &Store{db: sqlDB, box: box, now: func() time.Time { return time.Now().UTC() }, engine: engine, wakeTx: map[*sql.Tx]bool{}}
}

// Engine names the store's engine: db.SQLite or db.Postgres.
func (s *Store) Engine() string { return s.engine }

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the store answers.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
}

// DB exposes the underlying database for adapters that keep their own tables.
func (s *Store) DB() *sql.DB { return s.db }

// inTx runs fn in a transaction, committing when it returns nil. Writing
// transactions run one at a time on both engines (SQLite's BEGIN
// IMMEDIATE, PostgreSQL's writer lock); one that PostgreSQL still ends for
// a deadlock with a single statement runs again.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.tryTx(ctx, fn)
		if attempt < 3 && postgres.IsRetryable(err) {
			continue
		}
		return err
	}
}

func (s *Store) tryTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
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

// insert runs an INSERT and returns the ID of the row it added.
func insert(ctx context.Context, q querier, query string, args ...any) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, query+` RETURNING id`, args...).Scan(&id)
	return id, err
}

// isUnique reports whether err is the refusal of a duplicate key, by either engine.
func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return postgres.IsUniqueViolation(err)
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
