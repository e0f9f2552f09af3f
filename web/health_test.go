package web

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"
)

func TestReadyzDetailsNeedSession(t *testing.T) {
	ts, _ := newTestServer(t)
	tests := []struct {
		user     string // "" for no session
		wantKeys string
	}{
		{"", "ready"},
		{"vera", "checks,degraded,leader,ready"},
		{"otto", "checks,degraded,leader,ready"},
		{"adam", "checks,degraded,leader,ready"},
	}
	for _, tt := range tests {
		t.Run("user="+tt.user, func(t *testing.T) {
			c := newClient(t, ts.URL)
			if tt.user != "" {
				c.login(tt.user)
			}
			resp, err := c.http.Get(ts.URL + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			keys := make([]string, 0, len(got))
			for k := range got {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if resp.StatusCode != http.StatusOK || strings.Join(keys, ",") != tt.wantKeys || got["ready"] != true {
				t.Errorf("/readyz = %d %v, want 200 with keys %s and ready", resp.StatusCode, got, tt.wantKeys)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			if tt.user != "" {
				if checks, _ := got["checks"].(map[string]any); checks["store"] != "ok" {
					t.Errorf("checks = %v, want store ok", got["checks"])
				}
			}
		})
	}
	if code, body := newClient(t, ts.URL).get("/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz = %d %q, want 200 ok", code, body)
	}
}
