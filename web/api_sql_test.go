package web

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/dbchange"
	"github.com/rewindhq/rewind/internal/rewind"
)

// TestAPISQLChange submits a SQL change through the API, has it approved,
// follows it until the real runner has run it, and reads its rollback SQL.
func TestAPISQLChange(t *testing.T) {
	s := newDBServer(t, dbchange.Options{})
	f := &apiFixture{url: s.url, store: s.store, tokens: map[string]string{}}
	for _, name := range []string{"otto", "anna", "vera"} {
		f.tokens[name] = f.mkToken(t, rewind.APIToken{Name: "t", Username: name})
	}
	db := "/api/v1/databases/" + strconv.FormatInt(s.target.ID, 10)
	for _, tc := range []struct {
		name, token, path string
		body              map[string]any
		want              int
		wantField         string
	}{
		{"preview", "otto", db + "/preview", map[string]any{"sql": "UPDATE items SET price = '2.00' WHERE id = 1"}, 200, ""},
		{"viewer submits", "vera", db + "/changes", map[string]any{"sql": "DELETE FROM items", "reason": "x"}, 403, ""},
		{"no reason", "otto", db + "/changes", map[string]any{"sql": "DELETE FROM items WHERE id = 3"}, 400, "reason"},
		{"failing preview", "otto", db + "/changes", map[string]any{"sql": "UPDATE nope SET a = 1", "reason": "x"}, 400, "sql"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := f.do(t, tc.token, "POST", tc.path, tc.body)
			if code != tc.want {
				t.Fatalf("status %d, want %d (%v)", code, tc.want, body)
			}
			if tc.wantField != "" {
				fields, _ := body["error"].(map[string]any)["fields"].(map[string]any)
				if fields[tc.wantField] == nil {
					t.Errorf("error %v lacks field %s", body, tc.wantField)
				}
			}
		})
	}
	code, body, _ := f.do(t, "otto", "POST", db+"/changes", map[string]any{"sql": "DELETE FROM items WHERE id = 3", "reason": "remove the test item"})
	if code != 201 {
		t.Fatalf("submit: %d %v", code, body)
	}
	id := strconv.FormatInt(int64(body["id"].(float64)), 10)
	if code, body, _ := f.do(t, "anna", "POST", "/api/v1/requests/"+id+"/approve", map[string]any{"comment": "ok"}); code != 200 {
		t.Fatalf("approve: %d %v", code, body)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, r, _ := f.do(t, "vera", "GET", "/api/v1/requests/"+id, nil)
		if r["final"] == true {
			if r["state"] != "succeeded" {
				t.Fatalf("request ended %v: %v", r["state"], r["outcome"])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("request still %v", r["state"])
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, ch, _ := f.do(t, "vera", "GET", "/api/v1/changes/"+id, nil)
	if code != 200 || ch["executed"] != true || !strings.Contains(ch["generated_rollback_sql"].(string), "INSERT") {
		t.Errorf("change: %d %v; want it executed with an INSERT to roll it back", code, ch)
	}
}
