package db

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"
)

// TestMigrate checks that migrations apply in order on a new store, that a
// second run applies nothing, that a store lacking the last one gets it, and
// that a store from a newer Rewind is refused.
func TestMigrate(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		already int // migrations applied before, in order
		want    int
	}{
		{"new store", 0, len(ms)},
		{"up to date", len(ms), 0},
		{"lacks the last", len(ms) - 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "m.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.ExecContext(ctx, `CREATE TABLE schema_migrations (number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)`); err != nil {
				t.Fatal(err)
			}
			for _, m := range ms[:tc.already] {
				if err := apply(ctx, db, m); err != nil {
					t.Fatal(err)
				}
			}
			got, err := Migrate(ctx, db)
			if err != nil || got != tc.want {
				t.Fatalf("Migrate applied %d (%v), want %d", got, err, tc.want)
			}
			var n int
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(ms) {
				t.Errorf("%d migrations recorded (%v), want %d", n, err, len(ms))
			}
		})
	}
	t.Run("newer store", func(t *testing.T) {
		ctx := context.Background()
		db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "m.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations (number, name) VALUES (999, 'future')`); err != nil {
			t.Fatal(err)
		}
		if _, err := Migrate(ctx, db); err == nil {
			t.Error("a store from a newer Rewind was accepted")
		}
	})
}
