package sqlchange

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// The servers the tests use; each test makes its own database on them.
func adminDSN(engine Engine) string {
	switch engine {
	case MySQL:
		if v := os.Getenv("REWIND_TEST_MYSQL_DSN"); v != "" {
			return v
		}
		return "root@tcp(127.0.0.1:3306)/"
	case Postgres:
		if v := os.Getenv("REWIND_TEST_POSTGRES_DSN"); v != "" {
			return v
		}
		return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	return ""
}

var engines = []Engine{Postgres, MySQL, SQLite}

func randomName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// rawOpen opens dsn with the plain driver, for setting up and dumping.
func rawOpen(tb testing.TB, engine Engine, dsn string) *sql.DB {
	tb.Helper()
	driver := map[Engine]string{MySQL: "mysql", Postgres: "pgx", SQLite: "sqlite"}[engine]
	db, err := sql.Open(driver, dsn)
	if err != nil {
		tb.Fatalf("open %s: %v", engine, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// testTarget is a fresh, empty database for one test.
type testTarget struct {
	engine Engine
	dsn    string
	db     *DB     // the adapter under test
	raw    *sql.DB // plain driver, for setup and dumps
}

// newTarget creates a database (MariaDB/PostgreSQL: CREATE DATABASE
// rewind_test_<random>; SQLite: a file in t.TempDir()) that is dropped
// when the test ends.
func newTarget(tb testing.TB, engine Engine) *testTarget {
	tb.Helper()
	ctx := context.Background()
	name := randomName("rewind_test_")
	var dsn string
	switch engine {
	case MySQL:
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
		// A session time zone other than UTC, so that TIMESTAMP values
		// prove they survive.
		cfg.Params = map[string]string{"time_zone": "'+05:30'"}
		dsn = cfg.FormatDSN()
	case Postgres:
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
		q := u.Query()
		q.Set("timezone", "America/New_York")
		u.RawQuery = q.Encode()
		dsn = u.String()
	case SQLite:
		dsn = filepath.Join(tb.TempDir(), "target.db")
	}
	raw := rawOpen(tb, engine, dsn)
	if engine == SQLite {
		raw.SetMaxOpenConns(1)
		if _, err := raw.ExecContext(ctx, "PRAGMA user_version = 1"); err != nil {
			tb.Fatal(err)
		}
	}
	db, err := Open(engine, dsn)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	if engine == SQLite {
		tb.Cleanup(func() { raw.Close() })
	}
	return &testTarget{engine: engine, dsn: dsn, db: db, raw: raw}
}

// exec runs setup statements on the plain driver.
func (tt *testTarget) exec(tb testing.TB, stmts ...string) {
	tb.Helper()
	for _, s := range stmts {
		if _, err := tt.raw.ExecContext(context.Background(), s); err != nil {
			tb.Fatalf("setup %q: %v", s, err)
		}
	}
}

// dump returns every row of query as text, each value shown exactly:
// the raw bytes the server sends, NULL as NULL.
func (tt *testTarget) dump(tb testing.TB, query string) []string {
	tb.Helper()
	rows, err := tt.raw.QueryContext(context.Background(), query)
	if err != nil {
		tb.Fatalf("dump %q: %v", query, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			tb.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			if v == nil {
				parts[i] = "NULL"
			} else {
				parts[i] = "'" + string(v) + "'"
			}
		}
		out = append(out, strings.Join(parts, " | "))
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// split is Split that fails the test on error.
func split(tb testing.TB, engine Engine, sql string) []Statement {
	tb.Helper()
	stmts, err := Split(engine, sql)
	if err != nil {
		tb.Fatalf("Split: %v", err)
	}
	return stmts
}

func statuses(results []StatementResult) []Status {
	out := make([]Status, len(results))
	for i, r := range results {
		out[i] = r.Status
	}
	return out
}
