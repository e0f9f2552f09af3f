// Package postgres runs Rewind's history store on PostgreSQL. Its
// database/sql connector (over pgx) takes the store's SQL as written for
// SQLite, so that one store code serves both engines: `?` placeholders
// become `$1, $2, …`, LIKE matches letters of either case as SQLite's does,
// booleans are stored as the integers 0 and 1, and every transaction that
// may write holds the store's writer lock, so that transactions run one at a
// time as they do in SQLite, across every replica. It also carries messages
// between replicas (LISTEN/NOTIFY).
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// WriterLock is the first key of the transaction-level advisory lock every
// writing transaction takes first ("rewd" in ASCII); the second is the hash
// of the store's schema, so that stores in two schemas of one database do
// not wait for each other.
const WriterLock int32 = 0x72657764

// IsURL reports whether store names a PostgreSQL store.
func IsURL(store string) bool {
	return strings.HasPrefix(store, "postgres://") || strings.HasPrefix(store, "postgresql://")
}

// Config parses a postgres:// URL into pgx's settings, with Rewind's
// application name unless the URL gives one.
func Config(url string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL store URL: %s", Redact(err.Error(), url))
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "rewind"
	}
	return cfg, nil
}

// Open returns a database/sql handle on the PostgreSQL store at url that
// runs the store's SQLite-style SQL. It does not connect yet.
func Open(url string) (*sql.DB, error) {
	cfg, err := Config(url)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(&connector{base: stdlib.GetConnector(*cfg)}), nil
}

// Redact removes the password of url from s (an error message that may
// quote the URL).
func Redact(s, url string) string {
	cfg, err := pgconn.ParseConfig(url)
	if err == nil && cfg.Password != "" {
		s = strings.ReplaceAll(s, cfg.Password, "xxxxx")
	}
	return s
}

type connector struct{ base driver.Connector }

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &conn{pg: dc.(*stdlib.Conn)}, nil
}

func (c *connector) Driver() driver.Driver { return c.base.Driver() }

// conn is a pgx connection that rewrites the store's queries.
type conn struct{ pg *stdlib.Conn }

var (
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.NamedValueChecker  = (*conn)(nil)
	_ driver.SessionResetter    = (*conn)(nil)
	_ driver.Pinger             = (*conn)(nil)
	_ driver.Conn               = (*conn)(nil)
)

func (c *conn) Close() error                           { return c.pg.Close() }
func (c *conn) Ping(ctx context.Context) error         { return c.pg.Ping(ctx) }
func (c *conn) ResetSession(ctx context.Context) error { return c.pg.ResetSession(ctx) }

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.pg.Prepare(Rewrite(query))
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.pg.PrepareContext(ctx, Rewrite(query))
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.pg.ExecContext(ctx, Rewrite(query), args)
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.pg.QueryContext(ctx, Rewrite(query), args)
}

func (c *conn) Begin() (driver.Tx, error) { return c.BeginTx(context.Background(), driver.TxOptions{}) }

// BeginTx begins a transaction; one that may write first waits for the
// store's writer lock, which it holds until it ends.
func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.pg.BeginTx(ctx, opts)
	if err != nil || opts.ReadOnly {
		return tx, err
	}
	if _, err := c.pg.Conn().Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))`, WriterLock); err != nil {
		_ = tx.Rollback()
		if pgconn.SafeToRetry(err) {
			return nil, driver.ErrBadConn
		}
		return nil, fmt.Errorf("take the store's writer lock: %w", err)
	}
	return tx, nil
}

// CheckNamedValue converts arguments as database/sql does for drivers
// without their own rules, and booleans to the integers SQLite stores.
func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	if _, ok := nv.Value.(driver.Valuer); !ok {
		v, err := driver.DefaultParameterConverter.ConvertValue(nv.Value)
		if err != nil {
			return err
		}
		nv.Value = v
	}
	if b, ok := nv.Value.(bool); ok {
		nv.Value = int64(0)
		if b {
			nv.Value = int64(1)
		}
	}
	return nil
}

var (
	rewritten  sync.Map     // query → its PostgreSQL form
	remembered atomic.Int64 // how many rewritten holds
)

// maxRemembered bounds the rewritten queries kept: a query built with
// varying text (a list of n placeholders) must not grow it without end.
const maxRemembered = 10000

// Rewrite turns a query written for SQLite into PostgreSQL's form: each `?`
// outside strings, quoted names and comments becomes $1, $2, … in order,
// and the keyword LIKE becomes ILIKE (SQLite's LIKE ignores the case of
// ASCII letters). Queries are rewritten once and remembered.
func Rewrite(query string) string {
	if q, ok := rewritten.Load(query); ok {
		return q.(string)
	}
	q := rewrite(query)
	if remembered.Load() < maxRemembered {
		if _, loaded := rewritten.LoadOrStore(query, q); !loaded {
			remembered.Add(1)
		}
	}
	return q
}

func rewrite(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			j := closing(q, i+1, c)
			b.WriteString(q[i:j])
			i = j
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				j = len(q) - i
			}
			b.WriteString(q[i : i+j])
			i += j
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			j := strings.Index(q[i+2:], "*/")
			end := len(q)
			if j >= 0 {
				end = i + 2 + j + 2
			}
			b.WriteString(q[i:end])
			i = end
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			i++
		case isWordByte(c):
			j := i
			for j < len(q) && isWordByte(q[j]) {
				j++
			}
			word := q[i:j]
			if strings.EqualFold(word, "LIKE") && (i == 0 || !isWordByte(q[i-1])) {
				word = "ILIKE"
			}
			b.WriteString(word)
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// closing returns the index just past the quote that closes the string or
// name opened before from (a doubled quote stands for itself).
func closing(q string, from int, quote byte) int {
	for i := from; i < len(q); i++ {
		if q[i] == quote {
			if i+1 < len(q) && q[i+1] == quote {
				i++
				continue
			}
			return i + 1
		}
	}
	return len(q)
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// IsUniqueViolation reports whether err is PostgreSQL's refusal of a
// duplicate key.
func IsUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// IsRetryable reports whether err ended a transaction that may simply run
// again: a deadlock or a serialization failure.
func IsRetryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}
