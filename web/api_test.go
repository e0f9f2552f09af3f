package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/requests"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/sqlite"
)

// clusterUp is the Services of a Rewind whose cluster answers every
// pre-flight check; it stands in for Kubernetes, not for our store.
type clusterUp struct{ noClusters }

func (clusterUp) Status(context.Context, *rewind.Target) (*rewind.RolloutStatus, error) {
	return &rewind.RolloutStatus{Phase: rewind.PhaseProgressing, Message: "2 of 3 pods updated", Desired: 3, Updated: 2, Ready: 2, Available: 2}, nil
}

func (clusterUp) Preflight(context.Context, *rewind.Target, *rewind.Version) (string, error) {
	return "rv-1", nil
}

// apiFixture is a server with the four users, a prod environment needing
// one approval, a service with three versions, and tokens by name.
type apiFixture struct {
	url    string
	srv    *Server
	store  *sqlite.Store
	target *rewind.Target
	tokens map[string]string
}

func newAPIFixture(t testing.TB) *apiFixture {
	t.Helper()
	ctx := context.Background()
	store, env := newProdStore(t)
	tg := &rewind.Target{Kind: rewind.KindService, EnvironmentID: env.ID, OwnerID: 1, Namespace: "shop", Workload: "Deployment", Name: "web"}
	if _, err := store.EnsureTarget(ctx, tg); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		img := "registry.local/web:" + strconv.Itoa(i)
		if _, _, err := store.RecordVersion(ctx, &rewind.Version{TargetID: tg.ID, Revision: strconv.Itoa(i), Content: "image: " + img + "\n", Hash: strconv.Itoa(i),
			Source: rewind.SourceObserved, Images: []rewind.Image{{Container: "app", Image: img}}}); err != nil {
			t.Fatal(err)
		}
	}
	srv := New(store, clusterUp{}, &wakeCounter{}, slog.New(slog.NewTextHandler(io.Discard, nil)),
		Options{SessionKeys: [][]byte{make([]byte, 32), make([]byte, 32)}})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	f := &apiFixture{url: ts.URL, srv: srv, store: store, target: tg, tokens: map[string]string{}}
	past := time.Now().Add(-time.Hour)
	for name, tok := range map[string]rewind.APIToken{
		"vera": {Username: "vera"}, "otto": {Username: "otto"}, "anna": {Username: "anna"}, "adam": {Username: "adam"},
		"otto-ro": {Username: "otto", ReadOnly: true}, "otto-expired": {Username: "otto", ExpiresAt: &past}, "otto-revoked": {Username: "otto"},
		"ci-prod": {Role: rewind.RoleOperator, Environments: []int64{env.ID}}, "ci-dev": {Role: rewind.RoleOperator, Environments: []int64{env.ID + 100}},
		"ci-prod-approver": {Role: rewind.RoleNone, EnvRoles: rewind.EnvRoles{env.ID: rewind.RoleApprover}},
		"ci-prod-none":     {Role: rewind.RoleAdmin, EnvRoles: rewind.EnvRoles{env.ID: rewind.RoleNone}},
	} {
		tok.Name = name
		f.tokens[name] = f.mkToken(t, tok)
	}
	revoked, _ := store.TokenByHash(ctx, rewind.HashToken(f.tokens["otto-revoked"]))
	if err := store.RevokeToken(ctx, revoked.ID, rewind.AuditEvent{Actor: "otto", Action: rewind.ActionTokenRevoke}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *apiFixture) mkToken(t testing.TB, tok rewind.APIToken) string {
	t.Helper()
	token, hash := rewind.NewTokenSecret()
	tok.Prefix, tok.CreatedBy = token[:8], "adam"
	if err := f.store.CreateToken(context.Background(), &tok, hash, rewind.AuditEvent{Actor: "adam", Action: rewind.ActionTokenCreate, Target: tok.Name}); err != nil {
		t.Fatal(err)
	}
	return token
}

// do sends a request with the named token (none when empty) and returns
// the status and decoded JSON body.
func (f *apiFixture) do(t testing.TB, token, method, path string, body any, header ...string) (int, map[string]any, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.url+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+f.tokens[token])
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out, resp.Header
}

func (f *apiFixture) newRequest(t testing.TB, token string) int64 {
	t.Helper()
	code, body, _ := f.do(t, token, "POST", "/api/v1/requests", map[string]any{"target_id": f.target.ID, "to_version": 1, "reason": "bad release"})
	if code != http.StatusCreated {
		t.Fatalf("create request: %d %v", code, body)
	}
	return int64(body["id"].(float64))
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func TestAPIAuth(t *testing.T) {
	f := newAPIFixture(t)
	for _, tc := range []struct {
		name   string
		header string
		want   int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"not bearer", "Basic b3R0bzpwdw==", http.StatusUnauthorized},
		{"unknown token", "Bearer rwd_nope", http.StatusUnauthorized},
		{"expired", "Bearer " + f.tokens["otto-expired"], http.StatusUnauthorized},
		{"revoked", "Bearer " + f.tokens["otto-revoked"], http.StatusUnauthorized},
		{"valid", "Bearer " + f.tokens["otto"], http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := f.do(t, "", "GET", "/api/v1/me", nil, "Authorization", tc.header)
			if code != tc.want {
				t.Fatalf("status = %d, want %d (%v)", code, tc.want, body)
			}
			if code != 200 && errCode(body) != rewind.EUNAUTHORIZED {
				t.Errorf("error = %v, want code unauthorized", body)
			}
		})
	}
	t.Run("token refused on a page", func(t *testing.T) {
		req, _ := http.NewRequest("GET", f.url+"/services", nil)
		req.Header.Set("Authorization", "Bearer "+f.tokens["adam"])
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Errorf("status %d, location %q; want a redirect to /login", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("session cookie refused on the API", func(t *testing.T) {
		c := newClient(t, f.url)
		c.login("adam")
		token := c.csrf("/audit")
		req, _ := http.NewRequest("POST", f.url+"/api/v1/requests", strings.NewReader(`{}`))
		req.Header.Set("X-CSRF-Token", token)
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if code, _ := c.get("/api/v1/me"); code != http.StatusUnauthorized || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /me %d, POST /requests %d with a session; want 401", code, resp.StatusCode)
		}
	})
}

func TestAPIRoleMatrix(t *testing.T) {
	for _, tc := range []struct {
		token                 string
		list, create, approve int
	}{
		{"vera", 200, 403, 403},
		{"otto", 200, 201, 403},
		{"otto-ro", 200, 403, 403},
		{"anna", 200, 201, 200},
		{"adam", 200, 201, 200},
		{"ci-prod", 200, 201, 403},
		// A token bound to another environment does not see prod's request.
		{"ci-dev", 200, 400, 404},
		// Roles per environment: approver in prod only, and admin but none in prod.
		{"ci-prod-approver", 200, 201, 200},
		{"ci-prod-none", 200, 400, 404},
	} {
		t.Run(tc.token, func(t *testing.T) {
			f := newAPIFixture(t)
			if code, body, _ := f.do(t, tc.token, "GET", "/api/v1/services", nil); code != tc.list {
				t.Errorf("list: %d, want %d (%v)", code, tc.list, body)
			}
			code, body, _ := f.do(t, tc.token, "POST", "/api/v1/requests", map[string]any{"target_id": f.target.ID, "to_version": 1, "reason": "bad release"})
			if code != tc.create {
				t.Errorf("create: %d, want %d (%v)", code, tc.create, body)
			}
			if code == http.StatusCreated { // make room for otto's request
				admin := requests.Actor{User: rewind.User{Username: "adam", Role: rewind.RoleAdmin}}
				if _, err := f.srv.requests().Cancel(context.Background(), admin, int64(body["id"].(float64))); err != nil {
					t.Fatal(err)
				}
			}
			id := f.newRequest(t, "otto")
			if code, body, _ := f.do(t, tc.token, "POST", "/api/v1/requests/"+strconv.FormatInt(id, 10)+"/approve", map[string]any{"comment": "ok"}); code != tc.approve {
				t.Errorf("approve: %d, want %d (%v)", code, tc.approve, body)
			}
		})
	}
}

func TestAPIRequests(t *testing.T) {
	f := newAPIFixture(t)
	id := f.newRequest(t, "otto")
	path := "/api/v1/requests/" + strconv.FormatInt(id, 10)
	for _, tc := range []struct {
		name, token, method, path string
		body                      any
		want                      int
		wantCode, wantState       string
	}{
		{"self-approval", "otto", "POST", path + "/approve", nil, 403, rewind.EFORBIDDEN, ""},
		{"reject needs a reason", "anna", "POST", path + "/reject", map[string]any{"comment": ""}, 400, rewind.EINVALID, ""},
		{"second open request", "adam", "POST", "/api/v1/requests", map[string]any{"target_id": f.target.ID, "to_version": 2, "reason": "again"}, 409, rewind.ECONFLICT, ""},
		{"no reason", "adam", "POST", "/api/v1/requests", map[string]any{"target_id": f.target.ID, "to_version": 2, "reason": ""}, 400, rewind.EINVALID, ""},
		{"unknown field", "adam", "POST", "/api/v1/requests", map[string]any{"target": 1}, 400, rewind.EINVALID, ""},
		{"other operator cancels", "ci-prod", "POST", path + "/cancel", nil, 403, rewind.EFORBIDDEN, ""},
		{"show", "vera", "GET", path, nil, 200, "", "pending"},
		{"approve", "anna", "POST", path + "/approve", map[string]any{"comment": "go"}, 200, "", "approved"},
		{"requester cancels", "otto", "POST", path + "/cancel", nil, 200, "", "cancelled"},
		{"unknown request", "vera", "GET", "/api/v1/requests/999", nil, 404, rewind.ENOTFOUND, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := f.do(t, tc.token, tc.method, tc.path, tc.body)
			if code != tc.want || errCode(body) != tc.wantCode {
				t.Fatalf("got %d %q, want %d %q (%v)", code, errCode(body), tc.want, tc.wantCode, body)
			}
			if tc.wantState != "" && body["state"] != tc.wantState {
				t.Errorf("state = %v, want %s", body["state"], tc.wantState)
			}
		})
	}
	t.Run("audit names the token", func(t *testing.T) {
		code, body, _ := f.do(t, "vera", "GET", "/api/v1/audit?per_page=50", nil)
		if code != 200 {
			t.Fatalf("audit: %d", code)
		}
		var actors []string
		for _, it := range body["items"].([]any) {
			actors = append(actors, it.(map[string]any)["actor"].(string))
		}
		joined := strings.Join(actors, ",")
		for _, want := range []string{"token:otto (otto)", "token:anna (anna)"} {
			if !strings.Contains(joined, want) {
				t.Errorf("audit actors %v lack %q", actors, want)
			}
		}
		for name, tok := range f.tokens {
			if strings.Contains(joined, tok) {
				t.Errorf("audit holds token %s", name)
			}
		}
	})
}

func TestAPIIdempotency(t *testing.T) {
	f := newAPIFixture(t)
	body := map[string]any{"target_id": f.target.ID, "to_version": 1, "reason": "bad release"}
	for _, tc := range []struct {
		name, token, key string
		want             int
		sameAsFirst      bool
	}{
		{"first", "otto", "run-42", 201, true},
		{"retry", "otto", "run-42", 200, true},
		{"other user, same key", "anna", "run-42", 409, false},
		{"same user, new key", "otto", "run-43", 409, false},
	} {
		var first float64
		t.Run(tc.name, func(t *testing.T) {
			code, got, _ := f.do(t, tc.token, "POST", "/api/v1/requests", body, "Idempotency-Key", tc.key)
			if code != tc.want {
				t.Fatalf("status %d, want %d (%v)", code, tc.want, got)
			}
			if tc.sameAsFirst {
				if first == 0 {
					first = got["id"].(float64)
				}
				if got["id"] != first {
					t.Errorf("id %v, want %v", got["id"], first)
				}
			}
		})
	}
	reqs, err := f.store.Requests(context.Background(), sqlite.RequestFilter{})
	if err != nil || len(reqs) != 1 {
		t.Errorf("%d requests stored (%v), want 1", len(reqs), err)
	}
}

func TestAPIReads(t *testing.T) {
	f := newAPIFixture(t)
	vp := "/api/v1/targets/" + strconv.FormatInt(f.target.ID, 10)
	for _, tc := range []struct {
		name, path string
		want       int
		check      func(map[string]any) string
	}{
		{"versions page 2", vp + "/versions?per_page=2&page=2", 200, func(b map[string]any) string {
			if b["total"] != 3.0 || len(b["items"].([]any)) != 1 || b["items"].([]any)[0].(map[string]any)["number"] != 1.0 {
				return "want total 3 and version 1 alone on page 2"
			}
			return ""
		}},
		{"per_page too large", vp + "/versions?per_page=1000", 400, func(b map[string]any) string {
			if b["error"].(map[string]any)["fields"].(map[string]any)["per_page"] == nil {
				return "want a per_page field error"
			}
			return ""
		}},
		{"diff", vp + "/diff?from=1&to=3", 200, func(b map[string]any) string {
			ic, _ := b["image_changes"].([]any)
			if len(ic) != 1 || len(b["hunks"].([]any)) != 1 || b["added"] != 1.0 {
				return "want one image change and one hunk"
			}
			return ""
		}},
		{"diff unknown version", vp + "/diff?from=1&to=9", 400, nil},
		{"services filtered", "/api/v1/services?environment=prod&q=we", 200, func(b map[string]any) string {
			if b["total"] != 1.0 {
				return "want the one service"
			}
			return ""
		}},
		{"services of an unknown environment", "/api/v1/services?environment=nope", 400, nil},
		{"service as config", "/api/v1/configs/" + strconv.FormatInt(f.target.ID, 10), 404, nil},
		{"unknown route", "/api/v1/nope", 404, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := f.do(t, "vera", "GET", tc.path, nil)
			if code != tc.want {
				t.Fatalf("status %d, want %d (%v)", code, tc.want, body)
			}
			if code >= 400 && errCode(body) == "" {
				t.Errorf("error body %v lacks the error shape", body)
			}
			if tc.check != nil {
				if msg := tc.check(body); msg != "" {
					t.Errorf("%s: %v", msg, body)
				}
			}
		})
	}
	t.Run("audit csv", func(t *testing.T) {
		f.newRequest(t, "otto")
		code, _, h := f.do(t, "vera", "GET", "/api/v1/audit.csv", nil)
		if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") {
			t.Errorf("status %d, type %q; want 200 text/csv", code, h.Get("Content-Type"))
		}
	})
	t.Run("live rollout of a running request", func(t *testing.T) {
		reqs, _ := f.store.Requests(context.Background(), sqlite.RequestFilter{States: []rewind.State{rewind.StatePending}})
		if len(reqs) == 0 {
			t.Fatal("no pending request")
		}
		id := reqs[0].ID
		path := "/api/v1/requests/" + strconv.FormatInt(id, 10)
		if _, body, _ := f.do(t, "vera", "GET", path, nil); body["rollout"] != nil {
			t.Errorf("a pending request shows a rollout: %v", body["rollout"])
		}
		ctx := context.Background()
		for _, step := range [][2]rewind.State{{rewind.StatePending, rewind.StateApproved}, {rewind.StateApproved, rewind.StateRunning}} {
			if _, err := f.store.Move(ctx, id, []rewind.State{step[0]}, step[1], "", nil); err != nil {
				t.Fatal(err)
			}
		}
		_, body, _ := f.do(t, "vera", "GET", path, nil)
		ro, _ := body["rollout"].(map[string]any)
		if ro["phase"] != "progressing" || ro["updated"] != 2.0 || ro["desired"] != 3.0 {
			t.Errorf("rollout %v, want progressing with 2 of 3 updated", body["rollout"])
		}
		if _, err := f.store.Move(ctx, id, []rewind.State{rewind.StateRunning}, rewind.StateFailed, "test over", nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("requests and audit of a bound service token", func(t *testing.T) {
		reqs, _ := f.store.Requests(context.Background(), sqlite.RequestFilter{})
		if len(reqs) == 0 {
			t.Fatal("no request")
		}
		one := "/api/v1/requests/" + strconv.FormatInt(reqs[0].ID, 10)
		for _, tc := range []struct {
			token, path string
			want        int
			total       float64 // for lists: how many items, -1 when not a list
		}{
			{"ci-prod", "/api/v1/requests", 200, float64(len(reqs))},
			{"ci-dev", "/api/v1/requests", 200, 0},
			{"ci-prod", one, 200, -1},
			{"ci-dev", one, 404, -1},
			{"ci-prod", "/api/v1/audit?environment=prod", 200, -1},
			{"ci-prod", "/api/v1/audit", 403, -1},
			{"ci-dev", "/api/v1/audit?environment=prod", 403, -1},
			{"ci-dev", "/api/v1/audit.csv?env=prod", 403, -1},
			{"ci-prod", "/api/v1/audit.csv?env=prod", 200, -1},
			{"vera", "/api/v1/audit", 200, -1},
		} {
			code, body, _ := f.do(t, tc.token, "GET", tc.path, nil)
			if code != tc.want || tc.total >= 0 && body["total"] != tc.total {
				t.Errorf("%s GET %s: %d total %v, want %d total %v", tc.token, tc.path, code, body["total"], tc.want, tc.total)
			}
		}
	})
	t.Run("change of a service request", func(t *testing.T) {
		reqs, _ := f.store.Requests(context.Background(), sqlite.RequestFilter{})
		if len(reqs) == 0 {
			t.Fatal("no request")
		}
		code, body, _ := f.do(t, "vera", "GET", "/api/v1/changes/"+strconv.FormatInt(reqs[0].ID, 10), nil)
		if code != 404 || errCode(body) != rewind.ENOTFOUND {
			t.Errorf("status %d %v, want 404 not_found", code, body)
		}
	})
	t.Run("service token bound elsewhere", func(t *testing.T) {
		_, list, _ := f.do(t, "ci-dev", "GET", "/api/v1/services", nil)
		code, _, _ := f.do(t, "ci-dev", "GET", vp+"/versions", nil)
		if list["total"] != 0.0 || code != 404 {
			t.Errorf("ci-dev sees %v services and versions with %d; want none and 404", list["total"], code)
		}
	})
	t.Run("etag", func(t *testing.T) {
		_, _, h := f.do(t, "vera", "GET", vp+"/versions", nil)
		tag := h.Get("ETag")
		if tag == "" {
			t.Fatal("no ETag")
		}
		if code, _, _ := f.do(t, "vera", "GET", vp+"/versions", nil, "If-None-Match", tag); code != http.StatusNotModified {
			t.Errorf("status %d with If-None-Match, want 304", code)
		}
		if code, _, _ := f.do(t, "vera", "GET", vp+"/versions?per_page=1", nil, "If-None-Match", tag); code != http.StatusOK {
			t.Errorf("status %d for another body, want 200", code)
		}
	})
}

// TestAPIOpenAPI checks that the document is OpenAPI 3 and lists exactly
// the routes registered under /api/v1.
func TestAPIOpenAPI(t *testing.T) {
	f := newAPIFixture(t)
	code, doc, _ := f.do(t, "", "GET", "/api/v1/openapi.json", nil)
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	for _, key := range []string{"openapi", "info", "paths", "components"} {
		if doc[key] == nil {
			t.Errorf("document lacks %q", key)
		}
	}
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.") {
		t.Errorf("openapi = %q, want 3.x", v)
	}
	var documented []string
	for path, item := range doc["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			documented = append(documented, strings.ToUpper(method)+" "+path)
			o := op.(map[string]any)
			if o["summary"] == nil || o["responses"] == nil {
				t.Errorf("%s %s lacks a summary or responses", method, path)
			}
			if strings.Contains(path, "{id}") && !strings.Contains(mustJSON(o["parameters"]), `"name":"id"`) {
				t.Errorf("%s %s does not document its id parameter", method, path)
			}
		}
	}
	var registered []string
	for _, r := range f.srv.apiRouteList() {
		registered = append(registered, r.method+" "+strings.ReplaceAll(r.path, ":id", "{id}"))
	}
	sort.Strings(documented)
	sort.Strings(registered)
	if strings.Join(documented, "\n") != strings.Join(registered, "\n") {
		t.Errorf("documented routes:\n%s\nregistered routes:\n%s", strings.Join(documented, "\n"), strings.Join(registered, "\n"))
	}
	raw, _ := os.ReadFile("openapi.json")
	if !json.Valid(raw) {
		t.Error("openapi.json is not valid JSON")
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }
