package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/signin"
	"github.com/rewindhq/rewind/internal/sqlite"
	"github.com/rewindhq/rewind/internal/testenv/idp"
)

// signinFixture is a Rewind with the four local users, environments dev,
// staging and prod (one approval), a pending request of otto's in prod,
// and sign-in through Dex (OIDC) and glauth (LDAP) with the shop's groups:
// shop-leads approve in prod and operate elsewhere, shop-devs operate in
// dev and read staging.
type signinFixture struct {
	srv     *Server
	url     string
	store   *sqlite.Store
	dir     *idp.LDAP
	dex     *idp.Dex
	request int64
	envs    map[string]int64
}

var shopDirectory = []idp.Person{
	{Name: "lena", Password: "lena-password-1", Mail: "lena@example.com", Groups: []string{"shop-devs", "shop-leads"}},
	{Name: "dora", Password: "dora-password-1", Mail: "dora@example.com", Groups: []string{"shop-devs"}},
	{Name: "mallory", Password: "mallory-password-1", Mail: "mallory@example.com", Groups: []string{"marketing"}},
}

func newSigninFixture(t *testing.T) *signinFixture {
	t.Helper()
	ctx := context.Background()
	srv, ts, store := newTestServerWith(t, Options{})
	f := &signinFixture{srv: srv, url: ts.URL, store: store, envs: map[string]int64{}}
	for _, e := range []*rewind.Environment{{Name: "dev"}, {Name: "staging"}, {Name: "prod", RequiredApprovals: 1}} {
		if err := store.SaveEnvironment(ctx, e); err != nil {
			t.Fatal(err)
		}
		f.envs[e.Name] = e.ID
	}
	tg := &rewind.Target{Kind: rewind.KindService, EnvironmentID: f.envs["prod"], OwnerID: 1, Namespace: "shop", Workload: "Deployment", Name: "checkout"}
	if _, err := store.EnsureTarget(ctx, tg); err != nil {
		t.Fatal(err)
	}
	r := &rewind.Request{Kind: rewind.RequestRollback, EnvironmentID: f.envs["prod"], Requester: "otto", Reason: "1.4.2 支付回调超时", RequiredApprovals: 1,
		Steps: []rewind.Step{{TargetID: tg.ID, Detail: "to version 1"}}}
	if err := store.CreateRequest(ctx, r, rewind.AuditEvent{Actor: "otto", Action: rewind.ActionRequest}); err != nil {
		t.Fatal(err)
	}
	f.request = r.ID

	ca := idp.NewCA(t)
	f.dir = idp.StartLDAP(t, ca, shopDirectory...)
	f.dex = idp.StartDex(t, ca, f.dir, 0, idp.Client{ID: "rewind", Secret: "rewind-secret", RedirectURI: ts.URL + "/auth/oidc/callback"})
	o, err := signin.NewOIDC(signin.OIDCConfig{Name: "Dex", Issuer: f.dex.Issuer, ClientID: "rewind", ClientSecret: "rewind-secret",
		RedirectURL: ts.URL + "/auth/oidc/callback", CAFile: ca.File})
	if err != nil {
		t.Fatal(err)
	}
	l, err := signin.NewLDAP(signin.LDAPConfig{URL: f.dir.StartTLSURL, StartTLS: true, CAFile: ca.File, BindDN: f.dir.BindDN, BindPassword: f.dir.BindPassword,
		UserBase: "ou=users," + f.dir.BaseDN, UserFilter: "(uid={username})", MemberOfAttr: "memberOf"})
	if err != nil {
		t.Fatal(err)
	}
	mapping := signin.Mapping{
		{Group: "shop-leads", Role: rewind.RoleOperator, Environments: map[string]rewind.Role{"prod": rewind.RoleApprover}},
		{Group: "shop-devs", Environments: map[string]rewind.Role{"dev": rewind.RoleOperator, "staging": rewind.RoleViewer}},
	}
	// Handlers read the sign-in options per request: set before the first.
	srv.opt.Signin = Signin{OIDC: o, LDAP: l, Service: signin.New(store, mapping)}
	return f
}

// oidcLogin signs c in as user through Rewind's "Sign in with Dex" and
// Dex's login page, and returns the callback URL it used.
func (f *signinFixture) oidcLogin(t *testing.T, c *client, user, pw string) (int, string, string) {
	t.Helper()
	resp, err := c.http.Get(f.url + "/auth/oidc?next=" + url.QueryEscape("/requests/"+strconv.FormatInt(f.request, 10)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), f.dex.Issuer) {
		t.Fatalf("start: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	back, err := f.dex.SignIn(resp.Header.Get("Location"), user, pw)
	if err != nil {
		t.Fatal(err)
	}
	path := back.RequestURI()
	code, body := c.get(path)
	return code, body, path
}

func (c *client) location(path string) string {
	c.t.Helper()
	resp, err := c.http.Get(c.base + path)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("Location")
}

// Signing in through Dex makes lena a user with the roles of her groups;
// she approves otto's request in prod as its per-environment approver,
// while dora, who has no role in prod, does not see it. A replayed
// callback and a forged one are refused.
func TestSignInWithOIDC(t *testing.T) {
	ctx := context.Background()
	f := newSigninFixture(t)
	anon := newClient(t, f.url)
	if _, body := anon.get("/login"); !strings.Contains(body, `data-testid="login-oidc"`) || !strings.Contains(body, "Sign in with Dex") || !strings.Contains(body, `data-testid="login-form"`) {
		t.Fatalf("the login page offers no Dex button or no form:\n%s", body)
	}

	lena := newClient(t, f.url)
	code, _, callback := f.oidcLogin(t, lena, "lena", "lena-password-1")
	reqPath := "/requests/" + strconv.FormatInt(f.request, 10)
	if code != http.StatusSeeOther || lena.location(reqPath) != "" {
		t.Fatalf("callback: %d; the request page redirects to %q", code, lena.location(reqPath))
	}
	u, err := f.store.UserByName(ctx, "lena")
	if err != nil || u.Source != rewind.SourceOIDC || u.RoleIn(f.envs["prod"]) != rewind.RoleApprover || u.RoleIn(f.envs["dev"]) != rewind.RoleOperator || u.Email != "lena@example.com" {
		t.Fatalf("lena's user: %+v %v", u, err)
	}
	evs, _, _ := f.store.Audit(ctx, rewind.AuditFilter{Actor: "lena"})
	if len(evs) == 0 || evs[0].Action != rewind.ActionLogin || !strings.Contains(evs[0].Detail, "via OIDC (Dex)") || !strings.Contains(evs[0].Detail, "first sign-in") {
		t.Errorf("the audit trail does not say lena signed in through Dex: %+v", evs)
	}
	_, page := lena.get(reqPath)
	if !strings.Contains(page, `action="`+reqPath+`/approve"`) {
		t.Fatalf("lena, approver in prod, is not offered to approve:\n%s", page)
	}
	token := lena.csrf(reqPath)
	if code, _ := lena.post(reqPath+"/approve", url.Values{"csrf_token": {token}, "comment": {"同意回滚"}}); code != http.StatusSeeOther {
		t.Fatalf("lena approves: %d", code)
	}
	if r, _ := f.store.Request(ctx, f.request); r.State != rewind.StateApproved {
		t.Errorf("request is %s after lena's approval", r.State)
	}

	// The callback again: the pending sign-in was used.
	code, body := lena.get(callback)
	if code != http.StatusUnauthorized || !strings.Contains(body, "state does not match") {
		t.Errorf("replayed callback: %d", code)
	}
	// A callback this browser never started.
	stranger := newClient(t, f.url)
	if code, _ := stranger.get(callback); code != http.StatusUnauthorized || stranger.loggedIn() {
		t.Errorf("someone else's callback: %d, logged in %v", code, stranger.loggedIn())
	}
	if code, body := stranger.get("/auth/oidc/callback?error=access_denied&error_description=" + url.QueryEscape("<script>x</script>")); code != http.StatusUnauthorized ||
		strings.Contains(body, "<script>x") {
		t.Errorf("a provider's error: %d", code)
	}

	// dora has no role in prod: the request does not exist for her.
	dora := newClient(t, f.url)
	f.oidcLogin(t, dora, "dora", "dora-password-1")
	if code, _ := dora.get(reqPath); code != http.StatusNotFound {
		t.Errorf("dora reads a prod request: %d", code)
	}
	if err := f.store.SaveCluster(ctx, &rewind.Cluster{Name: "prod-eu", EnvironmentID: f.envs["prod"], InCluster: true, Namespaces: []string{"shop"}}); err != nil {
		t.Fatal(err)
	}
	if code, body := dora.get("/services"); code != http.StatusOK || !strings.Contains(body, "Nothing you may see") || strings.Contains(body, "prod-eu") {
		t.Errorf("dora's services list, with a cluster in prod only: %d", code)
	}
	// mallory is in no mapped group.
	mallory := newClient(t, f.url)
	if code, body, _ := f.oidcLogin(t, mallory, "mallory", "mallory-password-1"); code != http.StatusForbidden || !strings.Contains(body, "no group") {
		t.Errorf("mallory: %d", code)
	}
	if _, err := f.store.UserByName(ctx, "mallory"); rewind.ErrorCode(err) != rewind.ENOTFOUND {
		t.Errorf("mallory got a user: %v", err)
	}
}

// Removed from her groups, lena loses access: her session ends at its next
// check with Dex, she is refused at her next sign-in, and her token is
// revoked.
func TestDeprovisionedUserLosesAccess(t *testing.T) {
	ctx := context.Background()
	f := newSigninFixture(t)
	f.srv.opt.Signin.Recheck = time.Second
	lena, later := newClient(t, f.url), newClient(t, f.url)
	f.oidcLogin(t, lena, "lena", "lena-password-1")
	tok := &rewind.APIToken{Name: "laptop", Username: "lena", Prefix: "rwd_lena", CreatedBy: "lena"}
	secret, hash := rewind.NewTokenSecret()
	if err := f.store.CreateToken(ctx, tok, hash, rewind.AuditEvent{Actor: "lena", Action: rewind.ActionTokenCreate}); err != nil {
		t.Fatal(err)
	}
	apiGet := func() int {
		req, _ := http.NewRequest(http.MethodGet, f.url+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if apiGet() != http.StatusOK {
		t.Fatal("lena's token does not work")
	}

	// lena leaves shop-leads: at the next check her roles follow.
	f.dir.SetPersons(idp.Person{Name: "lena", Password: "lena-password-1", Mail: "lena@example.com", Groups: []string{"shop-devs"}}, shopDirectory[1], shopDirectory[2])
	time.Sleep(1100 * time.Millisecond)
	reqPath := "/requests/" + strconv.FormatInt(f.request, 10)
	if code, _ := lena.get(reqPath); code != http.StatusNotFound {
		t.Errorf("lena still reads prod after leaving shop-leads: %d", code)
	}
	if code, _ := lena.get("/services"); code != http.StatusOK {
		t.Fatalf("lena, still in shop-devs, was signed out: %d", code)
	}

	// lena leaves every mapped group: the next sign-in refuses her and ends
	// her other session and her token.
	f.dir.SetPersons(idp.Person{Name: "lena", Password: "lena-password-1", Mail: "lena@example.com", Groups: []string{"marketing"}}, shopDirectory[1])
	if code, body, _ := f.oidcLogin(t, later, "lena", "lena-password-1"); code != http.StatusForbidden || !strings.Contains(body, "no group") {
		t.Errorf("lena's sign-in out of every group: %d", code)
	}
	if lena.loggedIn() {
		t.Error("lena's session survived")
	}
	if code := apiGet(); code != http.StatusUnauthorized {
		t.Errorf("lena's token: %d, want 401", code)
	}
	u, _ := f.store.UserByName(ctx, "lena")
	if u.DisabledAt == nil {
		t.Error("lena is not disabled")
	}
	evs, _, _ := f.store.Audit(ctx, rewind.AuditFilter{Actor: "lena"})
	if len(evs) == 0 || evs[0].Action != rewind.ActionUserDisable {
		t.Errorf("no audit of lena's disabling: %+v", evs)
	}

	// Back in shop-devs, she may sign in again; then the directory forgets
	// her, and her session ends at its next check.
	f.dir.SetPersons(idp.Person{Name: "lena", Password: "lena-password-1", Mail: "lena@example.com", Groups: []string{"shop-devs"}}, shopDirectory[1])
	if code, _, _ := f.oidcLogin(t, later, "lena", "lena-password-1"); code != http.StatusSeeOther || !later.loggedIn() {
		t.Fatalf("lena back in shop-devs: %d", code)
	}
	f.dir.SetPersons(shopDirectory[1])
	time.Sleep(1100 * time.Millisecond)
	if later.loggedIn() {
		t.Error("lena's session survived the directory forgetting her")
	}
}

// The password form signs LDAP users in (made at their first sign-in),
// refuses names that try to widen the directory's search, and refuses
// people in no mapped group. With local passwords turned off, local users
// are refused while LDAP users still sign in.
func TestSignInWithLDAP(t *testing.T) {
	ctx := context.Background()
	f := newSigninFixture(t)
	post := func(c *client, user, pw string) (int, string) {
		return c.post("/login", url.Values{"csrf_token": {c.csrf("/login")}, "username": {user}, "password": {pw}})
	}
	dora := newClient(t, f.url)
	if code, body := post(dora, "dora", "dora-password-1"); code != http.StatusSeeOther {
		t.Fatalf("dora through LDAP: %d\n%s", code, body)
	}
	u, err := f.store.UserByName(ctx, "dora")
	if err != nil || u.Source != rewind.SourceLDAP || u.RoleIn(f.envs["dev"]) != rewind.RoleOperator || u.RoleIn(f.envs["prod"]) != rewind.RoleNone {
		t.Fatalf("dora's user: %+v %v", u, err)
	}
	for _, name := range []string{"*", "dora*", "d*", "dora)(uid=*", "*)(|(uid=*", "dora)(|(objectClass=*"} {
		c := newClient(t, f.url)
		if code, _ := post(c, name, "dora-password-1"); code != http.StatusUnauthorized {
			t.Errorf("username %q with dora's password: %d, want 401", name, code)
		}
	}
	if code, _ := post(newClient(t, f.url), "dora", "wrong-password"); code != http.StatusUnauthorized {
		t.Errorf("wrong password: %d", code)
	}
	if code, body := post(newClient(t, f.url), "mallory", "mallory-password-1"); code != http.StatusForbidden || !strings.Contains(body, "no group") {
		t.Errorf("mallory, in no mapped group: %d", code)
	}

	adam := newClient(t, f.url)
	adam.login("adam")
	if _, body := adam.get("/settings/signin"); !strings.Contains(body, "shop-leads") || !strings.Contains(body, f.dex.Issuer) {
		t.Errorf("Settings → Sign-in does not show the providers and groups:\n%s", body)
	}
	if code, _ := adam.post("/settings/signin", url.Values{"csrf_token": {adam.csrf("/settings/signin")}}); code != http.StatusSeeOther {
		t.Fatalf("turning local passwords off: %d", code)
	}
	if code, body := post(newClient(t, f.url), "vera", "password-vera"); code != http.StatusForbidden || !strings.Contains(body, "turned off") {
		t.Errorf("vera with local passwords off: %d", code)
	}
	if code, _ := post(newClient(t, f.url), "dora", "dora-password-1"); code != http.StatusSeeOther {
		t.Errorf("dora through LDAP with local passwords off: %d", code)
	}
}
