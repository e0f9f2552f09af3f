package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/postgres/pgtest"
	"github.com/rewindhq/rewind/internal/rewind"
)

// TestStoreCopy moves a SQLite install into PostgreSQL with `rewind store
// copy`: the users can log in with the same passwords, the credentials
// open with the install's key, and a second copy is refused.
func TestStoreCopy(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	none := func(string) string { return "" }
	var out bytes.Buffer
	if err := run(ctx, []string{"user", "add", "otto", "--role", "operator", "--data-dir", dir}, none, strings.NewReader("password-otto\n"), &out, &out); err != nil {
		t.Fatalf("user add: %v\n%s", err, out.String())
	}
	lite, err := openStore(ctx, config.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	env := &rewind.Environment{Name: "prod", RequiredApprovals: 1}
	if err := lite.SaveEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	if err := lite.SaveDatabase(ctx, &rewind.Database{Name: "orders", EnvironmentID: env.ID, Engine: rewind.EngineMySQL, DSN: "app:s3cret@tcp(db:3306)/orders"}); err != nil {
		t.Fatal(err)
	}
	lite.Close()

	url := pgtest.NewStore(t)
	out.Reset()
	args := []string{"store", "copy", "--from", "sqlite:" + filepath.Join(dir, "rewind.db"), "--to", url}
	if err := run(ctx, args, none, strings.NewReader(""), &out, &out); err != nil {
		t.Fatalf("store copy: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "checked each against the SQLite store") || !strings.Contains(out.String(), "databases") {
		t.Errorf("store copy says:\n%s", out.String())
	}
	// The PostgreSQL store opens with the install's key, as a replica given it would.
	pg, err := openStore(ctx, config.Config{DataDir: t.TempDir(), Store: url, SecretKeyFile: filepath.Join(dir, "secret.key")})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	d, err := pg.DatabaseByName(ctx, "orders")
	if err != nil || d.DSN != "app:s3cret@tcp(db:3306)/orders" {
		t.Errorf("database after the copy: %+v %v", d, err)
	}
	if u, err := pg.UserByName(ctx, "otto"); err != nil || u.Role != rewind.RoleOperator {
		t.Errorf("user after the copy: %+v %v", u, err)
	}
	// Without the install's key, the copy cannot be used.
	if _, err := openStore(ctx, config.Config{DataDir: t.TempDir(), Store: url, SecretKey: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}); rewind.ErrorCode(err) != rewind.ECONFLICT {
		t.Errorf("open with another key: %v, want a conflict", err)
	}
	out.Reset()
	if err := run(ctx, args, none, strings.NewReader(""), &out, &out); rewind.ErrorCode(err) != rewind.ECONFLICT {
		t.Errorf("second copy: %v, want refused", err)
	}
}
