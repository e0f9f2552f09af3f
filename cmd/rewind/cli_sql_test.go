package main

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/dbchange"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/rollback"
	"github.com/rewindhq/rewind/internal/secret"
	"github.com/rewindhq/rewind/internal/sqlite"
	"github.com/rewindhq/rewind/web"
)

// TestCLISQLWatch submits a SQL change from the command line, has it
// approved, and follows it while the real runner runs it: watch exits 0.
func TestCLISQLWatch(t *testing.T) {
	ctx := context.Background()
	box, _ := secret.NewBox(make([]byte, 32))
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "rewind.db"), box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	env := &rewind.Environment{Name: "prod", RequiredApprovals: 1}
	if err := store.SaveEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "shop.db")
	raw, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	if _, err := raw.Exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO items VALUES (1, 'a'), (2, 'b')`); err != nil {
		t.Fatal(err)
	}
	d := &rewind.Database{Name: "shop", EnvironmentID: env.ID, Engine: rewind.EngineSQLite, DSN: file}
	if err := store.SaveDatabase(ctx, d); err != nil {
		t.Fatal(err)
	}
	target, err := store.DatabaseTarget(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{}
	for name, role := range map[string]rewind.Role{"otto": rewind.RoleOperator, "anna": rewind.RoleApprover} {
		if err := store.CreateUser(ctx, &rewind.User{Username: name, Role: role, PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
		token, hash := rewind.NewTokenSecret()
		if err := store.CreateToken(ctx, &rewind.APIToken{Name: "cli", Username: name, Prefix: token[:8], CreatedBy: name}, hash, rewind.AuditEvent{Actor: name}); err != nil {
			t.Fatal(err)
		}
		tokens[name] = token
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := dbchange.New(store, dbchange.Options{}, log)
	t.Cleanup(func() { svc.Close() })
	runner := rollback.NewRunner(store, map[rewind.TargetKind]rewind.Executor{rewind.KindDatabase: svc}, log)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); runner.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	ts := httptest.NewServer(web.New(store, cliCluster{}, runner, log, web.Options{SessionKeys: [][]byte{make([]byte, 32), make([]byte, 32)}, Databases: svc}).Handler())
	t.Cleanup(ts.Close)

	sqlFile := filepath.Join(t.TempDir(), "change.sql")
	if err := os.WriteFile(sqlFile, []byte("DELETE FROM items WHERE id = 2;\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	as := func(user string, args ...string) (string, error) {
		var out bytes.Buffer
		getenv := func(k string) string {
			return map[string]string{"REWIND_SERVER": ts.URL, "REWIND_TOKEN": tokens[user], "XDG_CONFIG_HOME": t.TempDir()}[k]
		}
		err := run(ctx, args, getenv, strings.NewReader(""), &out, &out)
		return out.String(), err
	}
	out, err := as("otto", "sql", "submit", strconv.FormatInt(target.ID, 10), sqlFile, "--reason", "remove b")
	if err != nil {
		t.Fatalf("sql submit: %v %s", err, out)
	}
	id := strings.TrimSpace(out)
	if out, err := as("anna", "approve", id, "--comment", "ok"); err != nil {
		t.Fatalf("approve: %v %s", err, out)
	}
	out, err = as("otto", "watch", id, "--interval", "50ms")
	if err != nil || !strings.Contains(out, "succeeded") {
		t.Fatalf("watch: %v, output %q; want it to end succeeded", err, out)
	}
	var n int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM items`).Scan(&n); err != nil || n != 1 {
		t.Errorf("items left: %d (%v), want 1", n, err)
	}
}
