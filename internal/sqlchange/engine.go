package sqlchange

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	sqlite "modernc.org/sqlite"
)

// Engine names a database engine that Rewind can run SQL changes on.
type Engine string

// The engines.
const (
	MySQL    Engine = "mysql" // MySQL and MariaDB
	Postgres Engine = "postgres"
	SQLite   Engine = "sqlite"
)

// ErrUnknownEngine is returned for an engine name Rewind does not know.
var ErrUnknownEngine = errors.New("unknown database engine")

func (e Engine) valid() error {
	switch e {
	case MySQL, Postgres, SQLite:
		return nil
	}
	return fmt.Errorf("%w %q (want mysql, postgres or sqlite)", ErrUnknownEngine, string(e))
}

// DB is a registered database: a target that SQL changes run on.
type DB struct {
	engine   Engine
	db       *sql.DB
	password string
	file     string // SQLite: the database file, which must exist

	mu      sync.Mutex
	flavour *flavour

	// previews holds a token per preview running, at most MaxPreviews.
	previews chan struct{}
}

// flavour is what Rewind learns about a MySQL-family server on first use.
type flavour struct {
	mariaDB   bool
	returning bool // INSERT ... RETURNING (MariaDB 10.5+)
}

// Open prepares a connection pool for a database given by engine and DSN.
// It does not connect: Ping does. Each operation gets a fresh session, so no
// session setting leaks from one operation to the next.
func Open(engine Engine, dsn string) (*DB, error) {
	if err := engine.valid(); err != nil {
		return nil, err
	}
	d := &DB{engine: engine, previews: make(chan struct{}, MaxPreviews)}
	switch engine {
	case MySQL:
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return nil, &ConnectError{Engine: engine, Reason: ReasonBadDSN, Detail: "cannot parse " + RedactDSN(engine, dsn)}
		}
		d.password = cfg.Passwd
		// Values are read as text to keep them exact, and statements are
		// sent one at a time.
		cfg.ParseTime = false
		cfg.MultiStatements = false
		if cfg.Timeout == 0 {
			cfg.Timeout = 10 * time.Second
		}
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, &ConnectError{Engine: engine, Reason: ReasonBadDSN, Detail: d.scrub(err.Error())}
		}
		d.db = sql.OpenDB(conn)
	case Postgres:
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, &ConnectError{Engine: engine, Reason: ReasonBadDSN, Detail: "cannot parse " + RedactDSN(engine, dsn)}
		}
		d.password = cfg.Password
		cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
		d.db = stdlib.OpenDB(*cfg)
	case SQLite:
		d.file = sqliteFile(dsn)
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, &ConnectError{Engine: engine, Reason: ReasonBadDSN, Detail: err.Error()}
		}
		d.db = db
	}
	d.db.SetMaxIdleConns(0)
	d.db.SetMaxOpenConns(4)
	return d, nil
}

// Engine returns the database's engine.
func (d *DB) Engine() Engine { return d.engine }

// Close closes the pool.
func (d *DB) Close() error { return d.db.Close() }

// sqliteFile returns the file a SQLite DSN names, or "" for an in-memory
// database.
func sqliteFile(dsn string) string {
	path := strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		if strings.Contains(path[i:], "mode=memory") {
			return ""
		}
		path = path[:i]
	}
	if path == "" || path == ":memory:" {
		return ""
	}
	if p, err := url.PathUnescape(path); err == nil && strings.HasPrefix(dsn, "file:") {
		path = p
	}
	return path
}

// Ping connects to the database and says plainly what is wrong when it
// cannot: the error is a *ConnectError whose text never holds the password.
func (d *DB) Ping(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
	}
	conn, err := d.conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var one int
	if err := conn.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return d.connectError(err)
	}
	return nil
}

// conn returns a dedicated connection, its session prepared for Rewind.
func (d *DB) conn(ctx context.Context) (*sql.Conn, error) {
	if d.file != "" {
		if _, err := os.Stat(d.file); err != nil {
			return nil, &ConnectError{Engine: d.engine, Reason: ReasonUnknownDatabase, Detail: "database file " + d.file + " does not exist or cannot be read"}
		}
	}
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return nil, d.connectError(err)
	}
	if err := conn.PingContext(ctx); err != nil {
		conn.Close()
		return nil, d.connectError(err)
	}
	if d.engine == SQLite {
		if _, err := conn.ExecContext(ctx, "PRAGMA busy_timeout = 5000"); err != nil {
			conn.Close()
			return nil, d.connectError(err)
		}
	}
	return conn, nil
}

// mysqlFlavour tells MariaDB from MySQL, once.
func (d *DB) mysqlFlavour(ctx context.Context, conn *sql.Conn) (flavour, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.flavour != nil {
		return *d.flavour, nil
	}
	var version string
	if err := conn.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		return flavour{}, fmt.Errorf("read server version: %w", err)
	}
	f := flavour{mariaDB: strings.Contains(strings.ToLower(version), "mariadb")}
	if f.mariaDB {
		parts := strings.SplitN(version, ".", 3)
		if len(parts) >= 2 {
			major, _ := strconv.Atoi(parts[0])
			minor, _ := strconv.Atoi(parts[1])
			f.returning = major > 10 || (major == 10 && minor >= 5)
		}
	}
	d.flavour = &f
	return f, nil
}

// SQLite result codes (sqlite3.h) that Rewind tells apart.
const (
	sqliteInterrupt = 9
	sqliteCantOpen  = 14
	sqliteNotADB    = 26
)

// Reason is the plain cause of a failed connection.
type Reason string

// The reasons a connection fails.
const (
	ReasonHostUnreachable Reason = "host unreachable"
	ReasonAuthFailed      Reason = "authentication failed"
	ReasonUnknownDatabase Reason = "unknown database"
	ReasonAccessDenied    Reason = "access to the database denied"
	ReasonTimeout         Reason = "timed out"
	ReasonBadDSN          Reason = "bad connection string"
	ReasonOther           Reason = "connection failed"
)

// ConnectError says why Rewind could not reach a database. Its text never
// holds the password.
type ConnectError struct {
	Engine Engine
	Reason Reason
	// Detail is the driver's own message with the password removed.
	Detail string
}

// Error gives the reason and the driver's message, without the password.
func (e *ConnectError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("connect to %s database: %s", e.Engine, e.Reason)
	}
	return fmt.Sprintf("connect to %s database: %s: %s", e.Engine, e.Reason, e.Detail)
}

// connectError turns a driver error met while connecting into a
// *ConnectError; it leaves other errors (and a nil) alone.
func (d *DB) connectError(err error) error {
	if err == nil {
		return nil
	}
	ce := &ConnectError{Engine: d.engine, Reason: ReasonOther, Detail: d.scrub(err.Error())}
	var myErr *mysql.MySQLError
	var pgErr *pgconn.PgError
	var dnsErr *net.DNSError
	var netErr net.Error
	var liteErr *sqlite.Error
	switch {
	case errors.As(err, &myErr):
		switch myErr.Number {
		case 1045, 1698:
			ce.Reason = ReasonAuthFailed
		case 1044:
			ce.Reason = ReasonAccessDenied
		case 1049:
			ce.Reason = ReasonUnknownDatabase
		}
	case errors.As(err, &pgErr):
		switch pgErr.Code {
		case "28P01", "28000":
			ce.Reason = ReasonAuthFailed
		case "3D000":
			ce.Reason = ReasonUnknownDatabase
		}
	case errors.As(err, &dnsErr):
		ce.Reason = ReasonHostUnreachable
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		ce.Reason = ReasonHostUnreachable
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		ce.Reason = ReasonTimeout
	case errors.As(err, &liteErr):
		switch liteErr.Code() & 0xff {
		case sqliteCantOpen, sqliteNotADB:
			ce.Reason = ReasonUnknownDatabase
		}
	}
	return ce
}

// scrub removes the password from a message.
func (d *DB) scrub(msg string) string {
	if d.password == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, d.password, "***")
	if esc := url.QueryEscape(d.password); esc != d.password {
		msg = strings.ReplaceAll(msg, esc, "***")
	}
	return msg
}

// RedactDSN returns dsn with its password replaced by ***, for showing a
// registered database on a page or in an audit event.
func RedactDSN(engine Engine, dsn string) string {
	switch engine {
	case MySQL:
		return redactMySQL(dsn)
	case Postgres:
		if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
			return redactURL(dsn)
		}
		return redactKeywords(dsn)
	}
	return dsn
}

// redactMySQL masks the password in user:password@protocol(address)/db?params,
// where the user part ends at the last @ before the last /.
func redactMySQL(dsn string) string {
	slash := strings.LastIndexByte(dsn, '/')
	if slash < 0 {
		slash = len(dsn)
	}
	at := strings.LastIndexByte(dsn[:slash], '@')
	if at < 0 {
		return dsn
	}
	colon := strings.IndexByte(dsn[:at], ':')
	if colon < 0 {
		return dsn
	}
	return dsn[:colon+1] + "***" + dsn[at:]
}

// redactURL masks the password in a postgres:// URL and in its password and
// sslpassword query parameters.
func redactURL(dsn string) string {
	scheme := strings.Index(dsn, "://") + 3
	rest := dsn[scheme:]
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndexByte(rest[:end], '@'); at >= 0 {
		if colon := strings.IndexByte(rest[:at], ':'); colon >= 0 {
			rest = rest[:colon+1] + "***" + rest[at:]
		}
	}
	out := dsn[:scheme] + rest
	q := strings.IndexByte(out, '?')
	if q < 0 {
		return out
	}
	params := strings.Split(out[q+1:], "&")
	for i, kv := range params {
		k, _, _ := strings.Cut(kv, "=")
		if key, err := url.QueryUnescape(k); err == nil && (key == "password" || key == "sslpassword") {
			params[i] = k + "=***"
		}
	}
	return out[:q+1] + strings.Join(params, "&")
}

// redactKeywords masks password and sslpassword in "key=value key='v a l'"
// connection strings.
func redactKeywords(dsn string) string {
	var b strings.Builder
	i := 0
	for i < len(dsn) {
		for i < len(dsn) && (dsn[i] == ' ' || dsn[i] == '\t' || dsn[i] == '\n') {
			b.WriteByte(dsn[i])
			i++
		}
		eq := strings.IndexByte(dsn[i:], '=')
		if eq < 0 {
			b.WriteString(dsn[i:])
			break
		}
		key := strings.TrimSpace(dsn[i : i+eq])
		b.WriteString(dsn[i : i+eq+1])
		i += eq + 1
		for i < len(dsn) && dsn[i] == ' ' {
			b.WriteByte(' ')
			i++
		}
		start := i
		if i < len(dsn) && dsn[i] == '\'' {
			i++
			for i < len(dsn) && dsn[i] != '\'' {
				if dsn[i] == '\\' {
					i++
				}
				i++
			}
			i++
		} else {
			for i < len(dsn) && dsn[i] != ' ' && dsn[i] != '\t' && dsn[i] != '\n' {
				if dsn[i] == '\\' {
					i++
				}
				i++
			}
		}
		if i > len(dsn) {
			i = len(dsn)
		}
		if key == "password" || key == "sslpassword" {
			b.WriteString("***")
		} else {
			b.WriteString(dsn[start:i])
		}
	}
	return b.String()
}
