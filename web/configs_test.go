package web

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/auth"
	"github.com/rewindhq/rewind/internal/configs"
	"github.com/rewindhq/rewind/internal/nacos"
	"github.com/rewindhq/rewind/internal/nacos/nacostest"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/secret"
	"github.com/rewindhq/rewind/internal/sqlite"
)

// cfgServer is a Rewind following one stand-in Nacos server (environment
// prod, one approval needed), with the real config backend; requests are
// made but not executed (configs_test in internal/configs runs them).
type cfgServer struct {
	url    string
	store  *sqlite.Store
	nacos  *nacostest.Server
	server *rewind.NacosServer
	m      *configs.Manager
	wake   *wakeCounter
}

const appYAML = "server:\n  port: 8080\ndb:\n  url: jdbc:mysql://db/shop\n  password: hunter2-<secret>\n"

var appKey = nacostest.Key{Group: "DEFAULT_GROUP", DataID: "app.yaml"}

func newCfgServer(t testing.TB) *cfgServer {
	t.Helper()
	ctx := context.Background()
	box, err := secret.NewBox(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "rewind.db"), box)
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
	srv := nacostest.Start(t, nacostest.Options{Mode: nacostest.Mode2})
	srv.Seed(appKey, "yaml", appYAML)
	reg := &rewind.NacosServer{Name: "nacos-prod", EnvironmentID: env.ID, Addr: srv.Addr(), Username: srv.Username(), Password: srv.Password()}
	if err := store.SaveNacosServer(ctx, reg); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "rewind-web-nacos-")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := configs.New(store, configs.Options{DataDir: dir, FollowInterval: 300 * time.Millisecond, HealthInterval: 200 * time.Millisecond, Log: log})
	runCtx, stop := context.WithCancel(ctx)
	m.Start(runCtx, []*rewind.NacosServer{reg})
	t.Cleanup(func() { stop(); m.Stop(); _ = os.RemoveAll(dir) })
	wake := &wakeCounter{}
	web := New(store, noClusters{}, wake, log, Options{SessionKeys: [][]byte{make([]byte, 32), make([]byte, 32)}, Configs: m})
	ts := httptest.NewServer(web.Handler())
	t.Cleanup(ts.Close)
	return &cfgServer{url: ts.URL, store: store, nacos: srv, server: reg, m: m, wake: wake}
}

// waitUntil polls cond; the deadline only keeps a broken test from hanging.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// target waits until the config is recorded with n versions, history included.
func (s *cfgServer) target(t testing.TB, dataID string, n int) *rewind.Target {
	t.Helper()
	var tg *rewind.Target
	waitUntil(t, dataID+" is recorded", func() bool {
		sums, err := s.store.ConfigSummaries(context.Background(), sqlite.ConfigFilter{DataID: dataID, WithDeleted: true})
		if err != nil || len(sums) == 0 {
			return false
		}
		tg = sums[0].Target
		vs, err := s.m.Versions(context.Background(), tg)
		if err != nil || len(vs) != n {
			return false
		}
		for _, v := range vs {
			if v.HistoryID == "" {
				return false
			}
		}
		return true
	})
	return tg
}

func (s *cfgServer) path(t *rewind.Target, suffix string) string {
	return "/configs/" + strconv.FormatInt(t.ID, 10) + suffix
}

var dataNumber = regexp.MustCompile(`data-testid="config-version" data-number="(\d+)"`)

// versionNumbers lists the version numbers on a config page, newest first.
func versionNumbers(body string) []string {
	var out []string
	for _, m := range dataNumber.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestConfigPagesMaskSecretsUnlessRevealed(t *testing.T) {
	s := newCfgServer(t)
	s.nacos.Publish(appKey, strings.Replace(appYAML, "hunter2-<secret>", "swordfish-2", 1))
	tg := s.target(t, "app.yaml", 2)

	vera := newClient(t, s.url)
	vera.login("vera")
	code, body := vera.get("/configs")
	if code != http.StatusOK || !strings.Contains(body, `data-data-id="app.yaml"`) || !strings.Contains(body, "Nacos 2.3.2") {
		t.Fatalf("/configs = %d, want the config and the server's version", code)
	}
	code, body = vera.get(s.path(tg, ""))
	if code != http.StatusOK {
		t.Fatalf("config page = %d", code)
	}
	for _, secret := range []string{"swordfish-2", "hunter2"} {
		if strings.Contains(body, secret) {
			t.Errorf("config page shows the secret %q to a viewer", secret)
		}
	}
	if !strings.Contains(body, `class="hl-masked"`) || !strings.Contains(body, `<span class="hl-key">port</span>`) {
		t.Errorf("config page lacks the highlighted, masked content")
	}
	if strings.Contains(body, `data-testid="reveal-link"`) {
		t.Errorf("a viewer is offered to reveal secrets")
	}
	if got := versionNumbers(body); len(got) != 2 {
		t.Errorf("versions on the page = %v, want 2", got)
	}
	if code, _ := vera.get(s.path(tg, "?reveal=1")); code != http.StatusForbidden {
		t.Errorf("viewer reveal = %d, want 403", code)
	}

	// The compare page masks both sides and the key changes, yet says the key changed.
	code, body = vera.get(s.path(tg, "/compare"))
	if code != http.StatusOK || strings.Contains(body, "swordfish") || strings.Contains(body, "hunter2") {
		t.Fatalf("compare page = %d, or shows a secret", code)
	}
	if !strings.Contains(body, `<code>db.password</code>`) || !strings.Contains(body, `data-kind="changed"`) {
		t.Errorf("compare page does not list db.password as changed")
	}
	if !strings.Contains(body, `data-testid="secrets-differ"`) {
		t.Errorf("compare page does not say that only masked values differ")
	}

	otto := newClient(t, s.url)
	otto.login("otto")
	_, body = otto.get(s.path(tg, ""))
	if !strings.Contains(body, `data-testid="reveal-link"`) {
		t.Errorf("an operator is not offered to reveal secrets")
	}
	code, body = otto.get(s.path(tg, "/compare?reveal=1&mode=split"))
	if code != http.StatusOK || !strings.Contains(body, "swordfish-2") || !strings.Contains(body, "hunter2-&lt;secret&gt;") {
		t.Errorf("revealed compare page = %d, want both secrets, escaped", code)
	}
	if strings.Contains(body, "hunter2-<secret>") {
		t.Errorf("revealed content is not escaped")
	}
	code, raw := otto.get(s.path(tg, "/versions/1/raw"))
	if code != http.StatusOK || strings.Contains(raw, "hunter2") || !strings.Contains(raw, nacos.MaskedValue) {
		t.Errorf("raw version = %d %q, want it masked", code, raw)
	}

	events, _, err := s.store.Audit(context.Background(), rewind.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	reveals := 0
	for _, e := range events {
		if strings.Contains(e.Detail, "hunter2") || strings.Contains(e.Detail, "swordfish") {
			t.Errorf("audit event %s holds a secret: %q", e.Action, e.Detail)
		}
		if e.Action == rewind.ActionReveal {
			reveals++
			if e.Actor != "otto" || e.Target != tg.Label() {
				t.Errorf("reveal event = %+v", e)
			}
		}
	}
	if reveals != 1 {
		t.Errorf("reveal events = %d, want 1", reveals)
	}
}

func TestConfigRestoreRequest(t *testing.T) {
	s := newCfgServer(t)
	s.nacos.Publish(appKey, "server:\n  port: 9090\n")
	tg := s.target(t, "app.yaml", 2)
	ctx := context.Background()
	vs, err := s.m.Versions(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	first := strconv.FormatInt(vs[1].Number, 10)
	liveMD5 := nacos.ContentMD5("server:\n  port: 9090\n")

	vera := newClient(t, s.url)
	vera.login("vera")
	if code, _ := vera.get(s.path(tg, "/rollback?version="+first)); code != http.StatusForbidden {
		t.Errorf("viewer restore form = %d, want 403", code)
	}
	otto := newClient(t, s.url)
	otto.login("otto")
	code, body := otto.get(s.path(tg, "/rollback?version="+first))
	if code != http.StatusOK || !strings.Contains(body, `name="md5" value="`+liveMD5+`"`) || strings.Contains(body, "hunter2") {
		t.Fatalf("restore form = %d, want the live md5 and no secret:\n%s", code, body)
	}
	if !strings.Contains(body, `data-testid="diff-line-added"`) || !strings.Contains(body, `<code>db.password</code>`) {
		t.Errorf("restore form lacks the diff or the key changes")
	}
	token := otto.csrf("/configs")
	post := func(form url.Values) (int, string) {
		form.Set("version", first)
		return otto.post(s.path(tg, "/rollback"), form)
	}
	tests := []struct {
		name     string
		form     url.Values
		wantCode int
		wantText string
	}{
		{"no CSRF", url.Values{"reason": {"x"}, "md5": {liveMD5}}, http.StatusForbidden, ""},
		{"no reason", url.Values{"csrf_token": {token}, "md5": {liveMD5}}, http.StatusUnprocessableEntity, "Give a reason"},
		{"stale md5", url.Values{"csrf_token": {token}, "reason": {"x"}, "md5": {"0123"}}, http.StatusUnprocessableEntity, "changed while you were looking"},
		{"delete unconfirmed", url.Values{"csrf_token": {token}, "reason": {"x"}, "md5": {liveMD5}, "action": {"delete"}, "confirm": {"app"}},
			http.StatusUnprocessableEntity, "Type the data ID app.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := post(tt.form)
			if code != tt.wantCode || !strings.Contains(body, tt.wantText) {
				t.Errorf("status %d, want %d with %q", code, tt.wantCode, tt.wantText)
			}
		})
	}
	if reqs, _ := s.store.Requests(ctx, sqlite.RequestFilter{TargetID: tg.ID}); len(reqs) != 0 {
		t.Fatalf("refused forms made %d requests", len(reqs))
	}

	code, _ = post(url.Values{"csrf_token": {token}, "reason": {"9090 breaks the load balancer"}, "md5": {liveMD5}})
	if code != http.StatusSeeOther {
		t.Fatalf("restore request = %d, want 303", code)
	}
	reqs, err := s.store.Requests(ctx, sqlite.RequestFilter{TargetID: tg.ID})
	if err != nil || len(reqs) != 1 {
		t.Fatalf("requests = %v, %v", reqs, err)
	}
	r := reqs[0]
	restore, err := rewind.ParseConfigRestore(r.Payload)
	if err != nil || restore.Action != rewind.ConfigPublish || r.Expected != liveMD5 || r.State != rewind.StatePending || r.VersionID == 0 {
		t.Errorf("request = %+v (payload %+v, %v)", r, restore, err)
	}
	if s.wake.n == 0 {
		t.Errorf("the runner was not woken")
	}

	// The approver's inbox and the request page show the diff, masked.
	anna := newClient(t, s.url)
	anna.login("anna")
	for _, p := range []string{"/approvals", "/requests/" + strconv.FormatInt(r.ID, 10)} {
		code, body := anna.get(p)
		if code != http.StatusOK || !strings.Contains(body, `data-testid="diff-line-added"`) || strings.Contains(body, "hunter2") {
			t.Errorf("%s = %d, want the masked diff", p, code)
		}
	}
	// When the config changes while the request waits, its page says so with the new diff.
	s.nacos.Publish(appKey, "server:\n  port: 7070\n")
	waitUntil(t, "the edit is recorded", func() bool {
		live, err := s.store.LiveConfigVersion(ctx, tg.ID)
		return err == nil && live.Content == "server:\n  port: 7070\n"
	})
	_, body = anna.get("/requests/" + strconv.FormatInt(r.ID, 10))
	if !strings.Contains(body, `data-testid="config-changed"`) || !strings.Contains(body, nacos.ContentMD5("server:\n  port: 7070\n")) {
		t.Errorf("request page does not show that the config changed:\n%s", body)
	}
}

func TestConfigDeletionAndEmptyContent(t *testing.T) {
	s := newCfgServer(t)
	s.nacos.Publish(appKey, "server:\n  port: 9090\n")
	tg := s.target(t, "app.yaml", 2)
	otto := newClient(t, s.url)
	otto.login("otto")
	_, body := otto.get(s.path(tg, ""))
	// Before the I row the config did not exist: restoring that state deletes it.
	m := regexp.MustCompile(`href="(/configs/\d+/rollback\?version=\d+&amp;action=delete)" data-testid="delete-before-link"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("config page offers no deletion before the I row")
	}
	code, body := otto.get(strings.ReplaceAll(m[1], "&amp;", "&"))
	if code != http.StatusOK || !strings.Contains(body, `data-testid="confirm-data-id"`) || !strings.Contains(body, "Request deletion") {
		t.Fatalf("deletion form = %d, want the data ID confirmation", code)
	}
	version := regexp.MustCompile(`version=(\d+)`).FindStringSubmatch(m[1])[1]
	token := otto.csrf("/configs")
	code, _ = otto.post(s.path(tg, "/rollback"), url.Values{"csrf_token": {token}, "version": {version}, "action": {"delete"},
		"md5": {nacos.ContentMD5("server:\n  port: 9090\n")}, "reason": {"retire it"}, "confirm": {"app.yaml"}})
	if code != http.StatusSeeOther {
		t.Fatalf("confirmed deletion request = %d, want 303", code)
	}
	reqs, _ := s.store.Requests(context.Background(), sqlite.RequestFilter{TargetID: tg.ID})
	if len(reqs) != 1 || !strings.Contains(reqs[0].Payload, rewind.ConfigDelete) || reqs[0].Expected != nacos.ContentMD5("server:\n  port: 9090\n") {
		t.Fatalf("deletion request = %+v", reqs)
	}

	// A deleted version has no content: publishing it is refused before any request.
	s.nacos.Delete(appKey)
	var deleted int64
	waitUntil(t, "the deletion is recorded", func() bool {
		vs, _ := s.m.Versions(context.Background(), tg)
		if len(vs) > 0 && vs[0].Deleted {
			deleted = vs[0].Number
			return true
		}
		return false
	})
	s.nacos.Seed(appKey, "yaml", "server:\n  port: 1\n")
	waitUntil(t, "the new config is recorded", func() bool {
		live, err := s.store.LiveConfigVersion(context.Background(), tg.ID)
		return err == nil && live.Hash != ""
	})
	code, body = otto.get(s.path(tg, "/rollback?version="+strconv.FormatInt(deleted, 10)))
	if code != http.StatusOK || !strings.Contains(body, "Nacos cannot publish empty content") || strings.Contains(body, `data-testid="rollback-form"`) {
		t.Errorf("form for a deleted version = %d, want the empty-content message and no form", code)
	}
}

func TestNacosSettingsNeverShowPassword(t *testing.T) {
	s := newCfgServer(t)
	const password = "super-Secret-pw-42"
	adam := newClient(t, s.url)
	adam.login("adam")
	env, err := s.store.EnvironmentByName(context.Background(), "prod")
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"csrf_token": {adam.csrf("/settings/nacos")}, "name": {"nacos-two"}, "environment_id": {strconv.FormatInt(env.ID, 10)},
		"addr": {s.nacos.Addr()}, "namespaces": {"public"}, "username": {"nacos"}, "password": {password}, "mask_keys": {"passwd, credential"}}
	otto := newClient(t, s.url)
	otto.login("otto")
	if code, _ := otto.post("/settings/nacos", url.Values{"csrf_token": {otto.csrf("/configs")}, "name": {"x"}}); code != http.StatusForbidden {
		t.Errorf("operator registering a server = %d, want 403", code)
	}
	if code, body := adam.post("/settings/nacos", form); code != http.StatusSeeOther {
		t.Fatalf("register = %d: %s", code, body)
	}
	n, err := s.store.NacosServerByName(context.Background(), "nacos-two")
	if err != nil || n.Password != password {
		t.Fatalf("stored server = %v, %v", n, err)
	}
	// The new server is followed at once with that password, which the stand-in refuses.
	waitUntil(t, "the new server is checked", func() bool { return s.m.Status(n.ID).Problem != "" })
	code, body := adam.get("/settings/nacos")
	if code != http.StatusOK || strings.Contains(body, password) || !strings.Contains(body, `data-testid="password-set"`) ||
		!strings.Contains(body, "nacos-two refused Rewind&#39;s user name and password") {
		t.Errorf("settings page = %d; shows the password, or not that one is set and refused", code)
	}
	// Changing the server without a password keeps the stored one.
	form.Set("id", strconv.FormatInt(n.ID, 10))
	form.Set("password", "")
	form.Set("namespaces", "public, shop")
	if code, _ := adam.post("/settings/nacos", form); code != http.StatusSeeOther {
		t.Fatalf("change = %d", code)
	}
	if n2, _ := s.store.NacosServer(context.Background(), n.ID); n2.Password != password || len(n2.Namespaces) != 2 {
		t.Errorf("changed server = %#v, want the password kept and two namespaces", n2)
	}
	// A bad address is refused with a message, the password not echoed.
	bad := url.Values{"csrf_token": {form.Get("csrf_token")}, "name": {"bad"}, "environment_id": {form.Get("environment_id")}, "addr": {"no-port"}, "password": {password}, "username": {"u"}}
	if code, body := adam.post("/settings/nacos", bad); code != http.StatusUnprocessableEntity || !strings.Contains(body, "host:port") || strings.Contains(body, password) {
		t.Errorf("bad address = %d", code)
	}
	events, _, _ := s.store.Audit(context.Background(), rewind.AuditFilter{})
	for _, e := range events {
		if strings.Contains(e.Detail, password) {
			t.Errorf("audit holds the password: %+v", e)
		}
	}
}

func TestNacosServerFailureShownEverywhere(t *testing.T) {
	tests := []struct {
		name    string
		failure nacostest.Failure
		want    string
	}{
		{"down", nacostest.Down, "cannot reach Nacos server nacos-prod"},
		{"login refused", nacostest.RefuseLogin, "refused Rewind&#39;s user name and password"},
		{"garbage", nacostest.Garbage, "answered something Rewind cannot read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newCfgServer(t)
			tg := s.target(t, "app.yaml", 1)
			vera := newClient(t, s.url)
			vera.login("vera")
			s.nacos.Fail(tt.failure)
			waitUntil(t, "the problem is known", func() bool { return s.m.Status(s.server.ID).Problem != "" })

			code, body := vera.get("/configs")
			if code != http.StatusOK || !strings.Contains(body, `data-testid="nacos-problem"`) || !strings.Contains(body, tt.want) {
				t.Errorf("/configs = %d, want the problem %q", code, tt.want)
			}
			code, body = vera.get(s.path(tg, ""))
			if code != http.StatusOK || !strings.Contains(body, tt.want) || !strings.Contains(body, "Last recorded content") || !strings.Contains(body, "8080") {
				t.Errorf("config page = %d, want the problem and the last recorded content", code)
			}
			// Without a session /readyz says only ready; with one, each check.
			code, body = newClient(t, s.url).get("/readyz")
			if code != http.StatusOK || strings.TrimSpace(body) != `{"ready":true}` {
				t.Errorf("anonymous /readyz = %d %s, want only {\"ready\":true}", code, body)
			}
			code, body = vera.get("/readyz")
			var ready struct {
				Ready    bool              `json:"ready"`
				Degraded bool              `json:"degraded"`
				Checks   map[string]string `json:"checks"`
			}
			err := json.Unmarshal([]byte(body), &ready)
			if err != nil || code != http.StatusOK || !ready.Ready || !ready.Degraded || ready.Checks["nacos nacos-prod"] == "ok" || ready.Checks["nacos nacos-prod"] == "" {
				t.Errorf("/readyz as vera = %d %+v, %v; want ready, degraded, and the problem", code, ready, err)
			}
			for _, p := range []string{"/services", "/audit", "/approvals", s.path(tg, "/compare")} {
				if code, _ := vera.get(p); code != http.StatusOK {
					t.Errorf("%s = %d while Nacos fails", p, code)
				}
			}
			otto := newClient(t, s.url)
			otto.login("otto")
			code, body = otto.get(s.path(tg, "/rollback?version=1"))
			if code != http.StatusOK || !strings.Contains(body, `data-testid="rollback-blocked"`) {
				t.Errorf("restore form = %d, want it blocked with the problem", code)
			}
		})
	}
}

func TestHighlight(t *testing.T) {
	type tok = struct{ class, text string }
	tests := []struct {
		format, line string
		want         []tok
	}{
		{"yaml", "  port: 8080 # http", []tok{{"", "  "}, {hlKey, "port"}, {hlPunct, ":"}, {"", " "}, {hlNumber, "8080"}, {hlComment, " # http"}}},
		{"yaml", "- enabled: true", []tok{{hlPunct, "- "}, {hlKey, "enabled"}, {hlPunct, ":"}, {"", " "}, {hlBool, "true"}}},
		{"yaml", "  password: ******", []tok{{"", "  "}, {hlKey, "password"}, {hlPunct, ":"}, {"", " "}, {hlMasked, "******"}}},
		{"properties", "db.url = jdbc:x", []tok{{hlKey, "db.url"}, {hlPunct, " = "}, {hlString, "jdbc:x"}}},
		{"properties", "# note", []tok{{hlComment, "# note"}}},
		{"json", `  "a": [1, null]`, []tok{{"", "  "}, {hlKey, `"a"`}, {hlPunct, ":"}, {"", " "}, {hlPunct, "["}, {hlNumber, "1"}, {hlPunct, ","}, {"", " "}, {hlNull, "null"}, {hlPunct, "]"}}},
		{"xml", `<a href="x">t</a>`, []tok{{hlPunct, "<"}, {hlTag, "a"}, {"", " "}, {hlAttr, "href"}, {hlPunct, "="}, {hlString, `"x"`}, {hlPunct, ">"}, {"", "t"}, {hlPunct, "</"}, {hlTag, "a"}, {hlPunct, ">"}}},
		{"text", "<b>plain</b>", []tok{{"", "<b>plain</b>"}}},
	}
	for _, tt := range tests {
		t.Run(tt.format+" "+tt.line, func(t *testing.T) {
			lines := highlight(tt.format, tt.line)
			if len(lines) != 1 {
				t.Fatalf("lines = %d, want 1", len(lines))
			}
			var got []tok
			for _, tk := range lines[0] {
				got = append(got, tok{tk.Class, tk.Text})
			}
			if len(got) != len(tt.want) {
				t.Fatalf("tokens = %q, want %q", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("token %d = %q, want %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}
