package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/configs"
	"github.com/rewindhq/rewind/internal/replicas"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/sqlite"
	"github.com/rewindhq/rewind/web"
)

// setupNacos applies the Nacos servers declared in cfg, starts following their
// configs until ctx ends, and returns the executor of config restores and the
// backend of the config pages. stop waits for the followers to end.
func setupNacos(ctx context.Context, store *sqlite.Store, cfg config.Config, gate *replicas.Gate, log *slog.Logger) (ex rewind.Executor, backend web.ConfigBackend, stop func(), err error) {
	for _, d := range cfg.NacosServers {
		env, err := store.EnvironmentByName(ctx, d.Environment)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("nacos server %s from config: environment %s: %w", d.Name, d.Environment, err)
		}
		n := &rewind.NacosServer{Name: d.Name, EnvironmentID: env.ID, Addr: d.Addr, ContextPath: d.ContextPath, Namespaces: d.Namespaces,
			Username: d.Username, Password: d.Password, MaskKeys: d.MaskKeys, FromConfig: true}
		if existing, err := store.NacosServerByName(ctx, d.Name); err == nil {
			n.ID = existing.ID
		}
		if err := store.SaveNacosServer(ctx, n); err != nil {
			return nil, nil, nil, fmt.Errorf("nacos server %s from config: %w", d.Name, err)
		}
	}
	servers, err := store.NacosServers(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	if cfg.NacosCAFile != "" {
		if _, err := os.Stat(cfg.NacosCAFile); err != nil {
			return nil, nil, nil, fmt.Errorf("nacos_ca_file: %w", err)
		}
	}
	m := configs.New(store, configs.Options{DataDir: cfg.DataDir, Log: log, CAFile: cfg.NacosCAFile, Gate: gate})
	m.Start(ctx, servers)
	return m, m, m.Stop, nil
}
