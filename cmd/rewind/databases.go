package main

import (
	"context"
	"log/slog"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/sqlite"
	"github.com/rewindhq/rewind/web"
)

// setupDatabases applies the databases declared in cfg and returns the
// executor of SQL changes and the backend of the database pages.
func setupDatabases(ctx context.Context, store *sqlite.Store, cfg config.Config, log *slog.Logger) (rewind.Executor, web.DatabaseBackend, error) {
	return nil, nil, nil
}
