package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/dbchange"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/sqlite"
	"github.com/rewindhq/rewind/web"
)

// setupDatabases applies the databases declared in cfg and returns the
// executor of SQL changes and the backend of the database pages. Its
// connection pools keep no idle connection, so nothing needs closing.
func setupDatabases(ctx context.Context, store *sqlite.Store, cfg config.Config, log *slog.Logger) (rewind.Executor, web.DatabaseBackend, error) {
	svc := dbchange.New(store, dbchange.Options{StatementTimeout: cfg.SQL.StatementTimeout, MaxSavedRows: cfg.SQL.MaxSavedRows,
		MaxSavedBytes: cfg.SQL.MaxSavedBytes, DataDir: cfg.DataDir}, log)
	for _, decl := range cfg.Databases {
		env, err := store.EnvironmentByName(ctx, decl.Environment)
		if err != nil {
			return nil, nil, fmt.Errorf("database %s from config: environment %s: %w", decl.Name, decl.Environment, err)
		}
		d := &rewind.Database{Name: decl.Name, EnvironmentID: env.ID, Engine: decl.Engine, DSN: decl.DSN, FromConfig: true}
		if err := rewind.ValidateDatabase(*d); err != nil {
			return nil, nil, fmt.Errorf("database %s from config: %w", decl.Name, err)
		}
		if err := svc.CheckDSN(d.Engine, d.DSN); err != nil {
			return nil, nil, fmt.Errorf("database %s from config: %s", decl.Name, rewind.ErrorMessage(err))
		}
		if existing, err := store.DatabaseByName(ctx, decl.Name); err == nil {
			d.ID = existing.ID
		}
		if err := store.SaveDatabase(ctx, d); err != nil {
			return nil, nil, fmt.Errorf("database %s from config: %w", decl.Name, err)
		}
	}
	return svc, svc, nil
}
