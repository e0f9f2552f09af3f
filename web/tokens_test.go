package web

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var newTokenRe = regexp.MustCompile(`<code>(rwd_[A-Za-z0-9_-]+)</code>`)
var revokeRe = regexp.MustCompile(`action="(/(?:profile|settings)/tokens/\d+/revoke)"`)

func TestProfileTokens(t *testing.T) {
	for _, tc := range []struct {
		name, user, path string
		form             url.Values
		wantCreate       int
		wantMe           string
	}{
		{"personal", "otto", "/profile/tokens", url.Values{"name": {"laptop"}, "days": {"30"}}, 200, "otto"},
		{"personal read-only", "vera", "/profile/tokens", url.Values{"name": {"ro"}, "days": {"0"}, "read_only": {"1"}}, 200, "vera"},
		{"service", "adam", "/settings/tokens", url.Values{"name": {"ci-stage"}, "days": {"0"}, "role": {"operator"}}, 200, "token:ci-stage"},
		{"service by a non-admin", "anna", "/settings/tokens", url.Values{"name": {"ci"}, "days": {"0"}, "role": {"admin"}}, 403, ""},
		{"bad name", "otto", "/profile/tokens", url.Values{"name": {"Not OK"}, "days": {"1"}}, 422, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newAPIFixture(t)
			c := newClient(t, f.url)
			c.login(tc.user)
			tc.form.Set("csrf_token", c.csrf("/profile"))
			code, body := c.post(tc.path, tc.form)
			if code != tc.wantCreate {
				t.Fatalf("create: %d, want %d", code, tc.wantCreate)
			}
			if code != 200 {
				return
			}
			m := newTokenRe.FindStringSubmatch(body)
			if m == nil {
				t.Fatal("the new token is not shown")
			}
			f.tokens["new"] = m[1]
			if code, me, _ := f.do(t, "new", "GET", "/api/v1/me", nil); code != 200 || me["username"] != tc.wantMe {
				t.Fatalf("/me with the new token: %d %v, want %s", code, me, tc.wantMe)
			}
			listPath := strings.TrimSuffix(tc.path, "/tokens")
			if listPath == "/settings" {
				listPath = "/settings/tokens"
			}
			_, list := c.get(listPath)
			if listPath == "/settings/tokens" && !strings.Contains(list, `href="/settings/tokens" class="active"`) {
				t.Error("the service tokens page is not in the settings navigation")
			}
			if strings.Contains(list, m[1]) || !strings.Contains(list, tc.form.Get("name")) {
				t.Error("the list shows the token's secret, or not its name")
			}
			r := revokeRe.FindStringSubmatch(list)
			if r == nil {
				t.Fatal("no revoke button")
			}
			if code, _ := c.post(r[1], url.Values{"csrf_token": {c.csrf("/profile")}}); code != http.StatusSeeOther {
				t.Fatalf("revoke: %d", code)
			}
			if code, _, _ := f.do(t, "new", "GET", "/api/v1/me", nil); code != http.StatusUnauthorized {
				t.Errorf("/me with the revoked token: %d, want 401", code)
			}
		})
	}
}
