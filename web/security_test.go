package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/auth"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/sqlite"
)

// send makes a request with the client's cookies and returns status and body.
func (c *client) send(method, path, contentType string, body []byte, header map[string]string) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (c *client) loggedIn() bool {
	c.t.Helper()
	code, _ := c.get("/services")
	return code == http.StatusOK
}

// snapshot returns the whole content of the store but the sessions'
// last-seen times and the tokens' last use, to compare before and after a
// refused request.
func snapshot(t *testing.T, store *sqlite.Store) string {
	t.Helper()
	db := store.DB()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	var b strings.Builder
	for _, table := range tables {
		q := `SELECT * FROM "` + table + `"`
		switch table {
		case "sessions":
			q = `SELECT id, user_id, created_at, expires_at FROM sessions ORDER BY id`
		case "api_tokens": // a refused API call still counts as the token's use
			q = `SELECT id, name, username, role, environments, environment_roles, read_only, hash, expires_at, revoked_at FROM api_tokens ORDER BY id`
		}
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s %v\n", table, vals)
		}
		rows.Close()
	}
	return b.String()
}

// publicStateChanges are the only state-changing routes that need no role.
var publicStateChanges = map[string]bool{"POST /login": true, "POST /logout": true}

// crawlFixture fills the store with one of everything a route's :id may
// name, all in environment prod (ID 1), and a second environment staging:
// targets of each kind, a pending request, a workflow and its release, a
// service token and a personal token. It returns the ID to put in each
// route's :id by the path's first segment.
func crawlFixture(t *testing.T, store *sqlite.Store) map[string]string {
	t.Helper()
	ctx := context.Background()
	prod := &rewind.Environment{Name: "prod", RequiredApprovals: 1}
	staging := &rewind.Environment{Name: "staging"}
	for _, e := range []*rewind.Environment{prod, staging} {
		if err := store.SaveEnvironment(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if prod.ID != 1 {
		t.Fatalf("prod has ID %d; the crawler's form names environment 1", prod.ID)
	}
	targets := map[rewind.TargetKind]*rewind.Target{}
	for _, kind := range []rewind.TargetKind{rewind.KindService, rewind.KindConfig, rewind.KindDatabase} {
		tg := &rewind.Target{Kind: kind, EnvironmentID: prod.ID, OwnerID: 1, Namespace: "shop", Workload: "Deployment", Group: "DEFAULT_GROUP", Name: "checkout-" + string(kind)}
		if _, err := store.EnsureTarget(ctx, tg); err != nil {
			t.Fatal(err)
		}
		if _, _, err := store.RecordVersion(ctx, &rewind.Version{TargetID: tg.ID, Revision: "1", Content: "image: registry.example.com/shop/checkout:1.4.2\n", Hash: "h1",
			Source: rewind.SourceObserved}); err != nil {
			t.Fatal(err)
		}
		targets[kind] = tg
	}
	svc := targets[rewind.KindService]
	r := &rewind.Request{Kind: rewind.RequestRollback, EnvironmentID: prod.ID, Requester: "otto", Reason: "1.4.2 breaks checkout", RequiredApprovals: 1,
		Steps: []rewind.Step{{TargetID: svc.ID, Detail: "to version 1"}}}
	if err := store.CreateRequest(ctx, r, rewind.AuditEvent{Actor: "otto", Action: rewind.ActionRequest}); err != nil {
		t.Fatal(err)
	}
	w := &rewind.Workflow{Name: "shop-backend", EnvironmentID: prod.ID, TargetIDs: []int64{svc.ID}, CreatedBy: "adam"}
	if err := store.SaveWorkflow(ctx, w, rewind.AuditEvent{Actor: "adam", Action: rewind.ActionWorkflowChange}); err != nil {
		t.Fatal(err)
	}
	rel := &rewind.Release{WorkflowID: w.ID, Name: "1.4.2", StartedBy: "token:ci"}
	if err := store.StartRelease(ctx, rel, rewind.AuditEvent{Actor: "token:ci", Action: rewind.ActionReleaseStart}); err != nil {
		t.Fatal(err)
	}
	tok := &rewind.APIToken{Name: "ci", Role: rewind.RoleOperator, Prefix: "rwd_abcd", CreatedBy: "adam"}
	_, hash := rewind.NewTokenSecret()
	if err := store.CreateToken(ctx, tok, hash, rewind.AuditEvent{Actor: "adam", Action: rewind.ActionTokenCreate}); err != nil {
		t.Fatal(err)
	}
	id := func(n int64) string { return strconv.FormatInt(n, 10) }
	return map[string]string{"services": id(svc.ID), "configs": id(targets[rewind.KindConfig].ID), "databases": id(targets[rewind.KindDatabase].ID),
		"requests": id(r.ID), "workflows": id(w.ID), "releases": id(rel.ID), "settings": id(tok.ID), "profile": id(tok.ID)}
}

// fillPath puts the fixture's IDs into a route's path.
func fillPath(path string, ids map[string]string) string {
	first, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	id := ids[first]
	if id == "" {
		id = "1"
	}
	return strings.NewReplacer(":id", id, ":number", "1", ":name", "vera", "*", "x").Replace(path)
}

// TestRouteCrawler walks every route of the router: each state-changing one
// must refuse a request without a session, from each role below the one it
// needs, from users who hold the role only in another environment than the
// one of what the route names, and without or with a wrong CSRF token, and
// change nothing.
func TestRouteCrawler(t *testing.T) {
	srv, ts, store := newTestServerWith(t, Options{})
	ids := crawlFixture(t, store)
	ctx := context.Background()
	// pia sees prod as a viewer and is admin in staging; nina has no role
	// in prod and is admin in staging.
	for name, u := range map[string]*rewind.User{
		"pia":  {Role: rewind.RoleNone, EnvRoles: rewind.EnvRoles{1: rewind.RoleViewer, 2: rewind.RoleAdmin}},
		"nina": {Role: rewind.RoleNone, EnvRoles: rewind.EnvRoles{2: rewind.RoleAdmin}},
	} {
		hash, _ := auth.HashPassword("password-" + name)
		u.Username, u.PasswordHash = name, hash
		if err := store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	userOf := map[rewind.Role]string{rewind.RoleViewer: "vera", rewind.RoleOperator: "otto", rewind.RoleApprover: "anna", rewind.RoleAdmin: "adam"}
	clients, tokens := map[string]*client{}, map[string]string{}
	anon := newClient(t, ts.URL)
	clients[""], tokens[""] = anon, anon.csrf("/login")
	for _, name := range []string{"vera", "otto", "anna", "adam", "pia", "nina"} {
		c := newClient(t, ts.URL)
		c.login(name)
		clients[name], tokens[name] = c, c.csrf("/profile")
	}
	// A form that would change something on most routes had a check been missing.
	form := url.Values{"name": {"crawler"}, "required_approvals": {"0"}, "username": {"crawler"}, "role": {"admin"},
		"password": {"crawler-password"}, "reason": {"crawl"}, "sql": {"DELETE FROM t"}, "comment": {"ok"}, "version": {"1"},
		"namespaces": {"default"}, "environment": {"prod"}, "environment_id": {"1"}, "engine": {"sqlite"}, "dsn": {"file:x.db"},
		"target_id": {ids["services"]}, "env_1": {"admin"}}

	// Routes whose form needs other values to pass its own checks.
	formOf := map[string]url.Values{
		"POST /workflows":     {"environment": {"1"}, "target": {ids["services"]}, "release_timeout": {"2h"}},
		"POST /workflows/:id": {"environment": {"1"}, "target": {ids["services"]}, "release_timeout": {"2h"}},
	}
	checked, elsewhere := 0, 0
	for _, r := range srv.Routes() {
		path := fillPath(r.Path, ids)
		if r.Method == http.MethodGet && r.Scope != "" && r.Scope != Anywhere && r.Scope != Everywhere && !strings.HasSuffix(r.Path, "sql") {
			// nina cannot read prod: what a route names there does not exist for her.
			if code, _ := clients["nina"].get(path); code != http.StatusNotFound {
				t.Errorf("GET %s as nina (no role in prod): status %d, want 404", path, code)
			}
			// pia may read it (some pages need a cluster or a Nacos server
			// the fixture lacks, but none refuses her).
			if code, _ := clients["pia"].get(path); r.Role == rewind.RoleViewer && (code == http.StatusNotFound || code == http.StatusForbidden) {
				t.Errorf("GET %s as pia (viewer in prod): status %d", path, code)
			}
		}
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			continue
		}
		checked++
		key := r.Method + " " + r.Path
		t.Run(key, func(t *testing.T) {
			type attempt struct {
				who, token string
				want       []int
			}
			forbidden := []int{http.StatusForbidden}
			var attempts []attempt
			if r.Role == "" {
				if !publicStateChanges[key] {
					t.Fatalf("%s changes state and needs no role: give it one in routeList", key)
				}
				attempts = []attempt{{"", "", forbidden}, {"", "wrong-token", forbidden}}
			} else {
				need := slices.Index(rewind.Roles, r.Role)
				if need < 0 {
					t.Fatalf("unknown role %q", r.Role)
				}
				attempts = append(attempts, attempt{"", tokens[""], forbidden})
				for _, lower := range rewind.Roles[:need] {
					attempts = append(attempts, attempt{userOf[lower], tokens[userOf[lower]], forbidden})
				}
				attempts = append(attempts, attempt{userOf[r.Role], "", forbidden}, attempt{userOf[r.Role], "wrong-" + tokens[userOf[r.Role]], forbidden})
				// The role in another environment does not count; where the
				// route names nothing, its use case checks the environment
				// the form names (prod).
				if !strings.HasPrefix(r.Path, "/profile/") {
					notHere := []int{http.StatusForbidden, http.StatusNotFound}
					attempts = append(attempts, attempt{"pia", tokens["pia"], notHere}, attempt{"nina", tokens["nina"], notHere})
					elsewhere++
				}
			}
			for _, a := range attempts {
				before := snapshot(t, store)
				f := url.Values{}
				for k, v := range form {
					f[k] = v
				}
				for k, v := range formOf[key] {
					f[k] = v
				}
				if a.token != "" {
					f.Set("csrf_token", a.token)
				}
				code, _ := clients[a.who].send(r.Method, path, "application/x-www-form-urlencoded", []byte(f.Encode()), nil)
				if !slices.Contains(a.want, code) {
					t.Errorf("as %q with token %q: status %d, want %v", a.who, a.token, code, a.want)
				}
				if after := snapshot(t, store); after != before {
					t.Errorf("as %q with token %q: the store changed", a.who, a.token)
				}
			}
		})
	}
	if checked < 20 || elsewhere < 20 {
		t.Fatalf("only %d state-changing routes found, %d checked with roles elsewhere", checked, elsewhere)
	}
	// The logged-in clients are still logged in: the refusals ended nothing.
	for name, c := range clients {
		if name != "" && !c.loggedIn() {
			t.Errorf("%s was logged out by the crawl", name)
		}
	}
}

func TestUnknownURLsAreNotFound(t *testing.T) {
	_, ts, _ := newTestServerWith(t, Options{})
	for _, who := range []string{"", "vera", "otto", "anna", "adam"} {
		c := newClient(t, ts.URL)
		token := c.csrf("/login")
		if who != "" {
			c.login(who)
			token = c.csrf("/audit")
		}
		for _, req := range []struct{ method, path string }{
			{"GET", "/nope"}, {"GET", "/settings/nope"}, {"GET", "/services/1/nope"}, {"GET", "/configs/1/nope/deeper"},
			{"GET", "/settings/users/vera/nope"}, {"POST", "/nope"}, {"POST", "/settings/nope"}, {"POST", "/services/1/nope"},
		} {
			t.Run(fmt.Sprintf("%s %s as %q", req.method, req.path, who), func(t *testing.T) {
				code, _ := c.send(req.method, req.path, "application/x-www-form-urlencoded", []byte("csrf_token="+url.QueryEscape(token)), nil)
				if code != http.StatusNotFound {
					t.Errorf("status %d, want 404", code)
				}
			})
		}
	}
}

// testClock is a clock that tests move by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestSessionsEnd(t *testing.T) {
	_, ts, store := newTestServerWith(t, Options{})
	ctx := context.Background()
	adam := newClient(t, ts.URL)
	adam.login("adam")
	token := adam.csrf("/settings")
	loginAs := func(name, pw string) *client {
		t.Helper()
		c := newClient(t, ts.URL)
		csrf := c.csrf("/login")
		if code, _ := c.post("/login", url.Values{"csrf_token": {csrf}, "username": {name}, "password": {pw}}); code != http.StatusSeeOther {
			t.Fatalf("login %s: %d", name, code)
		}
		return c
	}

	t.Run("password change", func(t *testing.T) {
		v1, v2 := loginAs("vera", "password-vera"), loginAs("vera", "password-vera")
		if code, _ := adam.post("/settings/users/vera", url.Values{"csrf_token": {token}, "role": {"viewer"}, "password": {"new-password-vera"}}); code != http.StatusSeeOther {
			t.Fatalf("change password: %d", code)
		}
		if v1.loggedIn() || v2.loggedIn() {
			t.Error("vera's sessions survived the password change")
		}
	})
	t.Run("role change", func(t *testing.T) {
		v := loginAs("vera", "new-password-vera")
		if code, _ := adam.post("/settings/users/vera", url.Values{"csrf_token": {token}, "role": {"viewer"}}); code != http.StatusSeeOther || !v.loggedIn() {
			t.Fatalf("saving the same role: %d, logged in %v", code, v.loggedIn())
		}
		if code, _ := adam.post("/settings/users/vera", url.Values{"csrf_token": {token}, "role": {"operator"}}); code != http.StatusSeeOther {
			t.Fatalf("change role: %d", code)
		}
		if v.loggedIn() {
			t.Error("vera's session survived the role change")
		}
	})
	t.Run("own password keeps own session", func(t *testing.T) {
		other := loginAs("adam", "password-adam")
		if code, _ := adam.post("/settings/users/adam", url.Values{"csrf_token": {token}, "role": {"admin"}, "password": {"new-password-adam"}}); code != http.StatusSeeOther {
			t.Fatalf("change own password: %d", code)
		}
		if !adam.loggedIn() || other.loggedIn() {
			t.Errorf("after changing own password: this session %v, other %v; want true, false", adam.loggedIn(), other.loggedIn())
		}
	})
	t.Run("logout ends the record", func(t *testing.T) {
		o := loginAs("otto", "password-otto")
		u, _ := url.Parse(ts.URL)
		saved := o.http.Jar.Cookies(u)
		if code, _ := o.post("/logout", url.Values{"csrf_token": {o.csrf("/audit")}}); code != http.StatusSeeOther {
			t.Fatalf("logout: %d", code)
		}
		replay := newClient(t, ts.URL)
		replay.http.Jar.SetCookies(u, saved)
		if replay.loggedIn() {
			t.Error("the cookie of a logged-out session still logs in")
		}
	})
	t.Run("admin ends a session", func(t *testing.T) {
		o := loginAs("otto", "password-otto")
		_, page := adam.get("/settings")
		if !strings.Contains(page, `data-testid="sessions"`) || strings.Count(page, `data-testid="session-row"`) != 2 {
			t.Fatalf("settings shows %d sessions, want 2 (adam, otto)", strings.Count(page, `data-testid="session-row"`))
		}
		sessions, err := store.ActiveSessions(ctx, time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		var id string
		for _, ss := range sessions {
			if ss.Username == "otto" {
				id = ss.ID
				if ss.Address != "127.0.0.1" || !strings.Contains(ss.UserAgent, "Go-http-client") {
					t.Errorf("session address %q, user agent %q", ss.Address, ss.UserAgent)
				}
			}
		}
		if !strings.Contains(page, "/settings/sessions/"+id+"/delete") {
			t.Fatal("no end button for otto's session")
		}
		if code, _ := adam.post("/settings/sessions/"+id+"/delete", url.Values{"csrf_token": {token}}); code != http.StatusSeeOther {
			t.Fatalf("end session: %d", code)
		}
		if o.loggedIn() {
			t.Error("otto is still logged in")
		}
		if code, _ := adam.post("/settings/sessions/"+id+"/delete", url.Values{"csrf_token": {token}}); code != http.StatusNotFound {
			t.Errorf("ending it again: %d, want 404", code)
		}
	})
}

func TestSessionLifetime(t *testing.T) {
	clk := &testClock{now: time.Date(2026, 1, 2, 8, 0, 0, 0, time.UTC)}
	_, ts, store := newTestServerWith(t, Options{SessionLifetime: 3 * time.Hour, SessionIdle: time.Hour}, func(s *Server) { s.now = clk.Now })
	lastSeen := func() time.Time {
		t.Helper()
		var s string
		if err := store.DB().QueryRow(`SELECT last_seen FROM sessions`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		at, _ := time.Parse(time.RFC3339Nano, s)
		return at
	}

	c := newClient(t, ts.URL)
	c.login("vera")
	start := clk.Now()
	steps := []struct {
		after    time.Duration
		loggedIn bool
		seen     time.Duration // last seen, from start, after the request
	}{
		{10 * time.Second, true, 0}, // no write within a minute
		{20 * time.Second, true, 0},
		{40 * time.Second, true, 70 * time.Second},
		{59 * time.Minute, true, 70*time.Second + 59*time.Minute},
		{59 * time.Minute, true, 70*time.Second + 118*time.Minute},
		{59 * time.Minute, true, 70*time.Second + 177*time.Minute}, // 2h58m10s
		{2 * time.Minute, false, 70*time.Second + 177*time.Minute}, // past the 3h lifetime
	}
	for i, st := range steps {
		clk.Add(st.after)
		if got := c.loggedIn(); got != st.loggedIn {
			t.Fatalf("step %d (%v after start): logged in %v, want %v", i, clk.Now().Sub(start), got, st.loggedIn)
		}
		if st.loggedIn {
			if got := lastSeen().Sub(start); got != st.seen {
				t.Errorf("step %d: last seen %v after start, want %v", i, got, st.seen)
			}
		}
	}
	var n int
	store.DB().QueryRow(`SELECT COUNT(*) FROM sessions`).Scan(&n)
	if n != 0 {
		t.Errorf("%d session rows left after expiry", n)
	}

	idle := newClient(t, ts.URL)
	idle.login("otto")
	clk.Add(time.Hour + time.Second)
	if idle.loggedIn() {
		t.Error("a session idle for over an hour still logs in")
	}
}

func TestLoginNext(t *testing.T) {
	tests := []struct{ next, want string }{
		{"/services/3?page=2", "/services/3?page=2"},
		{"/audit", "/audit"},
		{"", "/"},
		{"services", "/"},
		{"//evil.example", "/"},
		{"/\\evil.example", "/"},
		{"/x\\y", "/"},
		{"/%2f%2fevil.example", "/"},
		{"/%2F/evil.example", "/"},
		{"/%252f%252fevil.example", "/"},
		{"/%5cevil.example", "/"},
		{"/a\r\nSet-Cookie: x=1", "/"},
		{"/a\tb", "/"},
		{"/a%0d%0ab", "/"},
		{"/a\x00", "/"},
		{"https://evil.example/", "/"},
		{"javascript:alert(1)", "/"},
		{"/login?next=//evil", "/"},
		{" /audit", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.next, func(t *testing.T) {
			if got := safeNext(tt.next); got != tt.want {
				t.Errorf("safeNext(%q) = %q, want %q", tt.next, got, tt.want)
			}
		})
	}
	_, ts, _ := newTestServerWith(t, Options{})
	c := newClient(t, ts.URL)
	token := c.csrf("/login")
	resp, err := c.http.PostForm(ts.URL+"/login", url.Values{"csrf_token": {token}, "username": {"vera"}, "password": {"password-vera"}, "next": {"/%2f%2fevil.example"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Location"); got != "/" {
		t.Errorf("redirect after login to %q, want /", got)
	}
}

func TestPageParam(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"", 1}, {"1", 1}, {"7", 7}, {"0", 1}, {"-5", 1}, {"x", 1}, {"1e3", 1},
		{"1000000", maxPage}, {"1000001", maxPage}, {"9223372036854775807", maxPage},
		{"99999999999999999999999", maxPage}, {"-99999999999999999999999", 1},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := parsePage(tt.in)
			if got != tt.want {
				t.Errorf("parsePage(%q) = %d, want %d", tt.in, got, tt.want)
			}
			if off := pageOffset(got, 1000); off < 0 {
				t.Errorf("offset %d", off)
			}
		})
	}
	_, ts, _ := newTestServerWith(t, Options{})
	c := newClient(t, ts.URL)
	c.login("vera")
	for _, p := range []string{"9223372036854775807", "-9223372036854775808", "4611686018427387904"} {
		if code, _ := c.get("/audit?page=" + p); code != http.StatusOK {
			t.Errorf("/audit?page=%s: %d", p, code)
		}
	}
}

func TestLoginThrottleAddress(t *testing.T) {
	tests := []struct {
		name      string
		proxies   []string
		throttled bool   // the 11th user from "different" addresses
		auditFrom string // address in the audit trail
	}{
		{"no proxy: X-Forwarded-For ignored", nil, true, "from 127.0.0.1"},
		{"trusted proxy: X-Forwarded-For believed", []string{"127.0.0.0/8"}, false, "from 203.0.113.1"},
		{"other proxy: X-Forwarded-For ignored", []string{"10.0.0.0/8"}, true, "from 127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var nets []*net.IPNet
			for _, p := range tt.proxies {
				_, n, _ := net.ParseCIDR(p)
				nets = append(nets, n)
			}
			_, ts, store := newTestServerWith(t, Options{TrustedProxies: nets})
			c := newClient(t, ts.URL)
			token := c.csrf("/login")
			try := func(i int) int {
				body := url.Values{"csrf_token": {token}, "username": {fmt.Sprintf("guess%d", i)}, "password": {"nope"}}.Encode()
				code, _ := c.send("POST", "/login", "application/x-www-form-urlencoded", []byte(body),
					map[string]string{"X-Forwarded-For": fmt.Sprintf("203.0.113.%d", i+1)})
				return code
			}
			for i := 0; i < 10; i++ {
				if code := try(i); code != http.StatusUnauthorized {
					t.Fatalf("guess %d: %d", i, code)
				}
			}
			if got := try(10) == http.StatusTooManyRequests; got != tt.throttled {
				t.Errorf("11th guess throttled = %v, want %v", got, tt.throttled)
			}
			events, _, _ := store.Audit(context.Background(), rewind.AuditFilter{Actor: "guess0"})
			if len(events) != 1 || events[0].Detail != tt.auditFrom {
				t.Errorf("audit of guess0: %+v, want detail %q", events, tt.auditFrom)
			}
		})
	}
}

func TestParallelLogins(t *testing.T) {
	_, ts, _ := newTestServerWith(t, Options{})
	c := newClient(t, ts.URL)
	token := c.csrf("/login")
	body := []byte(url.Values{"csrf_token": {token}, "username": {"vera"}, "password": {"wrong"}}.Encode())
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.http.Post(ts.URL+"/login", "application/x-www-form-urlencoded", bytes.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			codes[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes[http.StatusUnauthorized] > 3 || codes[http.StatusUnauthorized]+codes[http.StatusTooManyRequests] != 50 {
		t.Errorf("statuses %v: want at most 3 checked (401), the rest 429", codes)
	}
}

func TestFailedLoginAudit(t *testing.T) {
	_, ts, store := newTestServerWith(t, Options{})
	c := newClient(t, ts.URL)
	// Failed logins are counted per minute: keep the attempts in one.
	if now := time.Now(); now.Second() >= 55 {
		time.Sleep(time.Until(now.Truncate(time.Minute).Add(time.Minute)))
	}
	token := c.csrf("/login")
	for _, name := range []string{"bad\x1b[31mname\r\nforged", "bad\x1b[31mname\r\nforged", strings.Repeat("é", 64)} {
		if code, _ := c.post("/login", url.Values{"csrf_token": {token}, "username": {name}, "password": {"x"}}); code != http.StatusUnauthorized {
			t.Fatalf("login %q: %d", name, code)
		}
	}
	events, _, err := store.Audit(context.Background(), rewind.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range events {
		got = append(got, e.Actor+" | "+e.Detail)
	}
	want := []string{strings.Repeat("é", 64) + " | from 127.0.0.1", "bad[31mnameforged | from 127.0.0.1 (2 attempts)"}
	if !slices.Equal(got, want) {
		t.Errorf("audit rows\n%q\nwant\n%q", got, want)
	}
}

func TestBodyLimits(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	_, ts, store := newTestServerWith(t, Options{})
	anon := newClient(t, ts.URL)
	anonToken := anon.csrf("/login")
	adam := newClient(t, ts.URL)
	adam.login("adam")
	token := adam.csrf("/settings")

	multipartBody := func(fields map[string]string, file []byte) ([]byte, string) {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		for k, v := range fields {
			w.WriteField(k, v)
		}
		if file != nil {
			fw, _ := w.CreateFormFile("upload", "big.bin")
			fw.Write(file)
		}
		w.Close()
		return b.Bytes(), w.FormDataContentType()
	}
	form := func(v url.Values) ([]byte, string) { return []byte(v.Encode()), "application/x-www-form-urlencoded" }

	tests := []struct {
		name string
		c    *client
		path string
		body func() ([]byte, string)
		want int
	}{
		{"anonymous login over 16 KiB", anon, "/login", func() ([]byte, string) {
			return form(url.Values{"csrf_token": {anonToken}, "username": {"vera"}, "password": {strings.Repeat("p", 20<<10)}})
		}, http.StatusRequestEntityTooLarge},
		{"anonymous multipart file", anon, "/login", func() ([]byte, string) {
			return multipartBody(map[string]string{"csrf_token": anonToken}, bytes.Repeat([]byte("x"), 20<<10))
		}, http.StatusRequestEntityTooLarge},
		{"admin form over 2 MiB", adam, "/settings/environments", func() ([]byte, string) {
			return form(url.Values{"csrf_token": {token}, "name": {strings.Repeat("n", 2<<20)}, "required_approvals": {"0"}})
		}, http.StatusRequestEntityTooLarge},
		{"admin multipart with a file", adam, "/settings/environments", func() ([]byte, string) {
			return multipartBody(map[string]string{"csrf_token": token, "name": "filed", "required_approvals": "0"}, bytes.Repeat([]byte("x"), 1<<20))
		}, http.StatusUnsupportedMediaType},
		{"admin multipart form", adam, "/settings/environments", func() ([]byte, string) {
			return multipartBody(map[string]string{"csrf_token": token, "name": "multi", "required_approvals": "0"}, nil)
		}, http.StatusSeeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, ct := tt.body()
			before := snapshot(t, store)
			code, page := tt.c.send("POST", tt.path, ct, body, nil)
			if code != tt.want {
				t.Fatalf("status %d, want %d", code, tt.want)
			}
			if code == http.StatusRequestEntityTooLarge && !strings.Contains(page, "nothing was saved") {
				t.Errorf("413 page does not say what happened:\n%s", page)
			}
			if code == http.StatusRequestEntityTooLarge && tt.path == "/login" && !strings.Contains(page, `data-testid="login-form"`) {
				t.Error("a too large login gets no login form")
			}
			if code != http.StatusSeeOther && snapshot(t, store) != before {
				t.Error("the store changed")
			}
			if left, _ := os.ReadDir(tmp); len(left) > 0 {
				t.Errorf("files written to the temp dir: %v", left)
			}
		})
	}
	if _, err := store.EnvironmentByName(context.Background(), "multi"); err != nil {
		t.Errorf("multipart form not taken: %v", err)
	}
}

func TestOverlongFieldsKeepForm(t *testing.T) {
	_, ts, store := newTestServerWith(t, Options{})
	anon := newClient(t, ts.URL)
	long := strings.Repeat("v", 65)
	code, page := anon.post("/login", url.Values{"csrf_token": {anon.csrf("/login")}, "username": {long}, "password": {"x"}, "next": {"/audit"}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(page, `value="`+long+`"`) || !strings.Contains(page, "at most 64 characters") || !strings.Contains(page, `value="/audit"`) {
		t.Errorf("long username: status %d; form kept the name %v, says why %v", code, strings.Contains(page, long), strings.Contains(page, "at most 64"))
	}
	adam := newClient(t, ts.URL)
	adam.login("adam")
	code, page = adam.post("/settings/users", url.Values{"csrf_token": {adam.csrf("/settings")}, "username": {"newbie"}, "role": {"approver"}, "password": {strings.Repeat("p", 200)}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(page, `value="newbie"`) || !strings.Contains(page, `<option value="approver" selected>`) {
		t.Errorf("long password: status %d, form kept name %v, role %v", code, strings.Contains(page, `value="newbie"`), strings.Contains(page, `value="approver" selected`))
	}
	if strings.Contains(page, strings.Repeat("p", 200)) {
		t.Error("the password was sent back")
	}
	if _, err := store.UserByName(context.Background(), "newbie"); err == nil {
		t.Error("user created")
	}
}

// TestFailedLoginFloodIsBounded sends failed logins of many usernames from
// many addresses (through a trusted proxy, so each counts as its own
// client): the audit trail takes at most MaxLoginFailureRows rows a minute
// and one row that counts the rest.
func TestFailedLoginFloodIsBounded(t *testing.T) {
	_, proxy, _ := net.ParseCIDR("127.0.0.0/8")
	_, ts, store := newTestServerWith(t, Options{TrustedProxies: []*net.IPNet{proxy}})
	c := newClient(t, ts.URL)
	token := c.csrf("/login")
	const n = sqlite.MaxLoginFailureRows + 30
	hash, _ := auth.HashPassword("right-password") // a known user's check is quick in tests
	for i := 0; i < n; i++ {
		if err := store.CreateUser(context.Background(), &rewind.User{Username: fmt.Sprintf("flood%d", i), Role: rewind.RoleViewer, PasswordHash: hash}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		body := url.Values{"csrf_token": {token}, "username": {fmt.Sprintf("flood%d", i)}, "password": {"x"}}.Encode()
		code, _ := c.send("POST", "/login", "application/x-www-form-urlencoded", []byte(body),
			map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.%d.%d", i/250, i%250+1)})
		if code != http.StatusUnauthorized {
			t.Fatalf("login %d: %d", i, code)
		}
	}
	if !time.Now().Truncate(time.Minute).Equal(start.Truncate(time.Minute)) {
		t.Skip("the flood crossed a minute boundary; its rows are split over two minutes")
	}
	_, total, err := store.Audit(context.Background(), rewind.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if want := sqlite.MaxLoginFailureRows + 1; total != want {
		t.Errorf("%d audit rows after %d failed logins, want %d", total, n, want)
	}
	others, _, _ := store.Audit(context.Background(), rewind.AuditFilter{Actor: sqlite.LoginFailureOthers})
	if len(others) != 1 || others[0].Detail != "from many addresses (30 attempts)" {
		t.Errorf("overflow row: %+v", others)
	}
}

// TestAPIRouteCrawler sends every state-changing API route, with a body
// that would change something, from service tokens that hold every role but
// only in another environment than prod, where the fixture's targets,
// request, workflow and release are: each is refused and changes nothing.
func TestAPIRouteCrawler(t *testing.T) {
	srv, ts, store := newTestServerWith(t, Options{})
	ids := crawlFixture(t, store)
	ctx := context.Background()
	tokens := map[string]string{}
	for name, tok := range map[string]*rewind.APIToken{
		"staging-admin": {Role: rewind.RoleNone, EnvRoles: rewind.EnvRoles{2: rewind.RoleAdmin}},
		"prod-viewer":   {Role: rewind.RoleAdmin, EnvRoles: rewind.EnvRoles{1: rewind.RoleViewer}},
		"bound-staging": {Role: rewind.RoleAdmin, Environments: []int64{2}},
	} {
		secret, hash := rewind.NewTokenSecret()
		tok.Name, tok.Prefix, tok.CreatedBy = name, secret[:8], "adam"
		if err := store.CreateToken(ctx, tok, hash, rewind.AuditEvent{Actor: "adam", Action: rewind.ActionTokenCreate}); err != nil {
			t.Fatal(err)
		}
		tokens[name] = secret
	}
	body := fmt.Sprintf(`{"target_id": %s, "to_version": 1, "reason": "crawl", "comment": "ok", "sql": "DELETE FROM t", "name": "crawler",
		"environment": "prod", "target_ids": [%s], "workflow": "shop-backend", "plan": "x"}`, ids["services"], ids["services"])
	checked := 0
	for _, r := range srv.apiRouteList() {
		if r.method == http.MethodGet || r.need == public {
			continue
		}
		checked++
		path := "/api/v1" + fillPath(r.path, ids)
		for name, secret := range tokens {
			before := snapshot(t, store)
			req, _ := http.NewRequest(r.method, ts.URL+path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+secret)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s %s with %s: status %d, want a refusal", r.method, path, name, resp.StatusCode)
			}
			if snapshot(t, store) != before {
				t.Errorf("%s %s with %s: the store changed", r.method, path, name)
			}
		}
	}
	if checked < 15 {
		t.Fatalf("only %d state-changing API routes found", checked)
	}
}
