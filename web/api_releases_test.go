package web

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/rewind"
)

// TestAPIReleases records a release as a pipeline does: workflow, start, a
// version seen, finish, then block, check and unblock.
func TestAPIReleases(t *testing.T) {
	f := newAPIFixture(t)
	var wf, rel float64
	path := func(format string, id *float64) func() string {
		return func() string { return fmt.Sprintf(format, int64(*id)) }
	}
	fixed := func(p string) func() string { return func() string { return p } }
	for _, tc := range []struct {
		name   string
		token  string
		method string
		path   func() string
		body   any
		before func(t *testing.T)
		want   int
		check  func(t *testing.T, body map[string]any)
	}{
		{"viewer defines a workflow", "vera", "POST", fixed("/api/v1/workflows"), map[string]any{"name": "shop", "environment": "prod", "target_ids": []int64{f.target.ID}}, nil, 403, nil},
		{"workflow without targets", "otto", "POST", fixed("/api/v1/workflows"), map[string]any{"name": "shop", "environment": "prod"}, nil, 400, nil},
		{"workflow", "otto", "POST", fixed("/api/v1/workflows"), map[string]any{"name": "shop", "environment": "prod", "target_ids": []int64{f.target.ID}}, nil, 201,
			func(t *testing.T, b map[string]any) {
				wf = b["id"].(float64)
				if b["health"] != "no releases" || b["release_timeout"] != 7200.0 {
					t.Errorf("new workflow %v", b)
				}
			}},
		{"start with a bad link", "ci-prod", "POST", fixed("/api/v1/releases"), map[string]any{"workflow": "shop", "name": "1.4.2", "url": "ftp://ci/1"}, nil, 400, nil},
		{"start from another environment", "ci-dev", "POST", fixed("/api/v1/releases"), map[string]any{"workflow": "shop", "name": "1.4.2"}, nil, 404, nil},
		{"start", "ci-prod", "POST", fixed("/api/v1/releases"), map[string]any{"workflow": "shop", "name": "1.4.2", "commit": "9F3C2E1", "url": "https://ci.example.com/runs/42"}, nil, 201,
			func(t *testing.T, b map[string]any) {
				rel = b["id"].(float64)
				if b["number"] != 1.0 || b["state"] != "open" || b["commit"] != "9f3c2e1" || b["started_by"] != "token:ci-prod" {
					t.Errorf("started %v", b)
				}
			}},
		{"second start while open", "ci-prod", "POST", fixed("/api/v1/releases"), map[string]any{"workflow_id": 0, "workflow": "shop", "name": "1.4.3"}, nil, 409, nil},
		{"workflows of another environment", "ci-dev", "GET", fixed("/api/v1/workflows"), nil, nil, 200, func(t *testing.T, b map[string]any) {
			if b["total"] != 0.0 {
				t.Errorf("ci-dev sees %v workflows", b["total"])
			}
		}},
		{"workflow of another environment", "ci-dev", "GET", path("/api/v1/workflows/%d", &wf), nil, nil, 404, nil},
		{"open release observes", "vera", "GET", path("/api/v1/releases/%d", &rel), nil, func(t *testing.T) {
			if _, _, err := f.store.RecordVersion(context.Background(), &rewind.Version{TargetID: f.target.ID, Content: "image: web:4\n", Hash: "4", Source: rewind.SourceObserved}); err != nil {
				t.Fatal(err)
			}
		}, 200, func(t *testing.T, b map[string]any) {
			items, _ := b["items"].([]any)
			if len(items) != 1 || items[0].(map[string]any)["version"] != 4.0 || items[0].(map[string]any)["before_version"] != 3.0 {
				t.Errorf("open release items %v", b["items"])
			}
		}},
		{"finish with a bad item", "ci-prod", "POST", path("/api/v1/releases/%d/finish", &rel), map[string]any{"items": []string{"web@4"}}, nil, 400, nil},
		{"finish", "ci-prod", "POST", path("/api/v1/releases/%d/finish", &rel), nil, nil, 200, func(t *testing.T, b map[string]any) {
			if b["state"] != "succeeded" || b["status"] != "current" || len(b["items"].([]any)) != 1 {
				t.Errorf("finished %v", b)
			}
			if c := b["counts"].(map[string]any); c["text"] != "1 service" {
				t.Errorf("counts %v", c)
			}
		}},
		{"finish twice", "ci-prod", "POST", path("/api/v1/releases/%d/finish", &rel), nil, nil, 409, nil},
		{"version list", "vera", "GET", path("/api/v1/workflows/%d/releases", &wf), nil, nil, 200, func(t *testing.T, b map[string]any) {
			items := b["items"].([]any)
			if len(items) != 1 || !strings.Contains(fmt.Sprint(items[0].(map[string]any)["labels"]), "stable") {
				t.Errorf("releases %v", items)
			}
		}},
		{"not blocked", "vera", "GET", fixed("/api/v1/releases/check?workflow=shop&name=1.4.2"), nil, nil, 200, func(t *testing.T, b map[string]any) {
			if b["blocked"] != false {
				t.Errorf("check %v", b)
			}
		}},
		{"check without name", "vera", "GET", fixed("/api/v1/releases/check?workflow=shop"), nil, nil, 400, nil},
		{"block without reason", "otto", "POST", path("/api/v1/releases/%d/block", &rel), map[string]any{"reason": " "}, nil, 400, nil},
		{"viewer blocks", "vera", "POST", path("/api/v1/releases/%d/block", &rel), map[string]any{"reason": "broke checkout"}, nil, 403, nil},
		{"block", "otto", "POST", path("/api/v1/releases/%d/block", &rel), map[string]any{"reason": "broke checkout"}, nil, 200, func(t *testing.T, b map[string]any) {
			if b["blocked"] != true || b["blocked_by"] != "token:otto (otto)" {
				t.Errorf("blocked %v", b)
			}
		}},
		{"blocked", "ci-prod", "GET", fixed("/api/v1/releases/check?workflow=shop&environment=prod&name=1.4.2"), nil, nil, 200, func(t *testing.T, b map[string]any) {
			if b["blocked"] != true || b["reason"] != "broke checkout" || b["release_id"] != rel {
				t.Errorf("check %v", b)
			}
		}},
		{"unblock", "anna", "POST", path("/api/v1/releases/%d/unblock", &rel), map[string]any{"reason": "fixed by a config change"}, nil, 200, nil},
		{"unblocked", "vera", "GET", fixed("/api/v1/releases/check?workflow=shop&name=1.4.2"), nil, nil, 200, func(t *testing.T, b map[string]any) {
			if b["blocked"] != false {
				t.Errorf("check %v", b)
			}
		}},
		{"unreleased", "vera", "GET", path("/api/v1/workflows/%d/unreleased", &wf), nil, func(t *testing.T) {
			if _, _, err := f.store.RecordVersion(context.Background(), &rewind.Version{TargetID: f.target.ID, Content: "image: web:5\n", Hash: "5", Source: rewind.SourceObserved}); err != nil {
				t.Fatal(err)
			}
		}, 200, func(t *testing.T, b map[string]any) {
			if b["total"] != 1.0 {
				t.Errorf("unreleased %v", b)
			}
		}},
		{"workflow drifted", "vera", "GET", path("/api/v1/workflows/%d", &wf), nil, nil, 200, func(t *testing.T, b map[string]any) {
			if b["health"] != "drifted" || b["unreleased"] != 1.0 || b["current"].(map[string]any)["id"] != rel {
				t.Errorf("workflow %v", b)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before(t)
			}
			code, body, _ := f.do(t, tc.token, tc.method, tc.path(), tc.body)
			if code != tc.want {
				t.Fatalf("status %d, want %d: %v", code, tc.want, body)
			}
			if tc.check != nil {
				tc.check(t, body)
			}
		})
	}
	events, _, _ := f.store.Audit(context.Background(), rewind.AuditFilter{})
	var actions []string
	for _, e := range events {
		if strings.HasPrefix(e.Action, "release.") || strings.HasPrefix(e.Action, "workflow.") {
			actions = append(actions, e.Action)
		}
	}
	if got, want := strings.Join(actions, " "), "release.unblock release.block release.finish release.start workflow.change"; got != want {
		t.Errorf("audit %q, want %q", got, want)
	}
}
