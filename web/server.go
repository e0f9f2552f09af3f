// Package web is Rewind's dashboard: the echo server, its routes, middleware
// and one handler file per resource. Nothing below web/ sees echo.Context.
package web

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/auth"
	"github.com/rewindhq/rewind/internal/notify"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/sqlite"
)

// Services is what the pages need of the Kubernetes adapter.
type Services interface {
	// Status returns the live rollout status of a service.
	Status(ctx context.Context, t *rewind.Target) (*rewind.RolloutStatus, error)
	// Preflight checks that t can be rolled back to v now and returns the
	// workload's resourceVersion, which execution later insists on.
	Preflight(ctx context.Context, t *rewind.Target, v *rewind.Version) (string, error)
	// Health returns each cluster's connection error, nil when connected.
	Health(ctx context.Context) map[string]error
	// AddCluster starts watching a newly registered cluster.
	AddCluster(c *rewind.Cluster) error
	// RemoveCluster stops watching a cluster.
	RemoveCluster(id int64)
}

// Runner is told when a request may have become approved.
type Runner interface{ Wake() }

// Options configures the server.
type Options struct {
	SessionKeys   [][]byte // hash key and block key for the session cookie
	SecureCookies bool
	// KubeconfigPath is a kubeconfig found on the host, offered for one-click
	// registration on first start; empty when none was found.
	KubeconfigPath string
	// KubeconfigContexts lists the contexts of a kubeconfig file.
	KubeconfigContexts func(path string) ([]string, error)
	// Configs serves the Nacos config pages; nil when not wired.
	Configs ConfigBackend
	// Databases serves the database and SQL change pages; nil when not wired.
	Databases DatabaseBackend
	// Planners plan the steps of multi-target rollbacks, by target kind.
	Planners map[rewind.TargetKind]rewind.Planner
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names the
	// client; with none, the client is the direct peer and the header is ignored.
	TrustedProxies []*net.IPNet
	// SessionLifetime is how long a login lasts at most (default 12h);
	// SessionIdle how long without a request (default 2h).
	SessionLifetime, SessionIdle time.Duration
	// Metrics serves /metrics (it checks the metrics token itself); nil:
	// /metrics is not served on this listener.
	Metrics http.Handler
	// ExternalURL is where people open Rewind, for links in messages; ""
	// when not set.
	ExternalURL string
	// NotifyTransport sends test messages; nil sends them for real.
	NotifyTransport notify.Sending
	// Signin offers identity providers besides local passwords.
	Signin Signin
}

// Server serves the dashboard.
type Server struct {
	store    *sqlite.Store
	services Services
	runner   Runner
	log      *slog.Logger
	sessions *sessions.CookieStore
	throttle *auth.Throttle
	opt      Options
	now      func() time.Time
}

// New returns the dashboard server.
func New(store *sqlite.Store, services Services, runner Runner, log *slog.Logger, opt Options) *Server {
	if opt.SessionLifetime <= 0 {
		opt.SessionLifetime = 12 * time.Hour
	}
	if opt.SessionIdle <= 0 {
		opt.SessionIdle = 2 * time.Hour
	}
	// The cookie holds the session's token, the CSRF token and flash
	// messages; the server keeps the session itself and enforces its end.
	cs := sessions.NewCookieStore(opt.SessionKeys...)
	cs.Options = &sessions.Options{Path: "/", MaxAge: int(opt.SessionLifetime.Seconds()), HttpOnly: true, Secure: opt.SecureCookies, SameSite: http.SameSiteLaxMode}
	return &Server{store: store, services: services, runner: runner, log: log, sessions: cs, throttle: auth.NewThrottle(), opt: opt,
		now: func() time.Time { return time.Now().UTC() }}
}

// Handler returns the HTTP handler with every route.
func (s *Server) Handler() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = s.clientAddress()
	s.routes(e)
	return e
}

// clientAddress returns how the client's address is found: the direct peer,
// unless the peer is a trusted proxy, whose X-Forwarded-For then names it.
// Loopback, link-local and private peers are not trusted unless listed.
func (s *Server) clientAddress() echo.IPExtractor {
	if len(s.opt.TrustedProxies) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range s.opt.TrustedProxies {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}
