package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rewindhq/rewind/internal/secret"
	"github.com/rewindhq/rewind/internal/sqlite"
)

// openStore opens the history store in dataDir, creating the folder and the
// encryption key on first use.
func openStore(ctx context.Context, dataDir string) (*sqlite.Store, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	key, err := secret.LoadOrCreateKey(dataDir, "secret.key", 32)
	if err != nil {
		return nil, err
	}
	box, err := secret.NewBox(key)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dataDir, storeFile)
	// The store holds password hashes and sealed credentials: only Rewind's
	// user may read it (SQLite gives its -wal and -shm files the same mode).
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create store: %w", err)
	}
	f.Close()
	store, err := sqlite.Open(ctx, path, box)
	if err != nil {
		return nil, explainStoreError(err, dataDir)
	}
	return store, nil
}
