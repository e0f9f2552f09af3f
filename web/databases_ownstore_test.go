package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/auth"
	"github.com/rewindhq/rewind/internal/dbchange"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/secret"
	"github.com/rewindhq/rewind/internal/sqlite"
)

func TestDatabaseSettingsRefuseRewindsOwnStore(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	box, err := secret.NewBox(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	storeFile := filepath.Join(dataDir, "rewind.db")
	store, err := sqlite.Open(ctx, storeFile, box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	hash, _ := auth.HashPassword("password-adam")
	if err := store.CreateUser(ctx, &rewind.User{Username: "adam", Role: rewind.RoleAdmin, PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	env := &rewind.Environment{Name: "prod", RequiredApprovals: 1}
	if err := store.SaveEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	own := filepath.Join(t.TempDir(), "shop.db")
	d := &rewind.Database{Name: "shop", EnvironmentID: env.ID, Engine: rewind.EngineSQLite, DSN: own}
	if err := store.SaveDatabase(ctx, d); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "innocent.db")
	if err := os.Symlink(storeFile, link); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := dbchange.New(store, dbchange.Options{DataDir: dataDir}, log)
	t.Cleanup(func() { svc.Close() })
	ts := httptest.NewServer(New(store, noClusters{}, &wakeCounter{}, log, Options{SessionKeys: [][]byte{make([]byte, 32), make([]byte, 32)}, Databases: svc}).Handler())
	t.Cleanup(ts.Close)
	c := newClient(t, ts.URL)
	c.login("adam")
	token := c.csrf("/settings/databases")

	const refused = "Rewind&#39;s own data"
	for _, dsn := range []string{storeFile, "file:" + storeFile + "?_pragma=busy_timeout(5000)", link, filepath.Join(dataDir, "secret.key")} {
		t.Run(dsn, func(t *testing.T) {
			code, body := c.post("/settings/databases", url.Values{"csrf_token": {token}, "name": {"self"}, "environment_id": {itoa(env.ID)},
				"engine": {"sqlite"}, "dsn": {dsn}})
			if code != http.StatusUnprocessableEntity || !strings.Contains(body, refused) || !strings.Contains(body, `value="self"`) {
				t.Errorf("add = %d, want 422 with the refusal and the form kept", code)
			}
			code, body = c.post("/settings/databases/"+itoa(d.ID), url.Values{"csrf_token": {token}, "dsn": {dsn}})
			if code != http.StatusUnprocessableEntity || !strings.Contains(body, refused) {
				t.Errorf("replace DSN = %d, want 422 with the refusal", code)
			}
			code, body = c.post("/settings/databases/test", url.Values{"csrf_token": {token}, "engine": {"sqlite"}, "dsn": {dsn}})
			if code != http.StatusOK || !strings.Contains(body, refused) {
				t.Errorf("test connection = %d, want the refusal:\n%s", code, body)
			}
		})
	}
	if _, err := store.DatabaseByName(ctx, "self"); err == nil {
		t.Errorf("a refused database was registered")
	}
	if got, err := store.Database(ctx, d.ID); err != nil || got.DSN != own {
		t.Errorf("database shop = %+v, %v; want its own DSN kept", got, err)
	}
	// A database of its own is still accepted.
	code, _ := c.post("/settings/databases", url.Values{"csrf_token": {token}, "name": {"other"}, "environment_id": {itoa(env.ID)},
		"engine": {"sqlite"}, "dsn": {filepath.Join(t.TempDir(), "other.db")}})
	if code != http.StatusSeeOther {
		t.Errorf("add a database of its own = %d, want 303", code)
	}
}
