package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/postgres"
	"github.com/rewindhq/rewind/internal/secret"
	"github.com/rewindhq/rewind/internal/sqlite"
)

// openStore opens the history store cfg names (SQLite in the data folder
// by default), creating the data folder and, for SQLite, the secret key on
// first use.
func openStore(ctx context.Context, cfg config.Config) (*sqlite.Store, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	key, err := secretKey(cfg)
	if err != nil {
		return nil, err
	}
	box, err := secret.NewBox(key)
	if err != nil {
		return nil, err
	}
	if cfg.IsPostgres() {
		return sqlite.Open(ctx, cfg.Store, box)
	}
	path := storePath(cfg)
	// The store holds password hashes and sealed credentials: only Rewind's
	// user may read it (SQLite gives its -wal and -shm files the same mode).
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create store: %w", err)
	}
	f.Close()
	store, err := sqlite.Open(ctx, path, box)
	if err != nil {
		return nil, explainStoreError(err, cfg.DataDir)
	}
	return store, nil
}

// storePath is the SQLite store's file: sqlite:PATH, or rewind.db in the
// data folder.
func storePath(cfg config.Config) string {
	if p, ok := strings.CutPrefix(cfg.Store, "sqlite:"); ok && p != "" {
		return p
	}
	return filepath.Join(cfg.DataDir, storeFile)
}

// storeName names the store for people, without a password.
func storeName(cfg config.Config) string {
	if cfg.IsPostgres() {
		return postgres.Redact(cfg.Store, cfg.Store)
	}
	return storePath(cfg)
}

// secretKey is the key that seals credentials: REWIND_SECRET_KEY, the
// secret key file, or (SQLite only) secret.key in the data folder, made on
// first use. Replicas of a PostgreSQL store must be given the same key.
func secretKey(cfg config.Config) ([]byte, error) {
	switch {
	case cfg.SecretKey != "":
		k, err := secret.ParseKey([]byte(cfg.SecretKey))
		if err != nil {
			return nil, fmt.Errorf("REWIND_SECRET_KEY: %w", err)
		}
		return k, nil
	case cfg.SecretKeyFile != "":
		b, err := os.ReadFile(cfg.SecretKeyFile)
		if err != nil {
			return nil, fmt.Errorf("secret key file: %w", err)
		}
		k, err := secret.ParseKey(b)
		if err != nil {
			return nil, fmt.Errorf("secret key file %s: %w", cfg.SecretKeyFile, err)
		}
		return k, nil
	case cfg.IsPostgres():
		return nil, errors.New("a PostgreSQL store needs the same secret key on every replica: give it with --secret-key-file (a file of 32 random bytes, or their base64, such as a mounted Kubernetes Secret) or REWIND_SECRET_KEY; nothing was changed")
	}
	return secret.LoadOrCreateKey(cfg.DataDir, "secret.key", secret.KeySize)
}

// sessionKeys returns the keys of the session cookie, the same for every
// replica: kept in the store, first taken from the session.key file of a
// Rewind that kept them there, so that its logins stay valid.
func sessionKeys(ctx context.Context, store *sqlite.Store, dataDir string) ([][]byte, error) {
	kept, err := os.ReadFile(filepath.Join(dataDir, "session.key"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read session key file: %w", err)
	}
	k, err := store.SharedKey(ctx, "session", 64, kept)
	if err != nil {
		return nil, err
	}
	return [][]byte{k[:32], k[32:]}, nil
}
