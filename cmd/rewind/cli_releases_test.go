package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/secret"
	"github.com/rewindhq/rewind/internal/sqlite"
	"github.com/rewindhq/rewind/web"
)

// TestCLIRelease records a release as a pipeline does: start, a version
// appears, finish; then block, check (exit 3), unblock, check (exit 0).
func TestCLIRelease(t *testing.T) {
	ctx := context.Background()
	box, _ := secret.NewBox(make([]byte, 32))
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "rewind.db"), box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	env := &rewind.Environment{Name: "prod"}
	if err := store.SaveEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	tg := &rewind.Target{Kind: rewind.KindService, EnvironmentID: env.ID, OwnerID: 1, Namespace: "shop", Workload: "Deployment", Name: "web"}
	if _, err := store.EnsureTarget(ctx, tg); err != nil {
		t.Fatal(err)
	}
	recordImage := func(t *testing.T, n int, at time.Time) {
		t.Helper()
		img := "registry.local/web:" + strconv.Itoa(n)
		if _, _, err := store.RecordVersion(ctx, &rewind.Version{TargetID: tg.ID, Content: "image: " + img + "\n", Hash: img, Source: rewind.SourceObserved,
			Images: []rewind.Image{{Container: "app", Image: img}}, CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	recordImage(t, 1, time.Now().Add(-time.Hour))
	if err := store.CreateUser(ctx, &rewind.User{Username: "otto", Role: rewind.RoleOperator, PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	token, hash := rewind.NewTokenSecret()
	if err := store.CreateToken(ctx, &rewind.APIToken{Name: "ci", Username: "otto", Prefix: token[:8], CreatedBy: "otto"}, hash, rewind.AuditEvent{Actor: "otto"}); err != nil {
		t.Fatal(err)
	}
	srv := web.New(store, cliCluster{}, noRunner{}, slog.New(slog.NewTextHandler(io.Discard, nil)), web.Options{SessionKeys: [][]byte{make([]byte, 32), make([]byte, 32)}})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)

	body, _ := json.Marshal(map[string]any{"name": "shop", "environment": "prod", "target_ids": []int64{tg.ID}})
	req, _ := http.NewRequest("POST", ts.URL+"/api/v1/workflows", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create workflow: %v %v", resp, err)
	}
	resp.Body.Close()

	getenv := func(k string) string {
		return map[string]string{"REWIND_SERVER": ts.URL, "REWIND_TOKEN": token, "XDG_CONFIG_HOME": t.TempDir()}[k]
	}
	var id string
	for _, tc := range []struct {
		name     string
		args     func() []string
		before   func(t *testing.T)
		wantErr  string
		wantCode int // exit code of an *exitError
		check    func(t *testing.T, out string)
	}{
		{"start", func() []string {
			return []string{"release", "start", "--workflow", "shop", "--name", "1.4.2", "--commit", "9f3c2e1", "--url", "https://ci.example.com/runs/42", "-q"}
		}, nil, "", 0, func(t *testing.T, out string) {
			id = strings.TrimSpace(out)
			if _, err := strconv.Atoi(id); err != nil {
				t.Errorf("start -q printed %q; want the release ID", out)
			}
		}},
		{"start again", func() []string { return []string{"release", "start", "--workflow", "shop", "--name", "1.4.3"} }, nil, "still open", 0, nil},
		{"finish", func() []string { return []string{"release", "finish", "--workflow", "shop", "--name", "1.4.2"} },
			func(t *testing.T) { recordImage(t, 2, time.Now()) }, "", 0, func(t *testing.T, out string) {
				if !strings.Contains(out, "shop/deployment/web@2 (from 1, observed") || !strings.Contains(out, "1 service") {
					t.Errorf("finish said %q; want the item", out)
				}
			}},
		{"show as JSON", func() []string { return []string{"release", "show", "--id", id, "-o", "json"} }, nil, "", 0, func(t *testing.T, out string) {
			var r struct {
				State string
				Items []struct{ Version int64 }
			}
			if err := json.Unmarshal([]byte(out), &r); err != nil || r.State != "succeeded" || len(r.Items) != 1 || r.Items[0].Version != 2 {
				t.Errorf("show %q: %v", out, err)
			}
		}},
		{"fail a finished release", func() []string { return []string{"release", "fail", "--id", id, "--note", "late"} }, nil, "already succeeded", 0, nil},
		{"not blocked", func() []string { return []string{"release", "check", "shop", "1.4.2"} }, nil, "", 0, func(t *testing.T, out string) {
			if !strings.Contains(out, "not blocked") {
				t.Errorf("check said %q", out)
			}
		}},
		{"block without reason", func() []string { return []string{"release", "block", "--id", id} }, nil, "reason", 0, nil},
		{"block", func() []string { return []string{"release", "block", "--id", id, "--reason", "broke checkout"} }, nil, "", 0, nil},
		{"blocked", func() []string { return []string{"release", "check", "shop", "1.4.2", "--env", "prod"} }, nil, "broke checkout", exitBlocked, nil},
		{"unblock", func() []string {
			return []string{"release", "unblock", "--workflow", "shop", "--name", "1.4.2", "--reason", "fixed by a config change"}
		}, nil, "", 0, nil},
		{"unblocked", func() []string { return []string{"release", "check", "shop", "1.4.2"} }, nil, "", 0, nil},
		{"workflow list", func() []string { return []string{"workflow", "list"} }, nil, "", 0, func(t *testing.T, out string) {
			if !strings.Contains(out, "shop") || !strings.Contains(out, "1.4.2") || !strings.Contains(out, "ok") {
				t.Errorf("workflow list %q", out)
			}
		}},
		{"release list", func() []string { return []string{"release", "list", "--workflow", "shop"} }, nil, "", 0, func(t *testing.T, out string) {
			if !strings.Contains(out, "current, stable") {
				t.Errorf("release list %q", out)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before(t)
			}
			var out bytes.Buffer
			err := run(ctx, tc.args(), getenv, strings.NewReader(""), &out, &out)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("error %v; output %q", err, out.String())
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			var ee *exitError
			if code := 0; errors.As(err, &ee) || tc.wantCode != 0 {
				if ee != nil {
					code = ee.code
				}
				if code != tc.wantCode {
					t.Errorf("exit code %d, want %d", code, tc.wantCode)
				}
			}
			if tc.check != nil {
				tc.check(t, out.String())
			}
		})
	}
}
