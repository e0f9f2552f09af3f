package signin

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/testenv/idp"
)

var (
	rewindClient = idp.Client{ID: "rewind", Secret: "rewind-client-secret", RedirectURI: "http://127.0.0.1:1/auth/oidc/callback"}
	otherClient  = idp.Client{ID: "grafana", Secret: "grafana-client-secret", RedirectURI: "http://127.0.0.1:2/login/generic_oauth"}
)

// dexFixture is a glauth directory, Dex signing people in against it, and
// Rewind's side of OIDC.
type dexFixture struct {
	dir  *idp.LDAP
	dex  *idp.Dex
	oidc *OIDC
}

func newDexFixture(t *testing.T) *dexFixture {
	t.Helper()
	ca := idp.NewCA(t)
	dir := idp.StartLDAP(t, ca, shopPeople...)
	dex := idp.StartDex(t, ca, dir, 0, rewindClient, otherClient)
	o, err := NewOIDC(OIDCConfig{Name: "Dex", Issuer: dex.Issuer, ClientID: rewindClient.ID, ClientSecret: rewindClient.Secret,
		RedirectURL: rewindClient.RedirectURI, CAFile: ca.File})
	if err != nil {
		t.Fatal(err)
	}
	return &dexFixture{dir: dir, dex: dex, oidc: o}
}

// signIn starts a sign-in, lets edit change the provider URL, signs in at
// Dex's login page and returns the pending sign-in and the callback's state
// and code.
func (f *dexFixture) signIn(t *testing.T, user, pw string, edit func(url.Values)) (Pending, string, string) {
	t.Helper()
	authURL, pend, err := f.oidc.Start(context.Background(), "/approvals")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(authURL)
	q := u.Query()
	if q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256" || q.Get("nonce") != pend.Nonce || q.Get("state") != pend.State {
		t.Fatalf("the provider URL lacks PKCE, nonce or state: %s", authURL)
	}
	if edit != nil {
		edit(q)
		u.RawQuery = q.Encode()
	}
	back, err := f.dex.SignIn(u.String(), user, pw)
	if err != nil {
		t.Fatal(err)
	}
	return pend, back.Query().Get("state"), back.Query().Get("code")
}

// The authorization code flow with PKCE through Dex's login page, and every
// way a callback or token can be wrong: each is refused.
func TestOIDCSignIn(t *testing.T) {
	ctx := context.Background()
	f := newDexFixture(t)

	pend, state, code := f.signIn(t, "lena", "lena-password-1", nil)
	id, tokens, err := f.oidc.Finish(ctx, pend, state, code)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(id.Groups)
	if id.Username != "lena" || id.Email != "lena@example.com" || !slices.Equal(id.Groups, []string{"shop-devs", "shop-leads"}) ||
		!strings.HasPrefix(id.Subject, f.dex.Issuer+"|") || tokens.Refresh == "" {
		t.Fatalf("lena through Dex: %+v, refresh %q", id, tokens.Refresh)
	}

	t.Run("replayed code", func(t *testing.T) {
		// The same code again, even with a pending sign-in whose state matches.
		again := pend
		if _, _, err := f.oidc.Finish(ctx, again, state, code); rewind.ErrorCode(err) != rewind.EUNAUTHORIZED {
			t.Errorf("replayed code: %v", err)
		}
	})
	t.Run("bad state", func(t *testing.T) {
		pend, _, code := f.signIn(t, "lena", "lena-password-1", nil)
		for _, state := range []string{"", "forged", pend.State + "x"} {
			if _, _, err := f.oidc.Finish(ctx, pend, state, code); rewind.ErrorCode(err) != rewind.EUNAUTHORIZED || !strings.Contains(err.Error(), "state") {
				t.Errorf("state %q: %v", state, err)
			}
		}
		if _, _, err := f.oidc.Finish(ctx, Pending{}, "", code); rewind.ErrorCode(err) != rewind.EUNAUTHORIZED {
			t.Errorf("no pending sign-in: %v", err)
		}
	})
	t.Run("wrong nonce", func(t *testing.T) {
		pend, state, code := f.signIn(t, "lena", "lena-password-1", func(q url.Values) { q.Set("nonce", "an-attackers-nonce") })
		if _, _, err := f.oidc.Finish(ctx, pend, state, code); rewind.ErrorCode(err) != rewind.EUNAUTHORIZED || !strings.Contains(err.Error(), "nonce") {
			t.Errorf("wrong nonce: %v", err)
		}
	})
	t.Run("wrong PKCE challenge", func(t *testing.T) {
		pend, state, code := f.signIn(t, "lena", "lena-password-1", func(q url.Values) {
			q.Set("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
		})
		if _, _, err := f.oidc.Finish(ctx, pend, state, code); rewind.ErrorCode(err) != rewind.EUNAUTHORIZED {
			t.Errorf("code with another challenge: %v", err)
		}
	})
	t.Run("too late", func(t *testing.T) {
		pend, state, code := f.signIn(t, "lena", "lena-password-1", nil)
		pend.At = pend.At.Add(-PendingMaxAge - time.Second)
		if _, _, err := f.oidc.Finish(ctx, pend, state, code); rewind.ErrorCode(err) != rewind.EUNAUTHORIZED {
			t.Errorf("a sign-in older than %s: %v", PendingMaxAge, err)
		}
	})
	t.Run("wrong audience", func(t *testing.T) {
		raw, err := f.dex.PasswordGrant(otherClient, "lena", "lena-password-1", "openid profile email groups")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.oidc.Verify(ctx, nil, raw, ""); rewind.ErrorCode(err) != rewind.EUNAUTHORIZED || !strings.Contains(err.Error(), "audience") {
			t.Errorf("an ID token issued to another client: %v", err)
		}
	})
	t.Run("expired token", func(t *testing.T) {
		raw, err := f.dex.PasswordGrant(rewindClient, "lena", "lena-password-1", "openid profile email groups")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.oidc.Verify(ctx, nil, raw, ""); err != nil {
			t.Fatalf("a fresh token of Rewind's client: %v", err)
		}
		later, _ := NewOIDC(f.oidc.cfg)
		later.Now = func() time.Time { return time.Now().Add(25 * time.Hour) } // Dex's ID tokens last 24h
		if _, _, err := later.Verify(ctx, nil, raw, ""); rewind.ErrorCode(err) != rewind.EUNAUTHORIZED || !strings.Contains(err.Error(), "expired") {
			t.Errorf("an expired token: %v", err)
		}
		tampered := raw[:len(raw)-4] + "AAAA"
		if _, _, err := f.oidc.Verify(ctx, nil, tampered, ""); rewind.ErrorCode(err) != rewind.EUNAUTHORIZED {
			t.Errorf("a token with a broken signature: %v", err)
		}
	})
	t.Run("provider refuses", func(t *testing.T) {
		authURL, _, _ := f.oidc.Start(ctx, "/")
		if _, err := f.dex.SignIn(authURL, "lena", "wrong-password"); err == nil {
			t.Error("Dex signed lena in with a wrong password")
		}
	})

	// The refresh token follows the directory: lena leaves shop-leads, then
	// the directory forgets her.
	t.Run("refresh", func(t *testing.T) {
		pend, state, code := f.signIn(t, "lena", "lena-password-1", nil)
		_, tokens, err := f.oidc.Finish(ctx, pend, state, code)
		if err != nil {
			t.Fatal(err)
		}
		id, next, err := f.oidc.Refresh(ctx, tokens.Refresh)
		if err != nil || id.Username != "lena" || next.Refresh == "" {
			t.Fatalf("refresh: %+v %v", id, err)
		}
		f.dir.SetPersons(idp.Person{Name: "lena", Password: "lena-password-1", Mail: "lena@example.com", Groups: []string{"shop-devs"}}, shopPeople[1])
		id, next, err = f.oidc.Refresh(ctx, next.Refresh)
		if err != nil || !slices.Equal(id.Groups, []string{"shop-devs"}) {
			t.Fatalf("refresh after lena left shop-leads: %+v %v", id, err)
		}
		f.dir.SetPersons(shopPeople[1])
		if _, _, err := f.oidc.Refresh(ctx, next.Refresh); rewind.ErrorCode(err) != rewind.EUNAUTHORIZED {
			t.Errorf("refresh of someone the directory forgot: %v", err)
		}
		if _, _, err := f.oidc.Refresh(ctx, ""); rewind.ErrorCode(err) != rewind.EUNAUTHORIZED {
			t.Errorf("no refresh token: %v", err)
		}
	})
}
