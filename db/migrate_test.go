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

// TestMigratePlans checks that 0006 turns each request of a store written
// before it into a plan of one step, keeping its approvals, its SQL
// execution and the rows that point at it, with foreign keys whole.
func TestMigratePlans(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "m.db")+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_migrations (number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:5] {
		if err := apply(ctx, db, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`INSERT INTO environments (id, name, required_approvals, created_at) VALUES (1, 'prod', 1, 'now')`,
		`INSERT INTO targets (id, kind, environment_id, owner_id, namespace, workload, name, created_at) VALUES (1, 'service', 1, 1, 'shop', 'Deployment', 'api', 'now')`,
		`INSERT INTO targets (id, kind, environment_id, owner_id, name, created_at) VALUES (2, 'database', 1, 1, 'shop', 'now')`,
		`INSERT INTO versions (id, target_id, number, content, hash, source, created_at) VALUES (1, 1, 1, 'a', 'a', 'observed', 'now')`,
		`INSERT INTO rollback_requests (id, target_id, version_id, state, requester, reason, expected, required_approvals, outcome, created_at, updated_at, started_at, finished_at)
			VALUES (7, 1, 1, 'succeeded', 'otto', 'bad image', '4711', 1, 'Rolled back.', 'now', 'now', 'now', 'now')`,
		`INSERT INTO approvals (request_id, approver, approve, created_at) VALUES (7, 'anna', 1, 'now')`,
		`INSERT INTO rollback_requests (id, target_id, state, requester, reason, required_approvals, payload, created_at, updated_at)
			VALUES (8, 2, 'running', 'otto', 'fix rows', 0, '{"kind":"change","sql":"UPDATE t SET a = 1"}', 'now', 'now')`,
		`INSERT INTO versions (id, target_id, number, content, hash, source, created_at, request_id) VALUES (2, 2, 1, 'UPDATE t SET a = 1', 'h', 'change', 'now', 8)`,
		`INSERT INTO sql_executions (version_id, request_id, kind, succeeded, applied, transactional, statement_count) VALUES (2, 8, 'change', 1, 1, 1, 1)`,
		`INSERT INTO idempotency_keys (actor, key, request_id, created_at) VALUES ('ci', 'k', 8, 'now')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := apply(ctx, db, ms[5]); err != nil {
		t.Fatal(err)
	}
	type step struct {
		request, target int64
		state, expected string
	}
	var got []step
	rows, err := db.QueryContext(ctx, `SELECT request_id, target_id, state, expected FROM request_steps ORDER BY request_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s step
		if err := rows.Scan(&s.request, &s.target, &s.state, &s.expected); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	rows.Close()
	want := []step{{7, 1, "succeeded", "4711"}, {8, 2, "running", ""}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("steps = %+v, want %+v", got, want)
	}
	var kinds string
	if err := db.QueryRowContext(ctx, `SELECT group_concat(kind || ':' || environment_id || ':' || state, ',') FROM (SELECT * FROM requests ORDER BY id)`).Scan(&kinds); err != nil || kinds != "rollback:1:succeeded,change:1:running" {
		t.Errorf("requests = %q (%v)", kinds, err)
	}
	var approvals, execStep int
	db.QueryRowContext(ctx, `SELECT COUNT(*) FROM approvals WHERE request_id = 7`).Scan(&approvals)
	db.QueryRowContext(ctx, `SELECT s.request_id FROM sql_executions e JOIN request_steps s ON s.id = e.step_id`).Scan(&execStep)
	if approvals != 1 || execStep != 8 {
		t.Errorf("approvals of 7 = %d, execution's request = %d; want 1 and 8", approvals, execStep)
	}
	// The rows that pointed at rollback_requests now point at requests.
	if _, err := db.ExecContext(ctx, `INSERT INTO idempotency_keys (actor, key, request_id, created_at) VALUES ('ci', 'k2', 999, 'now')`); err == nil {
		t.Error("an idempotency key for no request was accepted: the foreign key is gone")
	}
	rows, err = db.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		t.Fatal(err)
	}
	if rows.Next() {
		t.Error("foreign keys broken after 0006")
	}
	rows.Close()
}
