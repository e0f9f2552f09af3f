package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/auth"
	"github.com/rewindhq/rewind/internal/postgres/pgtest"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/secret"
	"github.com/rewindhq/rewind/internal/sqlite"
)

// noClusters is the Services of a Rewind with no cluster registered.
type noClusters struct{}

func (noClusters) Status(context.Context, *rewind.Target) (*rewind.RolloutStatus, error) {
	return nil, rewind.Errorf(rewind.EUNAVAILABLE, "no cluster")
}
func (noClusters) Preflight(context.Context, *rewind.Target, *rewind.Version) (string, error) {
	return "", rewind.Errorf(rewind.EUNAVAILABLE, "no cluster")
}
func (noClusters) Health(context.Context) map[string]error { return nil }
func (noClusters) AddCluster(*rewind.Cluster) error        { return nil }
func (noClusters) RemoveCluster(int64)                     {}

type wakeCounter struct{ n int }

func (w *wakeCounter) Wake() { w.n++ }

func newTestServer(t *testing.T) (*httptest.Server, *sqlite.Store) {
	t.Helper()
	_, ts, store := newTestServerWith(t, Options{})
	return ts, store
}

// newTestServerWith starts a server with opt (session keys added) and the
// users vera (viewer), otto (operator), anna (approver) and adam (admin),
// each with password "password-" + name.
func newTestServerWith(t *testing.T, opt Options, setup ...func(*Server)) (*Server, *httptest.Server, *sqlite.Store) {
	t.Helper()
	box, err := secret.NewBox(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(context.Background(), testStoreName(t), box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	for _, u := range []struct {
		name string
		role rewind.Role
	}{{"vera", rewind.RoleViewer}, {"otto", rewind.RoleOperator}, {"anna", rewind.RoleApprover}, {"adam", rewind.RoleAdmin}} {
		hash, _ := auth.HashPassword("password-" + u.name)
		if err := store.CreateUser(context.Background(), &rewind.User{Username: u.name, Role: u.role, PasswordHash: hash}); err != nil {
			t.Fatal(err)
		}
	}
	opt.SessionKeys = [][]byte{make([]byte, 32), make([]byte, 32)}
	srv := New(store, noClusters{}, &wakeCounter{}, slog.New(slog.NewTextHandler(io.Discard, nil)), opt)
	for _, f := range setup {
		f(srv)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return srv, ts, store
}

// testStoreName names a new, empty store for a test: a SQLite file, or
// with REWIND_TEST_STORE=postgres a PostgreSQL store (pages and benchmarks
// on the engine replicas share).
func testStoreName(t testing.TB) string {
	if os.Getenv("REWIND_TEST_STORE") == "postgres" {
		return pgtest.NewStore(t)
	}
	return filepath.Join(t.TempDir(), "rewind.db")
}

// client is a browser-like HTTP client with its own cookies.
type client struct {
	t    *testing.T
	base string
	http *http.Client
}

func newClient(t *testing.T, base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: base, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *client) get(path string) (int, string) {
	c.t.Helper()
	resp, err := c.http.Get(c.base + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (c *client) post(path string, form url.Values) (int, string) {
	c.t.Helper()
	resp, err := c.http.PostForm(c.base+path, form)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

var csrfRe = regexp.MustCompile(`name="csrf-token" content="([^"]+)"`)

// csrf reads the CSRF token from a page.
func (c *client) csrf(path string) string {
	c.t.Helper()
	_, body := c.get(path)
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		c.t.Fatalf("no CSRF token on %s", path)
	}
	return m[1]
}

func (c *client) login(user string) {
	c.t.Helper()
	token := c.csrf("/login")
	code, _ := c.post("/login", url.Values{"csrf_token": {token}, "username": {user}, "password": {"password-" + user}})
	if code != http.StatusSeeOther {
		c.t.Fatalf("login %s: status %d", user, code)
	}
}

func TestLoginAndAccess(t *testing.T) {
	ts, store := newTestServer(t)
	c := newClient(t, ts.URL)
	if code, _ := c.get("/services"); code != http.StatusSeeOther {
		t.Fatalf("anonymous /services = %d, want redirect to login", code)
	}
	token := c.csrf("/login")
	code, body := c.post("/login", url.Values{"csrf_token": {token}, "username": {"vera"}, "password": {"wrong"}})
	if code != http.StatusUnauthorized || !strings.Contains(body, "Wrong username or password") {
		t.Fatalf("bad login = %d", code)
	}
	if code, _ := c.post("/login", url.Values{"username": {"vera"}, "password": {"password-vera"}}); code != http.StatusForbidden {
		t.Fatalf("login without CSRF = %d, want 403", code)
	}
	c.login("vera")
	if code, body := c.get("/services"); code != http.StatusOK || !strings.Contains(body, "No cluster yet") {
		t.Fatalf("/services = %d", code)
	}
	events, _, err := store.Audit(context.Background(), rewind.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
	}
	if got, want := strings.Join(actions, ","), "login,login.failed"; got != want {
		t.Errorf("audit actions = %s, want %s", got, want)
	}
}

func TestStateChangesNeedRoleAndCSRF(t *testing.T) {
	ts, store := newTestServer(t)
	tests := []struct {
		user     string
		withCSRF bool
		want     int
	}{
		{"", true, http.StatusForbidden},
		{"vera", true, http.StatusForbidden},
		{"otto", true, http.StatusForbidden},
		{"adam", false, http.StatusForbidden},
		{"adam", true, http.StatusSeeOther},
	}
	for _, tt := range tests {
		t.Run(tt.user+map[bool]string{true: "+csrf", false: "-csrf"}[tt.withCSRF], func(t *testing.T) {
			c := newClient(t, ts.URL)
			if tt.user != "" {
				c.login(tt.user)
			}
			form := url.Values{"name": {"prod-" + tt.user}, "required_approvals": {"1"}}
			if tt.withCSRF {
				page := "/login"
				if tt.user != "" {
					page = "/audit"
				}
				form.Set("csrf_token", c.csrf(page))
			}
			code, _ := c.post("/settings/environments", form)
			if code != tt.want {
				t.Fatalf("status = %d, want %d", code, tt.want)
			}
			_, err := store.EnvironmentByName(context.Background(), "prod-"+tt.user)
			if created := err == nil; created != (tt.want == http.StatusSeeOther) {
				t.Errorf("environment created = %v with status %d", created, code)
			}
		})
	}
}

func TestThrottledLogin(t *testing.T) {
	ts, _ := newTestServer(t)
	c := newClient(t, ts.URL)
	token := c.csrf("/login")
	var last int
	for i := 0; i < 4; i++ {
		last, _ = c.post("/login", url.Values{"csrf_token": {token}, "username": {"vera"}, "password": {"nope"}})
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("4th failed login = %d, want 429", last)
	}
	code, _ := c.post("/login", url.Values{"csrf_token": {token}, "username": {"vera"}, "password": {"password-vera"}})
	if code != http.StatusTooManyRequests {
		t.Errorf("right password while throttled = %d, want 429", code)
	}
}

func TestSettingsEscapesAndValidates(t *testing.T) {
	ts, store := newTestServer(t)
	c := newClient(t, ts.URL)
	c.login("adam")
	token := c.csrf("/settings")
	code, body := c.post("/settings/users", url.Values{"csrf_token": {token}, "username": {"<script>x"}, "role": {"viewer"}, "password": {"long-enough-pw"}})
	if code != http.StatusUnprocessableEntity || strings.Contains(body, "<script>x") {
		t.Fatalf("bad username: status %d, escaped=%v", code, !strings.Contains(body, "<script>x"))
	}
	code, _ = c.post("/settings/users", url.Values{"csrf_token": {token}, "username": {"newbie"}, "role": {"operator"}, "password": {"short"}})
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("short password: status %d", code)
	}
	if _, err := store.UserByName(context.Background(), "newbie"); err == nil {
		t.Error("user with short password was created")
	}
	code, _ = c.post("/settings/clusters", url.Values{"csrf_token": {token}, "name": {"prod"}, "environment_id": {"1"}, "kubeconfig": {"apiVersion: v1\nusers:\n- name: x\n  user:\n    token: SECRET-TOKEN-123\n"}, "namespaces": {"default"}})
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("cluster without environment: status %d", code)
	}
	code, _ = c.post("/settings/environments", url.Values{"csrf_token": {token}, "name": {"prod"}, "required_approvals": {"1"}})
	if code != http.StatusSeeOther {
		t.Fatalf("add environment: %d", code)
	}
	env, _ := store.EnvironmentByName(context.Background(), "prod")
	code, _ = c.post("/settings/clusters", url.Values{"csrf_token": {token}, "name": {"prod"}, "environment_id": {itoa(env.ID)}, "kubeconfig": {"apiVersion: v1\nusers:\n- name: x\n  user:\n    token: SECRET-TOKEN-123\n"}, "namespaces": {"default"}})
	if code != http.StatusSeeOther {
		t.Fatalf("add cluster: %d", code)
	}
	_, body = c.get("/settings")
	if strings.Contains(body, "SECRET-TOKEN-123") {
		t.Error("settings page shows the cluster token")
	}
	var sealed []byte
	if err := store.DB().QueryRow(`SELECT kubeconfig_enc FROM clusters WHERE name = 'prod'`).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), "SECRET-TOKEN-123") {
		t.Error("kubeconfig stored in plain text")
	}
	_, csv := c.get("/audit.csv")
	if strings.Contains(csv, "SECRET-TOKEN-123") || !strings.Contains(csv, "settings.change") {
		t.Errorf("audit CSV:\n%s", csv)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// newProdStore opens a store in a temp dir with the users vera (viewer),
// otto (operator), anna (approver) and adam (admin), whose passwords are
// "password-" and their name, and an environment prod that needs one
// approval.
func newProdStore(t testing.TB) (*sqlite.Store, *rewind.Environment) {
	t.Helper()
	ctx := context.Background()
	box, err := secret.NewBox(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(ctx, testStoreName(t), box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	for _, u := range []struct {
		name string
		role rewind.Role
	}{{"vera", rewind.RoleViewer}, {"otto", rewind.RoleOperator}, {"anna", rewind.RoleApprover}, {"adam", rewind.RoleAdmin}} {
		hash, _ := auth.HashPassword("password-" + u.name)
		if err := store.CreateUser(ctx, &rewind.User{Username: u.name, Role: u.role, PasswordHash: hash}); err != nil {
			t.Fatal(err)
		}
	}
	env := &rewind.Environment{Name: "prod", RequiredApprovals: 1}
	if err := store.SaveEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	return store, env
}
