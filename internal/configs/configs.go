// Package configs follows the configs of the registered Nacos servers and
// restores them: it records each new content as a version (Rewind's
// snapshots), imports Nacos' own history, merges both into the versions the
// pages show, and carries out rollback requests on configs (it is the
// rewind.Executor for configs). It talks to Nacos through internal/nacos.
package configs

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/rewindhq/rewind/internal/nacos"
	"github.com/rewindhq/rewind/internal/replicas"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/sqlite"
)

// Defaults of Options.
const (
	// DefaultHealthInterval is how often each server is checked.
	DefaultHealthInterval = 15 * time.Second
	// healthTimeout bounds one check of a server.
	healthTimeout = 5 * time.Second
)

// Store is what the Manager needs of the history store.
type Store interface {
	// EnsureTarget returns the stored target with t's identity, creating it when missing.
	EnsureTarget(ctx context.Context, t *rewind.Target) (created bool, err error)
	// MarkTargetDeleted records that a config was deleted.
	MarkTargetDeleted(ctx context.Context, id int64) error
	// RecordConfigVersion appends a version seen live or made by a rollback
	// unless the newest such version has the same hash.
	RecordConfigVersion(ctx context.Context, v *rewind.Version) (*rewind.Version, bool, error)
	// Version returns a recorded version by its ID.
	Version(ctx context.Context, id int64) (*rewind.Version, error)
	// LiveConfigVersion returns the newest version seen live or made by a rollback.
	LiveConfigVersion(ctx context.Context, targetID int64) (*rewind.Version, error)
	// ImportConfigHistory appends the versions read from Nacos history not yet recorded.
	ImportConfigHistory(ctx context.Context, targetID int64, vs []*rewind.Version) (int, error)
	// ConfigVersionList returns all versions of a config, without content.
	ConfigVersionList(ctx context.Context, targetID int64) ([]*rewind.Version, error)
	// KnownConfigs lists a server's configs with the hash last seen live.
	KnownConfigs(ctx context.Context, serverID int64) ([]sqlite.KnownConfig, error)
	// MaxRevision returns the highest history ID recorded for a config, or 0.
	MaxRevision(ctx context.Context, targetID int64) (int64, error)
}

// Options configures a Manager.
type Options struct {
	// DataDir is Rewind's data folder; the Nacos SDK keeps its cache and log there.
	DataDir string
	// FollowInterval is the period of the full check of every config;
	// nacos.DefaultFollowInterval when zero.
	FollowInterval time.Duration
	// HealthInterval is how often each server is checked; DefaultHealthInterval when zero.
	HealthInterval time.Duration
	// CAFile names a PEM file of certificate authorities trusted, besides the system's, for
	// https:// servers.
	CAFile string
	// Log receives what the Manager does; nothing when nil.
	Log *slog.Logger
	// Gate, when set, makes the Manager follow and import configs only in
	// the gate's terms (while this replica leads); pages and restores use
	// the servers in any case. Without it, it follows from Start on.
	Gate *replicas.Gate
}

// Manager follows the configs of every registered Nacos server.
type Manager struct {
	store Store
	opt   Options
	log   *slog.Logger

	mu      sync.Mutex
	ctx     context.Context // from Start; nil before
	servers map[int64]*server
	expects map[int64]expectation // by target ID
	wg      sync.WaitGroup
}

// expectation is a restore the executor is carrying out: the recorder
// attributes the version with that hash to the request.
type expectation struct {
	hash      string
	deleted   bool
	requestID int64
	requester string
}

// New returns a Manager that records versions in store.
func New(store Store, opt Options) *Manager {
	if opt.HealthInterval <= 0 {
		opt.HealthInterval = DefaultHealthInterval
	}
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{store: store, opt: opt, log: log.With("component", "nacos"), servers: map[int64]*server{}, expects: map[int64]expectation{}}
}

// Start follows the given servers until ctx ends. A server that cannot be
// used is logged and reported by Health; the others still start.
func (m *Manager) Start(ctx context.Context, servers []*rewind.NacosServer) {
	m.mu.Lock()
	m.ctx = ctx
	m.mu.Unlock()
	for _, n := range servers {
		if err := m.AddServer(n); err != nil {
			m.log.Error("cannot follow nacos server", "server", n.Name, "err", err)
		}
	}
}

// AddServer starts following server n, replacing the server with the same
// ID. Start must have been called. The error says why the server's
// registration cannot be used; Health reports it too.
func (m *Manager) AddServer(n *rewind.NacosServer) error {
	m.mu.Lock()
	ctx := m.ctx
	m.mu.Unlock()
	if ctx == nil {
		return errors.New("configs: AddServer before Start")
	}
	m.RemoveServer(n.ID)
	srv := newServer(m, *n)
	m.mu.Lock()
	m.servers[n.ID] = srv
	m.mu.Unlock()
	if srv.setupErr != nil {
		return srv.setupErr
	}
	sctx, cancel := context.WithCancel(ctx)
	srv.cancel = cancel
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		srv.run(sctx)
	}()
	return nil
}

// RemoveServer stops following the server with that ID and waits for it.
func (m *Manager) RemoveServer(id int64) {
	m.mu.Lock()
	srv := m.servers[id]
	delete(m.servers, id)
	m.mu.Unlock()
	if srv != nil {
		srv.stop()
	}
}

// Stop stops following every server and waits for them.
func (m *Manager) Stop() {
	m.mu.Lock()
	srvs := make([]*server, 0, len(m.servers))
	for id, srv := range m.servers {
		srvs = append(srvs, srv)
		delete(m.servers, id)
	}
	m.mu.Unlock()
	for _, srv := range srvs {
		srv.stop()
	}
	m.wg.Wait()
}

// server returns the followed server with that ID.
func (m *Manager) server(id int64) (*server, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	srv, ok := m.servers[id]
	if !ok {
		return nil, rewind.Errorf(rewind.EUNAVAILABLE, "The Nacos server of this config is not registered any more.")
	}
	return srv, nil
}

// Health reports, by server name, whether Rewind can use each server: nil
// when it answers and accepts Rewind's login. A server not checked yet is
// checked now. The errors hold no credentials and can be shown.
func (m *Manager) Health(ctx context.Context) map[string]error {
	m.mu.Lock()
	srvs := make([]*server, 0, len(m.servers))
	for _, srv := range m.servers {
		srvs = append(srvs, srv)
	}
	m.mu.Unlock()
	out := make(map[string]error, len(srvs))
	for _, srv := range srvs {
		st := srv.status()
		if st.Checked.IsZero() && srv.setupErr == nil {
			srv.check(ctx)
			st = srv.status()
		}
		if st.Problem != "" {
			out[srv.reg.Name] = errors.New(st.Problem)
		} else {
			out[srv.reg.Name] = nil
		}
	}
	return out
}

// Status returns what Rewind last learned of the server with that ID.
func (m *Manager) Status(id int64) rewind.NacosStatus {
	srv, err := m.server(id)
	if err != nil {
		return rewind.NacosStatus{Problem: rewind.ErrorMessage(err)}
	}
	return srv.status()
}

func (m *Manager) expect(targetID int64, e expectation) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expects[targetID] = e
}

func (m *Manager) unexpect(targetID int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.expects, targetID)
}

func (m *Manager) expected(targetID int64) (expectation, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.expects[targetID]
	return e, ok
}

// keyOf names a config target's config on its server.
func keyOf(t *rewind.Target) nacos.ConfigKey {
	return nacos.ConfigKey{Namespace: t.Namespace, Group: t.Group, DataID: t.Name}
}

// describe turns an error of the Nacos adapter into an error whose message
// people can read (the adapter's errors hold no password or token). Other
// errors are returned as they are.
func describe(name string, err error) error {
	var re *rewind.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		return err
	case errors.Is(err, nacos.ErrUntrusted):
		return rewind.Errorf(rewind.EUNAVAILABLE, "Rewind does not trust the TLS certificate of Nacos server %s (%v); "+
			"give the authority that signed it in nacos_ca_file, or correct the server's certificate.", name, err)
	case errors.Is(err, nacos.ErrUnreachable):
		return rewind.Errorf(rewind.EUNAVAILABLE, "Rewind cannot reach Nacos server %s (%v).", name, err)
	case errors.Is(err, nacos.ErrLoginRefused):
		return rewind.Errorf(rewind.EUNAVAILABLE, "Nacos server %s refused Rewind's user name and password; correct them in Settings.", name)
	case errors.Is(err, nacos.ErrForbidden):
		return rewind.Errorf(rewind.EUNAVAILABLE, "Nacos server %s denied Rewind's user access (%v); check the user's permissions.", name, err)
	case errors.Is(err, nacos.ErrUnexpectedAnswer):
		return rewind.Errorf(rewind.EUNAVAILABLE, "Nacos server %s answered something Rewind cannot read; is this the address and context path of a Nacos server? (%v)", name, err)
	case errors.Is(err, nacos.ErrReadOnly):
		return rewind.Errorf(rewind.EINVALID, "Nacos server %s runs Nacos 1.x, which has no compare-and-swap publish: Rewind records its configs' history but cannot restore them.", name)
	case errors.Is(err, nacos.ErrEmptyContent):
		return rewind.Errorf(rewind.EINVALID, "Nacos cannot publish empty content.")
	case errors.Is(err, context.DeadlineExceeded):
		return rewind.Errorf(rewind.EUNAVAILABLE, "Nacos server %s did not answer in time.", name)
	}
	return err
}
