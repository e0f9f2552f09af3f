package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	rl "k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/kube"
	"github.com/rewindhq/rewind/internal/replicas"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/sqlite"
	"github.com/rewindhq/rewind/web"
)

// Topics of the messages between replicas.
const (
	topicRunner   = "runner"   // a request may have become approved
	topicNotify   = "notify"   // the outbox may hold news
	topicCluster  = "cluster"  // a cluster was registered, changed or removed (its ID)
	topicNacos    = "nacos"    // a Nacos server likewise
	topicDatabase = "database" // a database likewise
)

// replication ties this Rewind to the other replicas of its store: the bus
// between them and the election of the one that leads. With a SQLite store
// this Rewind is alone: the bus stays inside it and it always leads.
type replication struct {
	bus     *replicas.Bus
	elector *replicas.Elector // nil: always leads
	gate    *replicas.Gate    // nil: always leads
	log     *slog.Logger
}

// newReplication prepares the replication of a store opened from cfg.
func newReplication(ctx context.Context, cfg config.Config, store *sqlite.Store, log *slog.Logger) (*replication, error) {
	if !cfg.IsPostgres() {
		return &replication{bus: replicas.NewLocalBus(log), log: log}, nil
	}
	bus, err := replicas.NewPostgresBus(ctx, cfg.Store, store.DB(), log.With("component", "replicas"))
	if err != nil {
		return nil, err
	}
	lock, err := leaseLock(cfg, store)
	if err != nil {
		return nil, err
	}
	return &replication{bus: bus, gate: replicas.NewGate(), log: log,
		elector: &replicas.Elector{Lock: lock, LeaseDuration: cfg.LeaseDuration, Log: log.With("component", "replicas")}}, nil
}

// leaseLock is the lease the replicas compete for: a Kubernetes Lease when
// asked, or by default inside a cluster; else a row of the store.
func leaseLock(cfg config.Config, store *sqlite.Store) (rl.Interface, error) {
	id := replicas.Identity()
	kind := cfg.LeaderElection
	if kind == "auto" {
		kind = "store"
		if os.Getenv("KUBERNETES_SERVICE_HOST") != "" || cfg.LeaseKubeconfig != "" {
			kind = "kubernetes"
		}
	}
	if kind == "store" {
		return &replicas.StoreLock{Store: store, Name: "leader", ID: id}, nil
	}
	var restCfg *rest.Config
	var err error
	if cfg.LeaseKubeconfig != "" {
		restCfg, err = clientcmd.BuildConfigFromFlags("", cfg.LeaseKubeconfig)
	} else {
		restCfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("leader election with a Kubernetes Lease: %w", err)
	}
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("leader election with a Kubernetes Lease: %w", err)
	}
	ns := cfg.LeaseNamespace
	if ns == "" {
		ns = os.Getenv("POD_NAMESPACE")
	}
	if ns == "" {
		if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
			ns = strings.TrimSpace(string(b))
		}
	}
	if ns == "" {
		ns = "default"
	}
	return rl.New(rl.LeasesResourceLock, ns, cfg.LeaseName, cs.CoreV1(), cs.CoordinationV1(), rl.ResourceLockConfig{Identity: id})
}

// lead runs work, the leader's work, until ctx ends: at once and for good
// when this Rewind is alone, else in each term this replica is elected for.
// It returns once work stopped and the lease was given up.
func (r *replication) lead(ctx context.Context, work func(ctx context.Context)) {
	if r.elector == nil {
		work(ctx)
		return
	}
	if err := r.elector.Run(ctx, func(lctx context.Context) {
		done := make(chan struct{})
		go func() { defer close(done); r.gate.Lead(lctx) }()
		work(lctx)
		<-done
	}); err != nil {
		r.log.Error("leader election", "err", err)
	}
}

// leading reports whether this replica runs the leader's work now.
func (r *replication) leading() bool { return r.elector == nil || r.elector.Leading() }

// waker wakes the leader's runner from any replica.
type waker struct {
	bus   *replicas.Bus
	topic string
}

func (w waker) Wake() { w.bus.Publish(w.topic, nil) }

// follow wakes fn on every message on topic.
func (r *replication) follow(topic string, fn func()) {
	r.bus.Subscribe(topic, func(json.RawMessage) { fn() })
}

// current holds what the leader's work of this term made, for wake-ups
// that arrive at any time.
type current[T any] struct{ p atomic.Pointer[T] }

func (c *current[T]) set(v *T) { c.p.Store(v) }
func (c *current[T]) get() *T  { return c.p.Load() }

// sharedServices tells the other replicas when a cluster is registered,
// changed or removed, so that every replica watches the same clusters.
type sharedServices struct {
	*kube.Manager
	bus *replicas.Bus
}

func (s sharedServices) AddCluster(c *rewind.Cluster) error {
	err := s.Manager.AddCluster(c)
	s.bus.PublishOthers(topicCluster, c.ID)
	return err
}

func (s sharedServices) RemoveCluster(id int64) {
	s.Manager.RemoveCluster(id)
	s.bus.PublishOthers(topicCluster, id)
}

// sharedConfigs does the same for Nacos servers.
type sharedConfigs struct {
	web.ConfigBackend
	bus *replicas.Bus
}

func (s sharedConfigs) AddServer(n *rewind.NacosServer) error {
	err := s.ConfigBackend.AddServer(n)
	s.bus.PublishOthers(topicNacos, n.ID)
	return err
}

func (s sharedConfigs) RemoveServer(id int64) {
	s.ConfigBackend.RemoveServer(id)
	s.bus.PublishOthers(topicNacos, id)
}

// sharedDatabases does the same for databases.
type sharedDatabases struct {
	web.DatabaseBackend
	bus *replicas.Bus
}

func (s sharedDatabases) Forget(id int64) {
	s.DatabaseBackend.Forget(id)
	s.bus.PublishOthers(topicDatabase, id)
}

// followRegistrations applies the registrations other replicas made.
func (r *replication) followRegistrations(ctx context.Context, store *sqlite.Store, services *kube.Manager, configs web.ConfigBackend, databases web.DatabaseBackend) {
	on := func(topic string, apply func(ctx context.Context, id int64)) {
		r.bus.Subscribe(topic, func(p json.RawMessage) {
			var id int64
			if json.Unmarshal(p, &id) != nil {
				return
			}
			go func() {
				actx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				apply(actx, id)
			}()
		})
	}
	on(topicCluster, func(ctx context.Context, id int64) {
		c, err := store.Cluster(ctx, id)
		switch {
		case rewind.ErrorCode(err) == rewind.ENOTFOUND:
			services.RemoveCluster(id)
		case err != nil:
			r.log.Warn("cluster registered at another replica", "cluster", id, "err", err)
		default:
			if err := services.AddCluster(c); err != nil {
				r.log.Warn("cluster registered at another replica", "cluster", c.Name, "err", rewind.ErrorMessage(err))
			}
		}
	})
	if configs != nil {
		on(topicNacos, func(ctx context.Context, id int64) {
			n, err := store.NacosServer(ctx, id)
			switch {
			case rewind.ErrorCode(err) == rewind.ENOTFOUND:
				configs.RemoveServer(id)
			case err != nil:
				r.log.Warn("nacos server registered at another replica", "server", id, "err", err)
			default:
				if err := configs.AddServer(n); err != nil {
					r.log.Warn("nacos server registered at another replica", "server", n.Name, "err", rewind.ErrorMessage(err))
				}
			}
		})
	}
	if databases != nil {
		on(topicDatabase, func(_ context.Context, id int64) { databases.Forget(id) })
	}
}
