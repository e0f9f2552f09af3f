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
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/configs"
	"github.com/rewindhq/rewind/internal/nacos"
	"github.com/rewindhq/rewind/internal/nacos/nacostest"
	"github.com/rewindhq/rewind/internal/rewind"
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
	return newCfgServerWith(t, nacostest.Options{Mode: nacostest.Mode2})
}

// newCfgServerWith is newCfgServer with a stand-in started with opts; with
// opts.TLS the server is registered at its https:// address and Rewind
// trusts its CA.
func newCfgServerWith(t testing.TB, opts nacostest.Options) *cfgServer {
	t.Helper()
	ctx := context.Background()
	store, env := newProdStore(t)
	srv := nacostest.Start(t, opts)
	srv.Seed(appKey, "yaml", appYAML)
	reg := &rewind.NacosServer{Name: "nacos-prod", EnvironmentID: env.ID, Addr: srv.Addr(), Username: srv.Username(), Password: srv.Password()}
	if opts.TLS {
		reg.Addr = srv.URL()
	}
	if err := store.SaveNacosServer(ctx, reg); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "rewind-web-nacos-")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := configs.New(store, configs.Options{DataDir: dir, FollowInterval: 300 * time.Millisecond, HealthInterval: 200 * time.Millisecond, Log: log,
		CAFile: srv.CAFile()})
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
	if code, body := vera.get(s.path(tg, "?reveal=1")); code != http.StatusOK || strings.Contains(body, "hunter2") || strings.Contains(body, "swordfish") {
		t.Errorf("viewer GET ?reveal=1 = %d, want the masked page", code)
	}
	if code, _ := vera.post(s.path(tg, "/reveal?view=config"), url.Values{"csrf_token": {vera.csrf("/configs")}}); code != http.StatusForbidden {
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
	if code, body := otto.get(s.path(tg, "/compare?reveal=1&mode=split")); code != http.StatusOK || strings.Contains(body, "swordfish") {
		t.Errorf("GET compare ?reveal=1 = %d, want it masked (revealing is a POST)", code)
	}
	code, body = otto.post(s.path(tg, "/reveal?view=compare&mode=split"), url.Values{"csrf_token": {otto.csrf("/configs")}})
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
	base := formBase(t, body)
	if code != http.StatusOK || strings.Contains(body, `name="md5"`) || !strings.Contains(body, "md5 "+liveMD5) || strings.Contains(body, "hunter2") {
		t.Fatalf("restore form = %d, want the live md5 shown (no secrets in it), not posted, and no secret:\n%s", code, body)
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
		{"no CSRF", url.Values{"reason": {"x"}, "base": {base}}, http.StatusForbidden, ""},
		{"no reason", url.Values{"csrf_token": {token}, "base": {base}}, http.StatusUnprocessableEntity, "Give a reason"},
		{"stale base", url.Values{"csrf_token": {token}, "reason": {"x"}, "base": {first}}, http.StatusUnprocessableEntity, "changed while you were looking"},
		{"no base", url.Values{"csrf_token": {token}, "reason": {"x"}}, http.StatusUnprocessableEntity, "changed while you were looking"},
		{"delete unconfirmed", url.Values{"csrf_token": {token}, "reason": {"x"}, "base": {base}, "action": {"delete"}, "confirm": {"app"}},
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

	code, _ = post(url.Values{"csrf_token": {token}, "reason": {"9090 breaks the load balancer"}, "base": {base}})
	if code != http.StatusSeeOther {
		t.Fatalf("restore request = %d, want 303", code)
	}
	reqs, err := s.store.Requests(ctx, sqlite.RequestFilter{TargetID: tg.ID})
	if err != nil || len(reqs) != 1 {
		t.Fatalf("requests = %v, %v", reqs, err)
	}
	r := reqs[0]
	restore, err := rewind.ParseConfigRestore(r.First().Payload)
	if err != nil || restore.Action != rewind.ConfigPublish || r.First().Expected != liveMD5 || r.State != rewind.StatePending || r.First().VersionID == 0 {
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
		"base": {formBase(t, body)}, "reason": {"retire it"}, "confirm": {"app.yaml"}})
	if code != http.StatusSeeOther {
		t.Fatalf("confirmed deletion request = %d, want 303", code)
	}
	reqs, _ := s.store.Requests(context.Background(), sqlite.RequestFilter{TargetID: tg.ID})
	if len(reqs) != 1 || !strings.Contains(reqs[0].First().Payload, rewind.ConfigDelete) || reqs[0].First().Expected != nacos.ContentMD5("server:\n  port: 9090\n") {
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

func TestDecisionCommentTrimmedAndBounded(t *testing.T) {
	s := newCfgServer(t)
	s.nacos.Publish(appKey, "server:\n  port: 9090\n")
	tg := s.target(t, "app.yaml", 2)
	ctx := context.Background()
	vs, err := s.m.Versions(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	otto := newClient(t, s.url)
	otto.login("otto")
	form := url.Values{"csrf_token": {otto.csrf("/configs")}, "reason": {"  port 9090 breaks it \n"}, "version": {strconv.FormatInt(vs[1].Number, 10)}}
	_, body := otto.get(s.path(tg, "/rollback?version="+form.Get("version")))
	form.Set("base", formBase(t, body))
	if code, body := otto.post(s.path(tg, "/rollback"), form); code != http.StatusSeeOther {
		t.Fatalf("restore request = %d:\n%s", code, body)
	}
	reqs, err := s.store.Requests(ctx, sqlite.RequestFilter{TargetID: tg.ID})
	if err != nil || len(reqs) != 1 {
		t.Fatalf("requests = %v, %v", reqs, err)
	}
	if got := reqs[0].Reason; got != "port 9090 breaks it" {
		t.Errorf("reason stored = %q, want it trimmed", got)
	}
	reqPath := "/requests/" + strconv.FormatInt(reqs[0].ID, 10)
	anna := newClient(t, s.url)
	anna.login("anna")
	token := anna.csrf(reqPath)
	long := strings.Repeat("ü", rewind.MaxTextLen+1)
	tests := []struct {
		name     string
		action   string
		comment  string
		wantCode int
		wantText string
	}{
		{"reject without comment", "reject", "   \n", http.StatusUnprocessableEntity, "Say why you reject"},
		{"over-long comment", "reject", long, http.StatusUnprocessableEntity, "at most 2000 characters; this one has 2001"},
		{"over-long approval", "approve", long, http.StatusUnprocessableEntity, "at most 2000 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := anna.post(reqPath+"/"+tt.action, url.Values{"csrf_token": {token}, "comment": {tt.comment}})
			if code != tt.wantCode || !strings.Contains(body, tt.wantText) || !strings.Contains(body, `data-testid="decision-error"`) {
				t.Errorf("%s = %d, want %d with %q", tt.action, code, tt.wantCode, tt.wantText)
			}
			if strings.TrimSpace(tt.comment) != "" && !strings.Contains(body, ">"+tt.comment+"</textarea>") {
				t.Errorf("the typed comment is not kept in the form")
			}
		})
	}
	if code, _ := anna.post(reqPath+"/reject", url.Values{"csrf_token": {token}, "comment": {"\n  not now  \t"}}); code != http.StatusSeeOther {
		t.Fatalf("reject = %d, want 303", code)
	}
	r, err := s.store.Request(ctx, reqs[0].ID)
	if err != nil || r.State != rewind.StateRejected || len(r.Approvals) != 1 || r.Approvals[0].Comment != "not now" {
		t.Fatalf("request = %+v, %v; want rejected with the comment trimmed", r, err)
	}
	events, _, err := s.store.Audit(ctx, rewind.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range events {
		if e.Action == rewind.ActionReject {
			found = e.Detail == "not now"
		}
	}
	if !found {
		t.Errorf("no reject audit event with the trimmed comment")
	}
}

var baseField = regexp.MustCompile(`name="base" value="(\d+)"`)

// formBase reads the version a restore form names as current.
func formBase(t *testing.T, body string) string {
	t.Helper()
	m := baseField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the restore form names no current version:\n%s", body)
	}
	return m[1]
}

func TestRevealIsAPostThatIsNeverStored(t *testing.T) {
	s := newCfgServer(t)
	s.nacos.Publish(appKey, strings.Replace(appYAML, "hunter2-<secret>", "swordfish-2", 1))
	tg := s.target(t, "app.yaml", 2)
	otto := newClient(t, s.url)
	otto.login("otto")
	_, page := otto.get(s.path(tg, "?page=1"))
	if !regexp.MustCompile(`<form method="post" action="/configs/\d+/reveal\?page=1&amp;view=config" data-testid="reveal-form"><input type="hidden" name="csrf_token"`).MatchString(page) {
		t.Errorf("the config page offers no reveal form posting the CSRF token")
	}
	token := otto.csrf("/configs")
	tests := []struct {
		view     string
		query    string
		wantNote bool // a page with the revealed notice, kept out of htmx history
	}{
		{"config", "?view=config", true},
		{"compare", "?view=compare&mode=split", true},
		{"raw", "?view=raw&number=1", false},
		{"raw of the current version", "?view=raw&number=2", false},
	}
	for _, tt := range tests {
		t.Run(tt.view, func(t *testing.T) {
			before := revealEvents(t, s.store)
			if code, body := otto.post(s.path(tg, "/reveal"+tt.query), url.Values{}); code != http.StatusForbidden || strings.Contains(body, "hunter2") || strings.Contains(body, "swordfish") {
				t.Errorf("reveal without CSRF = %d, want 403", code)
			}
			resp, err := otto.http.PostForm(s.url+s.path(tg, "/reveal"+tt.query), url.Values{"csrf_token": {token}})
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !(strings.Contains(string(body), "hunter2") || strings.Contains(string(body), "swordfish-2")) {
				t.Fatalf("reveal = %d, want a secret", resp.StatusCode)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			if tt.wantNote && !strings.Contains(string(body), `data-testid="secrets-revealed" hx-history="false"`) {
				t.Errorf("the revealed page is not kept out of htmx history")
			}
			if got := revealEvents(t, s.store) - before; got != 1 {
				t.Errorf("reveal audit events = %d, want 1", got)
			}
		})
	}
	if code, body := otto.get(s.path(tg, "/versions/1/raw?reveal=1")); code != http.StatusOK || strings.Contains(body, "hunter2") {
		t.Errorf("GET raw ?reveal=1 = %d, want it masked", code)
	}
}

// revealEvents counts the reveal events in the audit trail.
func revealEvents(t *testing.T, store *sqlite.Store) int {
	t.Helper()
	events, _, err := store.Audit(context.Background(), rewind.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events {
		if e.Action == rewind.ActionReveal {
			n++
		}
	}
	return n
}

func TestMD5HiddenWhenContentHasMaskedValues(t *testing.T) {
	s := newCfgServer(t)
	second := strings.Replace(appYAML, "hunter2-<secret>", "swordfish-2", 1)
	s.nacos.Publish(appKey, second)
	tg := s.target(t, "app.yaml", 2)
	secretMD5s := []string{nacos.ContentMD5(appYAML), nacos.ContentMD5(second)}
	noSecrets := func(t *testing.T, where, body string) {
		t.Helper()
		for _, h := range secretMD5s {
			if strings.Contains(body, h) || strings.Contains(body, h[:12]) {
				t.Errorf("%s shows the md5 %s of a content with masked values", where, h)
			}
		}
	}
	ctx := context.Background()
	vs, err := s.m.Versions(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	first := strconv.FormatInt(vs[1].Number, 10)

	otto := newClient(t, s.url)
	otto.login("otto")
	code, form := otto.get(s.path(tg, "/rollback?version="+first))
	if code != http.StatusOK || strings.Contains(form, `name="md5"`) || !strings.Contains(form, nacos.HiddenMD5) {
		t.Errorf("restore form = %d, want no md5 field and the md5 hidden", code)
	}
	noSecrets(t, "the restore form", form)
	code, _ = otto.post(s.path(tg, "/rollback"), url.Values{"csrf_token": {otto.csrf("/configs")}, "version": {first},
		"base": {formBase(t, form)}, "reason": {"the old password is still in use"}})
	if code != http.StatusSeeOther {
		t.Fatalf("restore request = %d", code)
	}
	reqs, err := s.store.Requests(ctx, sqlite.RequestFilter{TargetID: tg.ID})
	if err != nil || len(reqs) != 1 || reqs[0].First().Expected != secretMD5s[1] {
		t.Fatalf("requests = %+v, %v; want one, expecting the live md5 kept on the server", reqs, err)
	}

	vera := newClient(t, s.url)
	vera.login("vera")
	for _, p := range []string{"/configs", s.path(tg, ""), s.path(tg, "/compare"), s.path(tg, "/compare?a=1&b=2"),
		"/requests/" + strconv.FormatInt(reqs[0].ID, 10), "/approvals", "/audit", "/audit.csv"} {
		code, body := vera.get(p)
		if code != http.StatusOK {
			t.Errorf("%s = %d", p, code)
		}
		noSecrets(t, p, body)
	}
	_, body := vera.get(s.path(tg, ""))
	if !strings.Contains(body, `data-testid="config-md5">`+nacos.HiddenMD5) || !strings.Contains(body, `data-testid="md5-hidden"`) {
		t.Errorf("config page does not say the md5 is hidden")
	}
	_, body = vera.get("/requests/" + strconv.FormatInt(reqs[0].ID, 10))
	if !strings.Contains(body, `data-testid="config-seen">md5 `+nacos.HiddenMD5) {
		t.Errorf("request page does not say the md5 the requester saw is hidden")
	}

	// Revealed, the page shows the md5 with the content.
	code, body = otto.post(s.path(tg, "/reveal?view=config"), url.Values{"csrf_token": {otto.csrf("/configs")}})
	if code != http.StatusOK || !strings.Contains(body, `data-testid="config-md5">`+secretMD5s[1]) || !strings.Contains(body, `data-md5="`+secretMD5s[0]+`"`) {
		t.Errorf("revealed config page = %d, want the md5s", code)
	}

	// A content without masked values keeps its md5 everywhere.
	plain := "server:\n  port: 7070\n"
	s.nacos.Publish(appKey, plain)
	waitUntil(t, "the edit is recorded", func() bool {
		live, err := s.store.LiveConfigVersion(ctx, tg.ID)
		return err == nil && live.Content == plain
	})
	_, body = vera.get(s.path(tg, ""))
	if !strings.Contains(body, `data-testid="config-md5">`+nacos.ContentMD5(plain)) {
		t.Errorf("config page hides the md5 of a content without secrets")
	}
	noSecrets(t, "the config page", body)
	_, body = vera.get("/requests/" + strconv.FormatInt(reqs[0].ID, 10))
	if !strings.Contains(body, "md5 "+nacos.ContentMD5(plain)) {
		t.Errorf("request page does not show the md5 the config holds now (no secrets in it)")
	}
	noSecrets(t, "the request page", body)
}

func TestNacosSettingsWarnAboutPasswordsOverPlainHTTP(t *testing.T) {
	s := newCfgServer(t)
	ctx := context.Background()
	for _, n := range []*rewind.NacosServer{
		{Name: "plain-no-password", Addr: "nacos.example.com:8848", Username: "reader"},
		{Name: "tls", Addr: "https://nacos.example.com:8848", Username: "rewind", Password: "pw"},
		{Name: "plain-scheme", Addr: "http://nacos.example.com:8848", Username: "rewind", Password: "pw"},
	} {
		n.EnvironmentID = s.server.EnvironmentID
		if err := s.store.SaveNacosServer(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	adam := newClient(t, s.url)
	adam.login("adam")
	code, body := adam.get("/settings/nacos")
	if code != http.StatusOK {
		t.Fatalf("settings = %d", code)
	}
	rows := map[string]string{}
	parts := strings.Split(body, `data-testid="nacos-server-row" data-name="`)
	for _, p := range parts[1:] {
		name, rest, _ := strings.Cut(p, `"`)
		rows[name], _, _ = strings.Cut(rest, "</tr>")
	}
	tests := []struct {
		name string
		want int // warnings: in the list and in the change form
	}{
		{"nacos-prod", 2},
		{"plain-scheme", 2},
		{"plain-no-password", 0},
		{"tls", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row, ok := rows[tt.name]
			if !ok {
				t.Fatalf("no row for %s", tt.name)
			}
			if got := strings.Count(row, `data-testid="plain-http-warning"`); got != tt.want {
				t.Errorf("warnings = %d, want %d", got, tt.want)
			}
			if tt.want > 0 && !strings.Contains(row, "The password travels unencrypted; use https://.") {
				t.Errorf("the warning does not say what to do")
			}
		})
	}
	if !strings.Contains(body, `data-testid="nacos-tls-hint"`) || !strings.Contains(body, `placeholder="https://nacos.example.com:8848"`) {
		t.Errorf("the add form does not suggest https://")
	}
}

func TestConfigPagesOverTLS(t *testing.T) {
	s := newCfgServerWith(t, nacostest.Options{Mode: nacostest.Mode2, TLS: true})
	s.nacos.Publish(appKey, "server:\n  port: 9090\n")
	tg := s.target(t, "app.yaml", 2)
	adam := newClient(t, s.url)
	adam.login("adam")
	code, body := adam.get("/settings/nacos")
	if code != http.StatusOK || strings.Contains(body, `data-testid="plain-http-warning"`) || !strings.Contains(body, `data-testid="nacos-version"`) {
		t.Errorf("settings = %d, want the https server checked and no plain-HTTP warning", code)
	}
	otto := newClient(t, s.url)
	otto.login("otto")
	code, body = otto.get(s.path(tg, ""))
	if code != http.StatusOK || !strings.Contains(body, "9090") || len(versionNumbers(body)) != 2 || strings.Contains(body, `data-testid="nacos-problem"`) {
		t.Fatalf("config page over TLS = %d, want the content and both versions", code)
	}
	vs, err := s.m.Versions(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	_, form := otto.get(s.path(tg, "/rollback?version="+strconv.FormatInt(vs[1].Number, 10)))
	code, _ = otto.post(s.path(tg, "/rollback"), url.Values{"csrf_token": {otto.csrf("/configs")}, "version": {strconv.FormatInt(vs[1].Number, 10)},
		"base": {formBase(t, form)}, "reason": {"back to 8080"}})
	if code != http.StatusSeeOther {
		t.Errorf("restore request over TLS = %d, want 303", code)
	}
}

// TestAPIConfigRequests asks for a config's restore and its deletion
// through the API, against the Nacos stand-in: the restore carries what
// Nacos holds, the deletion needs the data ID typed, and the md5 of content
// with masked values never comes back.
func TestAPIConfigRequests(t *testing.T) {
	s := newCfgServer(t)
	s.nacos.Publish(appKey, "server:\n  port: 9090\n")
	tg := s.target(t, "app.yaml", 2)
	ctx := context.Background()
	token, hash := rewind.NewTokenSecret()
	tok := &rewind.APIToken{Name: "otto-cli", Username: "otto", Prefix: token[:8], CreatedBy: "otto"}
	if err := s.store.CreateToken(ctx, tok, hash, rewind.AuditEvent{Actor: "otto", Action: rewind.ActionTokenCreate, Target: tok.Name}); err != nil {
		t.Fatal(err)
	}
	post := func(body map[string]any) (int, string) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", s.url+"/api/v1/requests", strings.NewReader(string(b)))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	base := map[string]any{"target_id": tg.ID, "to_version": 1, "reason": "回滚 1.4.2 的配置"}
	with := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name string
		body map[string]any
		want int
		has  string
	}{
		{"unknown action", with(map[string]any{"action": "drop"}), 400, "publish or delete"},
		{"deletion without the data ID", with(map[string]any{"action": "delete"}), 400, "confirm_data_id"},
		{"deletion with another data ID", with(map[string]any{"action": "delete", "confirm_data_id": "pay.properties"}), 400, "confirm_data_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(tc.body)
			if code != tc.want || !strings.Contains(body, tc.has) {
				t.Errorf("%d %s, want %d with %q", code, body, tc.want, tc.has)
			}
		})
	}
	if reqs, _ := s.store.Requests(ctx, sqlite.RequestFilter{TargetID: tg.ID}); len(reqs) != 0 {
		t.Fatalf("refused calls made %d requests", len(reqs))
	}
	code, body := post(with(map[string]any{"action": "delete", "confirm_data_id": "app.yaml"}))
	if code != http.StatusCreated {
		t.Fatalf("deletion: %d %s", code, body)
	}
	reqs, _ := s.store.Requests(ctx, sqlite.RequestFilter{TargetID: tg.ID})
	if len(reqs) != 1 || !strings.Contains(reqs[0].First().Payload, rewind.ConfigDelete) || reqs[0].First().Expected != nacos.ContentMD5("server:\n  port: 9090\n") {
		t.Fatalf("deletion request = %+v", reqs)
	}
	if md5 := nacos.ContentMD5(appYAML); strings.Contains(body, md5) {
		t.Errorf("the answer shows the md5 of content with masked values: %s", body)
	}
	if _, err := s.store.Move(ctx, reqs[0].ID, []rewind.State{rewind.StatePending}, rewind.StateCancelled, "test", nil); err != nil {
		t.Fatal(err)
	}
	vs, err := s.m.Versions(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	var first int64
	for _, v := range vs {
		if v.MD5 == nacos.ContentMD5(appYAML) {
			first = v.Number
		}
	}
	code, body = post(with(map[string]any{"to_version": first}))
	if code != http.StatusCreated {
		t.Fatalf("restore: %d %s", code, body)
	}
	reqs, _ = s.store.Requests(ctx, sqlite.RequestFilter{TargetID: tg.ID, States: []rewind.State{rewind.StatePending}})
	if len(reqs) != 1 || !strings.Contains(reqs[0].First().Payload, rewind.ConfigPublish) || strings.Contains(body, nacos.ContentMD5(appYAML)) {
		t.Fatalf("restore request = %+v, answer %s", reqs, body)
	}
}
