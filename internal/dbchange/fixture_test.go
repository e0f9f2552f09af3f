package dbchange

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // the pgx database/sql driver

	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/secret"
	"github.com/rewindhq/rewind/internal/sqlite"
)

var engines = []string{rewind.EnginePostgres, rewind.EngineMySQL, rewind.EngineSQLite}

// adminDSN is the server each test makes its own database on.
func adminDSN(engine string) string {
	switch engine {
	case rewind.EngineMySQL:
		if v := os.Getenv("REWIND_TEST_MYSQL_DSN"); v != "" {
			return v
		}
		return "root@tcp(127.0.0.1:3306)/"
	case rewind.EnginePostgres:
		if v := os.Getenv("REWIND_TEST_POSTGRES_DSN"); v != "" {
			return v
		}
		return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	return ""
}

var drivers = map[string]string{rewind.EngineMySQL: "mysql", rewind.EnginePostgres: "pgx", rewind.EngineSQLite: "sqlite"}

func rawOpen(tb testing.TB, engine, dsn string) *sql.DB {
	tb.Helper()
	db, err := sql.Open(drivers[engine], dsn)
	if err != nil {
		tb.Fatalf("open %s: %v", engine, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// newDatabase creates an empty database (MariaDB/PostgreSQL: a database
// named rewind_dbchange_<random>, dropped at the end; SQLite: a file in a
// temporary folder) and returns its DSN and a plain connection to it.
func newDatabase(tb testing.TB, engine string) (string, *sql.DB) {
	tb.Helper()
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	name := "rewind_dbchange_" + hex.EncodeToString(b)
	var dsn string
	switch engine {
	case rewind.EngineMySQL:
		admin := rawOpen(tb, engine, adminDSN(engine))
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4"); err != nil {
			tb.Fatalf("create MariaDB database (is MariaDB running at %s?): %v", adminDSN(engine), err)
		}
		tb.Cleanup(func() { admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name) })
		cfg, err := mysql.ParseDSN(adminDSN(engine))
		if err != nil {
			tb.Fatal(err)
		}
		cfg.DBName = name
		dsn = cfg.FormatDSN()
	case rewind.EnginePostgres:
		admin := rawOpen(tb, engine, adminDSN(engine))
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
			tb.Fatalf("create PostgreSQL database (is PostgreSQL running at %s?): %v", adminDSN(engine), err)
		}
		tb.Cleanup(func() { admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
		u, err := url.Parse(adminDSN(engine))
		if err != nil {
			tb.Fatal(err)
		}
		u.Path = "/" + name
		dsn = u.String()
	case rewind.EngineSQLite:
		dsn = filepath.Join(tb.TempDir(), "target.db")
	}
	raw := rawOpen(tb, engine, dsn)
	if engine == rewind.EngineSQLite {
		raw.SetMaxOpenConns(1)
		if _, err := raw.ExecContext(ctx, "PRAGMA user_version = 1"); err != nil {
			tb.Fatal(err)
		}
	}
	return dsn, raw
}

// fixture is a registered database with its target, a store to record in
// and the Service under test.
type fixture struct {
	engine string
	raw    *sql.DB
	store  *sqlite.Store
	svc    *Service
	db     *rewind.Database
	target *rewind.Target
}

func newFixture(tb testing.TB, engine string, opt Options) *fixture {
	tb.Helper()
	ctx := context.Background()
	dsn, raw := newDatabase(tb, engine)
	box, err := secret.NewBox(make([]byte, 32))
	if err != nil {
		tb.Fatal(err)
	}
	store, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "rewind.db"), box)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	env := &rewind.Environment{Name: "prod"}
	if err := store.SaveEnvironment(ctx, env); err != nil {
		tb.Fatal(err)
	}
	d := &rewind.Database{Name: "shop", EnvironmentID: env.ID, Engine: engine, DSN: dsn}
	if err := store.SaveDatabase(ctx, d); err != nil {
		tb.Fatal(err)
	}
	target, err := store.DatabaseTarget(ctx, d.ID)
	if err != nil {
		tb.Fatal(err)
	}
	svc := New(store, opt, slog.New(slog.NewTextHandler(io.Discard, nil)))
	tb.Cleanup(func() { svc.Close() })
	f := &fixture{engine: engine, raw: raw, store: store, svc: svc, db: d, target: target}
	f.exec(tb, schemas[engine]...)
	return f
}

var schemas = map[string][]string{
	rewind.EnginePostgres: {
		`CREATE TABLE items (region text NOT NULL, id int NOT NULL, name text, price numeric(10,2), data bytea, doc jsonb, born date, PRIMARY KEY (region, id))`,
		`INSERT INTO items VALUES ('eu', 1, 'Zoë ''q'' "café"', 1.50, '\x00ff', '{"a": [1, null]}', '2024-02-29'),
			('eu', 2, NULL, NULL, NULL, NULL, NULL), ('us', 1, 'x; -- not a comment', 2.00, '\x', '[]', '1999-12-31')`,
		`CREATE TABLE events (id serial PRIMARY KEY, note text)`,
		`INSERT INTO events (note) VALUES ('seed')`,
	},
	rewind.EngineMySQL: {
		`CREATE TABLE items (region VARCHAR(10) NOT NULL, id INT NOT NULL, name VARCHAR(50), price DECIMAL(10,2), data VARBINARY(10),
			doc JSON, born DATE, PRIMARY KEY (region, id)) ENGINE=InnoDB`,
		`INSERT INTO items VALUES ('eu', 1, 'Zoë ''q'' "café"', 1.50, x'00ff', '{"a": [1, null]}', '2024-02-29'),
			('eu', 2, NULL, NULL, NULL, NULL, NULL), ('us', 1, 'x; -- not a comment', 2.00, x'', '[]', '1999-12-31')`,
		`CREATE TABLE events (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(20)) ENGINE=InnoDB`,
		`INSERT INTO events (note) VALUES ('seed')`,
	},
	rewind.EngineSQLite: {
		`CREATE TABLE items (region TEXT NOT NULL, id INTEGER NOT NULL, name TEXT, price TEXT, data BLOB, doc TEXT, born DATE, PRIMARY KEY (region, id))`,
		`INSERT INTO items VALUES ('eu', 1, 'Zoë ''q'' "café"', '1.50', x'00ff', '{"a": [1, null]}', '2024-02-29'),
			('eu', 2, NULL, NULL, NULL, NULL, NULL), ('us', 1, 'x; -- not a comment', '2.00', x'', '[]', '1999-12-31')`,
		`CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, note TEXT)`,
		`INSERT INTO events (note) VALUES ('seed')`,
	},
}

var dumps = map[string][]string{
	rewind.EnginePostgres: {"SELECT i::text FROM items i ORDER BY region, id", "SELECT e::text FROM events e ORDER BY id"},
	rewind.EngineMySQL: {
		`SELECT CONCAT_WS('|', region, id, IFNULL(name, 'NULL'), IFNULL(price, 'NULL'), IFNULL(HEX(data), 'NULL'), IFNULL(doc, 'NULL'), IFNULL(born, 'NULL'))
			FROM items ORDER BY region, id`,
		`SELECT CONCAT_WS('|', id, IFNULL(note, 'NULL')) FROM events ORDER BY id`,
	},
	rewind.EngineSQLite: {
		`SELECT quote(region) || '|' || quote(id) || '|' || quote(name) || '|' || quote(price) || '|' || quote(data) || '|' || quote(doc) || '|' || quote(born)
			FROM items ORDER BY region, id`,
		`SELECT quote(id) || '|' || quote(note) FROM events ORDER BY id`,
	},
}

func (f *fixture) exec(tb testing.TB, stmts ...string) {
	tb.Helper()
	for _, s := range stmts {
		if _, err := f.raw.ExecContext(context.Background(), s); err != nil {
			tb.Fatalf("setup %q: %v", s, err)
		}
	}
}

// dump returns the rows of both tables as text.
func (f *fixture) dump(tb testing.TB) []string {
	tb.Helper()
	var out []string
	for _, q := range dumps[f.engine] {
		rows, err := f.raw.QueryContext(context.Background(), q)
		if err != nil {
			tb.Fatalf("dump: %v", err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				tb.Fatal(err)
			}
			out = append(out, s)
		}
		rows.Close()
	}
	return out
}

// submit stores an approved request carrying p and claims it as the runner
// would (approved → running).
func (f *fixture) submit(tb testing.TB, p rewind.SQLRequest) *rewind.Request {
	tb.Helper()
	ctx := context.Background()
	payload, err := p.Encode()
	if err != nil {
		tb.Fatal(err)
	}
	r := &rewind.Request{Requester: "otto", Reason: "test " + p.Kind, Steps: []rewind.Step{{TargetID: f.target.ID, Payload: payload}}}
	if err := f.store.CreateRequest(ctx, r, rewind.AuditEvent{Actor: "otto", Action: rewind.ActionRequest}); err != nil {
		tb.Fatal(err)
	}
	if _, err := f.store.Move(ctx, r.ID, []rewind.State{rewind.StateApproved}, rewind.StateRunning, "", nil); err != nil {
		tb.Fatal(err)
	}
	if _, err := f.store.MoveStep(ctx, r.First().ID, []rewind.StepState{rewind.StepWaiting}, rewind.StepRunning, "", nil); err != nil {
		tb.Fatal(err)
	}
	r, err = f.store.Request(ctx, r.ID)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// run submits p, executes it and records the end as the runner would.
func (f *fixture) run(tb testing.TB, p rewind.SQLRequest) (*rewind.Request, string, error) {
	tb.Helper()
	ctx := context.Background()
	r := f.submit(tb, p)
	outcome, err := f.svc.Execute(ctx, r, r.First(), f.target, nil, func(string) {})
	state, step := rewind.StateSucceeded, rewind.StepSucceeded
	if err != nil {
		state, step = rewind.StateFailed, rewind.StepFailed
	}
	if _, merr := f.store.MoveStep(ctx, r.First().ID, []rewind.StepState{rewind.StepRunning}, step, outcome, nil); merr != nil {
		tb.Fatal(merr)
	}
	r, merr := f.store.Move(ctx, r.ID, []rewind.State{rewind.StateRunning}, state, outcome, nil)
	if merr != nil {
		tb.Fatal(merr)
	}
	return r, outcome, err
}
