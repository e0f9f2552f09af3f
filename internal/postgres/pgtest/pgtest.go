// Package pgtest gives tests fresh, empty stores on the machine's
// PostgreSQL server (127.0.0.1:5432, trust; or REWIND_TEST_POSTGRES_DSN).
//
// Each test gets a schema of its own in one database kept for tests: a
// schema is as separate as a database for Rewind's store (its tables, its
// writer lock, its channel between replicas are the schema's), and it takes
// milliseconds to make where a database takes seconds.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the pgx database/sql driver
)

// Database is the database that holds the tests' schemas.
const Database = "rewind_tests"

// AdminURL is the URL of the server's maintenance database.
func AdminURL() string {
	if v := os.Getenv("REWIND_TEST_POSTGRES_DSN"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// NewStore makes an empty schema for the test and returns the URL of a
// store in it (search_path names the schema); the schema is dropped when
// the test ends.
func NewStore(tb testing.TB) string {
	tb.Helper()
	u, schema, err := Create(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := Drop(context.Background(), schema); err != nil {
			tb.Logf("drop test schema %s: %v", schema, err)
		}
	})
	return u
}

// staleAfter is the age past which a test schema is taken for one left by
// a test that did not end, and dropped.
const staleAfter = 6 * time.Hour

// Create makes an empty schema and returns the URL of a store in it and
// the schema's name (t_UNIXTIME_RANDOM). It drops stale test schemas.
func Create(ctx context.Context) (storeURL, schema string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := ensureDatabase(ctx); err != nil {
		return "", "", err
	}
	tests, err := sql.Open("pgx", databaseURL(""))
	if err != nil {
		return "", "", err
	}
	defer tests.Close()
	dropStale(ctx, tests)
	b := make([]byte, 5)
	rand.Read(b)
	schema = fmt.Sprintf("t_%d_%s", time.Now().Unix(), hex.EncodeToString(b))
	if _, err := tests.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		return "", "", fmt.Errorf("PostgreSQL for tests at %s: %w", AdminURL(), err)
	}
	return databaseURL(schema), schema, nil
}

// Drop drops a test schema and what it holds.
func Drop(ctx context.Context, schema string) error {
	tests, err := sql.Open("pgx", databaseURL(""))
	if err != nil {
		return err
	}
	defer tests.Close()
	_, err = tests.ExecContext(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`)
	return err
}

// databaseURL is the URL of the tests' database, with schema as its
// search_path when given.
func databaseURL(schema string) string {
	u, err := url.Parse(AdminURL())
	if err != nil {
		panic(fmt.Sprintf("REWIND_TEST_POSTGRES_DSN: %v", err))
	}
	u.Path = "/" + Database
	if schema != "" {
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// ensureDatabase creates the tests' database unless it exists.
func ensureDatabase(ctx context.Context) error {
	admin, err := sql.Open("pgx", AdminURL())
	if err != nil {
		return err
	}
	defer admin.Close()
	var exists bool
	if err := admin.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, Database).Scan(&exists); err != nil {
		return fmt.Errorf("PostgreSQL for tests at %s (run `make test-deps`): %w", AdminURL(), err)
	}
	if exists {
		return nil
	}
	_, err = admin.ExecContext(ctx, `CREATE DATABASE `+Database)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "42P04" || pe.Code == "23505") {
		return nil // made meanwhile by another test
	}
	return err
}

// dropStale drops the test schemas older than staleAfter.
func dropStale(ctx context.Context, tests *sql.DB) {
	rows, err := tests.QueryContext(ctx, `SELECT nspname FROM pg_namespace WHERE nspname LIKE 't\_%'`)
	if err != nil {
		return
	}
	var stale []string
	for rows.Next() {
		var name string
		if rows.Scan(&name) != nil {
			continue
		}
		parts := strings.Split(name, "_")
		if len(parts) != 3 {
			continue
		}
		if at, err := strconv.ParseInt(parts[1], 10, 64); err == nil && time.Since(time.Unix(at, 0)) > staleAfter {
			stale = append(stale, name)
		}
	}
	rows.Close()
	for _, name := range stale {
		tests.ExecContext(ctx, `DROP SCHEMA IF EXISTS `+name+` CASCADE`)
	}
}
