// Package db holds Rewind's numbered SQL migrations and applies them. Each
// engine of the history store has its own folder of migrations with the
// same numbers and names: migrations/ for SQLite, migrations_postgres/ for
// PostgreSQL.
package db

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql migrations_postgres/*.sql
var migrations embed.FS

// The engines of the history store.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// folders holds each engine's migrations.
var folders = map[string]string{SQLite: "migrations", Postgres: "migrations_postgres"}

// Migration is one numbered schema change.
type Migration struct {
	Number int
	Name   string
	SQL    string
}

// Migrations returns SQLite's migrations in order.
func Migrations() ([]Migration, error) { return EngineMigrations(SQLite) }

// EngineMigrations returns the migrations of engine (SQLite or Postgres) in order.
func EngineMigrations(engine string) ([]Migration, error) {
	folder, ok := folders[engine]
	if !ok {
		return nil, fmt.Errorf("no migrations for engine %q", engine)
	}
	names, err := fs.Glob(migrations, folder+"/*.sql")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, name := range names {
		base := strings.TrimPrefix(name, folder+"/")
		num, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number: %w", base, err)
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Number: num, Name: base, SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	for i, m := range out {
		if m.Number != i+1 {
			return nil, fmt.Errorf("migration %s: expected number %d", m.Name, i+1)
		}
	}
	return out, nil
}

// ErrNewerStore is returned when the store was written by a newer Rewind.
type ErrNewerStore struct{ Have, Know int }

func (e *ErrNewerStore) Error() string {
	return fmt.Sprintf("the history store is at schema version %d, but this Rewind knows only up to %d: it was written by a newer Rewind; run that version or restore a backup (nothing was changed)", e.Have, e.Know)
}

// Migrate applies the migrations that the SQLite store db lacks, each in
// its own transaction, and returns how many it applied. A store from a
// newer Rewind is refused.
func Migrate(ctx context.Context, db *sql.DB) (int, error) {
	ms, err := Migrations()
	if err != nil {
		return 0, err
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)`); err != nil {
		return 0, fmt.Errorf("create schema_migrations: %w", err)
	}
	var have int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(number), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if have > len(ms) {
		return 0, &ErrNewerStore{Have: have, Know: len(ms)}
	}
	applied := 0
	for _, m := range ms[have:] {
		if err := apply(ctx, db, m); err != nil {
			return applied, err
		}
		applied++
	}
	return applied, nil
}

// apply runs one migration in a transaction on one connection with foreign
// keys off, so that a migration may rebuild a table that others reference
// (SQLite's documented twelve-step procedure); before it commits, every
// foreign key must hold again.
func apply(ctx context.Context, db *sql.DB, m Migration) (err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migration %s: %w", m.Name, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
		return fmt.Errorf("migration %s: %w", m.Name, err)
	}
	defer func() {
		if _, ferr := conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA foreign_keys = ON`); ferr != nil && err == nil {
			err = fmt.Errorf("migration %s: %w", m.Name, ferr)
		}
	}()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %s: %w", m.Name, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("migration %s: %w", m.Name, err)
	}
	rows, err := tx.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return fmt.Errorf("migration %s: %w", m.Name, err)
	}
	broken := rows.Next()
	rows.Close()
	if broken {
		return fmt.Errorf("migration %s: it leaves foreign keys that point nowhere", m.Name)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (number, name) VALUES (?, ?)`, m.Number, m.Name); err != nil {
		return fmt.Errorf("migration %s: %w", m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %s: %w", m.Name, err)
	}
	return nil
}

// MigratePostgres applies the migrations that the PostgreSQL store db
// lacks, each in its own transaction, and returns how many it applied. It
// expects db from internal/postgres, whose transactions hold the store's
// writer lock: replicas starting together apply each migration once, the
// others finding it applied. A store from a newer Rewind is refused.
func MigratePostgres(ctx context.Context, db *sql.DB) (int, error) {
	ms, err := EngineMigrations(Postgres)
	if err != nil {
		return 0, err
	}
	applied := 0
	for _, m := range ms {
		done, err := applyPostgres(ctx, db, m, len(ms))
		if err != nil {
			return applied, err
		}
		if done {
			applied++
		}
	}
	if applied == 0 {
		// Nothing to do; still refuse a store from a newer Rewind.
		var have int
		if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(number), 0) FROM schema_migrations`).Scan(&have); err != nil {
			return 0, fmt.Errorf("read schema version: %w", err)
		}
		if have > len(ms) {
			return 0, &ErrNewerStore{Have: have, Know: len(ms)}
		}
	}
	return applied, nil
}

// applyPostgres applies m in one transaction unless the store has it
// already; done says whether it did.
func applyPostgres(ctx context.Context, db *sql.DB, m Migration, know int) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migration %s: %w", m.Name, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (number BIGINT PRIMARY KEY, name TEXT NOT NULL,
		applied_at TEXT NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'))`); err != nil {
		return false, fmt.Errorf("create schema_migrations: %w", err)
	}
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(number), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return false, fmt.Errorf("read schema version: %w", err)
	}
	if have > know {
		return false, &ErrNewerStore{Have: have, Know: know}
	}
	if have >= m.Number {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return false, fmt.Errorf("migration %s: %w", m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (number, name) VALUES (?, ?)`, m.Number, m.Name); err != nil {
		return false, fmt.Errorf("migration %s: %w", m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migration %s: %w", m.Name, err)
	}
	return true, nil
}
