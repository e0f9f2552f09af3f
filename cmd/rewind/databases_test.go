package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/rewind"
)

func TestConfigFileDatabaseMayNotBeRewindsOwnStore(t *testing.T) {
	tests := []struct {
		name    string
		dsn     func(dataDir string) string
		refused bool
	}{
		{"the store", func(d string) string { return filepath.Join(d, "rewind.db") }, true},
		{"the store's -wal", func(d string) string { return "file:" + filepath.Join(d, "rewind.db-wal") }, true},
		{"the session key", func(d string) string { return filepath.Join(d, "session.key") }, true},
		{"a database of its own", func(string) string { return filepath.Join(t.TempDir(), "shop.db") }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dataDir := t.TempDir()
			store, err := openStore(ctx, config.Config{DataDir: dataDir})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			if err := store.SaveEnvironment(ctx, &rewind.Environment{Name: "prod", RequiredApprovals: 1}); err != nil {
				t.Fatal(err)
			}
			cfg := config.Config{DataDir: dataDir, Databases: []config.Database{{Name: "shop", Environment: "prod", Engine: "sqlite", DSN: tt.dsn(dataDir)}}}
			_, _, err = setupDatabases(ctx, store, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if got := err != nil && strings.Contains(err.Error(), "database shop from config") && strings.Contains(err.Error(), "Rewind's own data"); got != tt.refused {
				t.Errorf("setupDatabases = %v, want refused %v", err, tt.refused)
			}
			_, err = store.DatabaseByName(ctx, "shop")
			if registered := err == nil; registered == tt.refused {
				t.Errorf("registered = %v, want %v", registered, !tt.refused)
			}
		})
	}
}
