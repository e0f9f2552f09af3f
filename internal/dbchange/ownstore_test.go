package dbchange

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/rewind"
)

func TestSQLiteTargetMayNotBeRewindsOwnData(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	other := filepath.Join(root, "other")
	for _, dir := range []string{data, filepath.Join(data, "nacos"), other} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"rewind.db", "rewind.db-wal", "rewind.db-shm", "secret.key", "session.key", "nacos/cache"} {
		if err := os.WriteFile(filepath.Join(data, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(other, "app.db"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(data+"-other", 0o755); err != nil {
		t.Fatal(err)
	}
	mustLink := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	store := filepath.Join(data, "rewind.db")
	mustLink(os.Symlink(store, filepath.Join(other, "link.db")))
	mustLink(os.Symlink(data, filepath.Join(other, "datalink")))
	mustLink(os.Symlink(filepath.Join(data, "nacos"), filepath.Join(other, "sublink")))
	mustLink(os.Link(store, filepath.Join(other, "hard.db")))
	mustLink(os.Link(filepath.Join(data, "secret.key"), filepath.Join(other, "hard.key")))
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	relStore, err := filepath.Rel(wd, store)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		engine  string
		dsn     string
		refused bool
	}{
		{"the store", rewind.EngineSQLite, store, true},
		{"the store as a file URI with parameters", rewind.EngineSQLite, "file:" + store + "?_pragma=busy_timeout(5000)&mode=rw", true},
		{"the store as file:///", rewind.EngineSQLite, "file://" + store, true},
		{"the store as file://localhost/", rewind.EngineSQLite, "file://localhost" + store, true},
		{"the store percent-encoded", rewind.EngineSQLite, "file:" + strings.ReplaceAll(store, "rewind", "r%65wind"), true},
		{"the store, relative", rewind.EngineSQLite, relStore, true},
		{"the store through ..", rewind.EngineSQLite, filepath.Join(other, "..", "data", "rewind.db"), true},
		{"the store with extra slashes", rewind.EngineSQLite, strings.Replace(store, "/data/", "//data/./", 1), true},
		{"a symlink to the store", rewind.EngineSQLite, filepath.Join(other, "link.db"), true},
		{"the store through a symlinked folder", rewind.EngineSQLite, filepath.Join(other, "datalink", "rewind.db"), true},
		{".. after a symlinked folder", rewind.EngineSQLite, other + "/sublink/../rewind.db", true},
		{"a hard link to the store", rewind.EngineSQLite, filepath.Join(other, "hard.db"), true},
		{"a hard link to the secret key", rewind.EngineSQLite, "file:" + filepath.Join(other, "hard.key"), true},
		{"the store's -wal", rewind.EngineSQLite, store + "-wal", true},
		{"the store's -shm", rewind.EngineSQLite, store + "-shm", true},
		{"the secret key", rewind.EngineSQLite, filepath.Join(data, "secret.key"), true},
		{"the session key", rewind.EngineSQLite, filepath.Join(data, "session.key"), true},
		{"a new file in the data folder", rewind.EngineSQLite, filepath.Join(data, "new.db"), true},
		{"a file under the data folder", rewind.EngineSQLite, filepath.Join(data, "nacos", "cache"), true},
		{"the data folder", rewind.EngineSQLite, data, true},
		{"a database of its own", rewind.EngineSQLite, filepath.Join(other, "app.db"), false},
		{"a new database of its own", rewind.EngineSQLite, "file:" + filepath.Join(other, "new.db") + "?_pragma=foreign_keys(1)", false},
		{"a folder whose name starts like the data folder", rewind.EngineSQLite, filepath.Join(data+"-other", "app.db"), false},
		{"in memory", rewind.EngineSQLite, ":memory:", false},
		{"in memory, shared", rewind.EngineSQLite, "file:" + store + "?mode=memory&cache=shared", false},
		{"another engine", rewind.EnginePostgres, "postgres://rewind@localhost/" + url.PathEscape(store), false},
	}
	svc := New(nil, Options{DataDir: data}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for what, err := range map[string]error{"CheckDSN": svc.CheckDSN(tt.engine, tt.dsn), "refuseOwnData": svc.refuseOwnData(tt.engine, tt.dsn)} {
				refused := err != nil && strings.Contains(rewind.ErrorMessage(err), "Rewind's own data")
				if refused != tt.refused {
					t.Errorf("%s(%q) = %v, want refused %v", what, tt.dsn, err, tt.refused)
				}
				if refused && rewind.ErrorCode(err) != rewind.EINVALID {
					t.Errorf("%s: code %s, want %s", what, rewind.ErrorCode(err), rewind.EINVALID)
				}
			}
			if tt.refused {
				err := svc.TestConnection(context.Background(), tt.engine, tt.dsn)
				if err == nil || !strings.Contains(rewind.ErrorMessage(err), "Rewind's own data") {
					t.Errorf("TestConnection(%q) = %v, want it refused", tt.dsn, err)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(data, "new.db")); err == nil {
		t.Errorf("a refused DSN created a file in the data folder")
	}
	b, err := os.ReadFile(store)
	if err != nil || string(b) != "x" {
		t.Errorf("the store file changed: %q, %v", b, err)
	}
}
