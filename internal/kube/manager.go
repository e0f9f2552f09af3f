package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	leader "github.com/rewindhq/rewind/internal/replicas"
	"github.com/rewindhq/rewind/internal/rewind"
)

// healthTimeout bounds the check of one cluster's API server in Health.
const healthTimeout = 3 * time.Second

// Manager owns one watcher per registered cluster, and carries out rollbacks
// of services (it is the rewind.Executor for services).
type Manager struct {
	// RolloutTimeout bounds how long a rollback's rollout is followed;
	// DefaultRolloutTimeout when zero. Set it before Start.
	RolloutTimeout time.Duration
	// Releases, when set, is told of each service version the watchers
	// record, so that a version joins the release its pod template names
	// (rewind.dev/release). Set it before Start; nil leaves that off.
	Releases ReleaseRecorder
	// Gate, set before Start, makes the watchers keep their caches (for
	// pages and plans) but record versions only in the gate's terms: of
	// several replicas, only the leader records. Without it they record
	// from Start on.
	Gate *leader.Gate

	store   Store
	dataDir string
	log     *slog.Logger

	mu       sync.Mutex
	ctx      context.Context // from Start; nil before
	watchers map[int64]*watcher
	expects  map[int64]expectation // by target ID
}

// ReleaseRecorder attaches a newly recorded service version to a release:
// the one named by annotation (the pod template's rewind.dev/release, empty
// when absent), or one that observed it. It returns the release's ID, or 0.
type ReleaseRecorder interface {
	Recorded(ctx context.Context, t *rewind.Target, v *rewind.Version, annotation string) (int64, error)
}

// NewManager returns a Manager that records versions in store. Relative
// kubeconfig paths are taken from dataDir.
func NewManager(store Store, dataDir string, log *slog.Logger) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{
		store:    store,
		dataDir:  dataDir,
		log:      log.With("component", "kube"),
		watchers: map[int64]*watcher{},
		expects:  map[int64]expectation{},
	}
}

// Start starts watching the clusters until ctx ends. A cluster that cannot
// be set up is logged and reported by Health; the others still start.
func (m *Manager) Start(ctx context.Context, clusters []*rewind.Cluster) {
	m.mu.Lock()
	m.ctx = ctx
	m.mu.Unlock()
	for _, c := range clusters {
		if err := m.AddCluster(c); err != nil {
			m.log.Error("cannot watch cluster", "cluster", c.Name, "err", rewind.ErrorMessage(err))
		}
	}
}

// AddCluster starts watching cluster c, replacing the watch of a cluster
// with the same ID. Start must have been called. The error says why the
// cluster cannot be used; Health reports it too.
func (m *Manager) AddCluster(c *rewind.Cluster) error {
	m.mu.Lock()
	ctx := m.ctx
	m.mu.Unlock()
	if ctx == nil {
		return errors.New("kube: AddCluster before Start")
	}
	m.RemoveCluster(c.ID)
	cc := *c
	cc.Namespaces = append([]string(nil), c.Namespaces...)
	w := newWatcher(m, &cc)
	if w.err == nil {
		wctx, cancel := context.WithCancel(ctx)
		w.cancel = cancel
		go w.run(wctx)
	}
	m.mu.Lock()
	m.watchers[c.ID] = w
	m.mu.Unlock()
	return w.err
}

// RemoveCluster stops watching the cluster with that ID.
func (m *Manager) RemoveCluster(id int64) {
	m.mu.Lock()
	w := m.watchers[id]
	delete(m.watchers, id)
	m.mu.Unlock()
	if w != nil {
		w.stop()
	}
}

// Stop stops all watches and waits for them to end.
func (m *Manager) Stop() {
	m.mu.Lock()
	ws := make([]*watcher, 0, len(m.watchers))
	for id, w := range m.watchers {
		ws = append(ws, w)
		delete(m.watchers, id)
	}
	m.mu.Unlock()
	for _, w := range ws {
		w.stop()
	}
}

// WaitReady waits until every cluster that could be set up is watched and
// its services' current versions are recorded, or ctx ends.
func (m *Manager) WaitReady(ctx context.Context) error {
	m.mu.Lock()
	ws := make([]*watcher, 0, len(m.watchers))
	for _, w := range m.watchers {
		if w.err == nil {
			ws = append(ws, w)
		}
	}
	m.mu.Unlock()
	for _, w := range ws {
		select {
		case <-w.ready:
		case <-w.done:
		case <-ctx.Done():
			return fmt.Errorf("wait for cluster %s: %w", w.cluster.Name, ctx.Err())
		}
	}
	return nil
}

// Health reports, by cluster name, whether each cluster is watched: nil when
// its API server answers and the watch has synced. The errors hold no
// credentials and can be shown.
func (m *Manager) Health(ctx context.Context) map[string]error {
	m.mu.Lock()
	ws := make([]*watcher, 0, len(m.watchers))
	for _, w := range m.watchers {
		ws = append(ws, w)
	}
	m.mu.Unlock()
	out := make(map[string]error, len(ws))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() {
			err := w.health(ctx)
			mu.Lock()
			out[w.cluster.Name] = err
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

func (w *watcher) health(ctx context.Context) error {
	if w.err != nil {
		return w.err
	}
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	if err := w.cs.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Error(); err != nil {
		return w.unreachable(err)
	}
	if !w.synced.Load() {
		return rewind.Errorf(rewind.EUNAVAILABLE, "Cluster %s: the watch of namespaces %s has not synced yet.", w.cluster.Name, strings.Join(w.cluster.Namespaces, ", "))
	}
	return nil
}

// Executor returns the executor of rollback requests for services.
func (m *Manager) Executor() rewind.Executor { return m }

// watcherFor returns the watcher of service t's cluster.
func (m *Manager) watcherFor(t *rewind.Target) (*watcher, error) {
	if t.Kind != rewind.KindService {
		return nil, rewind.Errorf(rewind.EINVALID, "%s is not a Kubernetes service.", t.Label())
	}
	m.mu.Lock()
	w := m.watchers[t.OwnerID]
	m.mu.Unlock()
	if w == nil {
		return nil, rewind.Errorf(rewind.EUNAVAILABLE, "The cluster of %s is not connected to Rewind.", t.Label())
	}
	if w.err != nil {
		return nil, w.err
	}
	if w.nss[t.Namespace] == nil {
		return nil, rewind.Errorf(rewind.EINVALID, "Namespace %s of cluster %s is not watched by Rewind.", t.Namespace, w.cluster.Name)
	}
	return w, nil
}
