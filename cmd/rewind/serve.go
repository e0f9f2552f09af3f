package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"k8s.io/klog/v2"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/kube"
	"github.com/rewindhq/rewind/internal/metrics"
	"github.com/rewindhq/rewind/internal/releases"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/rollback"
	"github.com/rewindhq/rewind/internal/secret"
	"github.com/rewindhq/rewind/internal/sqlite"
	"github.com/rewindhq/rewind/web"
)

// serve runs the dashboard until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.Load(args, getenv)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)
	klog.SetSlogLogger(log.With("component", "client-go"))
	// One Rewind per store: a second one, or a restore, is refused meanwhile.
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	unlock, err := sqlite.Lock(filepath.Join(cfg.DataDir, storeFile))
	if err != nil {
		return explainStoreError(err, cfg.DataDir)
	}
	defer unlock()
	store, err := openStore(ctx, cfg.DataDir)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := ensureAdmin(ctx, store, getenv, stdout); err != nil {
		return err
	}
	if err := applyDeclared(ctx, store, cfg); err != nil {
		return err
	}
	sessionKeys, err := secret.LoadOrCreateKey(cfg.DataDir, "session.key", 64)
	if err != nil {
		return err
	}
	signins, err := setupSignin(ctx, store, cfg)
	if err != nil {
		return err
	}

	clusters, err := store.Clusters(ctx)
	if err != nil {
		return err
	}
	services := kube.NewManager(store, cfg.DataDir, log)
	services.RolloutTimeout = cfg.RolloutTimeout
	services.Releases = releases.New(store) // rewind.dev/release on pod templates
	runCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	services.Start(runCtx, clusters)
	executors := map[rewind.TargetKind]rewind.Executor{rewind.KindService: services.Executor()}
	configExec, configs, stopNacos, err := setupNacos(runCtx, store, cfg, log)
	if err != nil {
		return err
	}
	defer stopNacos()
	dbExec, databases, err := setupDatabases(runCtx, store, cfg, log)
	if err != nil {
		return err
	}
	if configExec != nil {
		executors[rewind.KindConfig] = configExec
	}
	if dbExec != nil {
		executors[rewind.KindDatabase] = dbExec
	}
	planners := map[rewind.TargetKind]rewind.Planner{rewind.KindService: services}
	for kind, ex := range executors {
		if p, ok := ex.(rewind.Planner); ok {
			planners[kind] = p
		}
	}
	runner := rollback.NewRunner(store, executors, log)
	runnerDone := make(chan struct{})
	go func() { defer close(runnerDone); runner.Run(runCtx) }()
	senderDone := startSender(runCtx, store, configs, cfg.ExternalURL, log)
	if policy := cfg.RetentionPolicy(); len(policy) > 0 {
		go applyRetention(runCtx, store, policy, log)
	}

	proxies, err := cfg.TrustedProxyNets()
	if err != nil {
		return err
	}
	registry := metrics.NewRegistry(metricSources(store, services, configs, databases))
	metricsHandler := metrics.Handler(registry, cfg.Metrics.Token)
	if cfg.Metrics.Addr != "" {
		stopMetrics, err := serveMetrics(cfg.Metrics.Addr, metricsHandler, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	var mainMetrics http.Handler // on the main listener only behind a token
	if cfg.Metrics.Token != "" {
		mainMetrics = metricsHandler
	}

	kubeconfig := kube.DefaultKubeconfigPath()
	srv := web.New(store, services, runner, log, web.Options{
		SessionKeys:        [][]byte{sessionKeys[:32], sessionKeys[32:]},
		SecureCookies:      cfg.SecureCookies || cfg.TLSCert != "",
		KubeconfigPath:     kubeconfig,
		KubeconfigContexts: kube.KubeconfigContexts,
		Configs:            configs,
		Databases:          databases,
		Planners:           planners,
		TrustedProxies:     proxies,
		SessionLifetime:    cfg.SessionLifetime,
		SessionIdle:        cfg.SessionIdle,
		Metrics:            mainMetrics,
		Signin:             signins,
		ExternalURL:        cfg.ExternalURL,
	})
	httpSrv := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	scheme := "http"
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("TLS key pair: %w", err)
		}
		httpSrv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, httpSrv.TLSConfig)
		scheme = "https"
	}
	log.Info("rewind listening", "url", scheme+"://"+ln.Addr().String(), "data_dir", cfg.DataDir, "version", version)
	fmt.Fprintf(stdout, "Rewind is listening on %s://%s\n", scheme, ln.Addr())

	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	select {
	case err := <-serveErr:
		stopWork()
		<-runnerDone
		<-senderDone
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: no new requests; running rollbacks record their state")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := httpSrv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("http shutdown", "err", err)
	}
	stopWork()
	<-runnerDone
	<-senderDone
	services.Stop()
	log.Info("stopped")
	return nil
}

// metricSources says where the metrics read Rewind's state at each scrape.
func metricSources(store *sqlite.Store, services *kube.Manager, configs web.ConfigBackend, databases web.DatabaseBackend) metrics.Sources {
	src := metrics.Sources{Store: store, Clusters: services.Health, ClusterStats: services.Stats, Version: version}
	if configs != nil {
		src.NacosServers = configs.Health
	}
	if dbs, ok := databases.(interface {
		Health(ctx context.Context, dbs []*rewind.Database) map[string]error
	}); ok {
		src.Databases = func(ctx context.Context) map[string]error {
			list, err := store.Databases(ctx)
			if err != nil {
				return nil
			}
			return dbs.Health(ctx, list)
		}
	}
	return src
}

// serveMetrics serves /metrics on a listener of its own at addr, until
// the returned stop is called.
func serveMetrics(addr string, h http.Handler, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for metrics on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener", "err", err)
		}
	}()
	log.Info("metrics listening", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// retentionEvery is how often a running Rewind applies the retention.
const retentionEvery = 24 * time.Hour

// applyRetention removes the versions the retention lets go, at start and
// then daily, until ctx ends.
func applyRetention(ctx context.Context, store *sqlite.Store, policy map[rewind.TargetKind]rewind.Retention, log *slog.Logger) {
	tick := time.NewTicker(retentionEvery)
	defer tick.Stop()
	for {
		start := time.Now()
		removed, err := store.Prune(ctx, policy, false)
		if err != nil && ctx.Err() == nil {
			log.Error("retention", "err", err)
		}
		for kind, n := range removed {
			log.Info("retention removed old versions", "kind", kind, "versions", n, "took", time.Since(start).Round(time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// applyDeclared stores the environments and clusters declared in the config file.
func applyDeclared(ctx context.Context, store *sqlite.Store, cfg config.Config) error {
	envIDs := map[string]int64{}
	for _, e := range cfg.Environments {
		env := &rewind.Environment{Name: e.Name, RequiredApprovals: e.RequiredApprovals}
		if err := store.EnsureEnvironment(ctx, env); err != nil {
			return fmt.Errorf("environment %s from config: %w", e.Name, err)
		}
		envIDs[e.Name] = env.ID
	}
	for _, c := range cfg.Clusters {
		cl := &rewind.Cluster{Name: c.Name, EnvironmentID: envIDs[c.Environment], KubeconfigPath: c.Kubeconfig,
			Context: c.Context, InCluster: c.InCluster, Namespaces: c.Namespaces, FromConfig: true}
		if existing, err := store.ClusterByName(ctx, c.Name); err == nil {
			cl.ID = existing.ID
		}
		if err := store.SaveCluster(ctx, cl); err != nil {
			return fmt.Errorf("cluster %s from config: %w", c.Name, err)
		}
	}
	return nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}
