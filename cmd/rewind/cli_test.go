package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/secret"
	"github.com/rewindhq/rewind/internal/sqlite"
	"github.com/rewindhq/rewind/web"
)

// cliCluster answers every pre-flight check; it stands in for Kubernetes.
type cliCluster struct{}

func (cliCluster) Status(context.Context, *rewind.Target) (*rewind.RolloutStatus, error) {
	return nil, rewind.Errorf(rewind.EUNAVAILABLE, "no cluster")
}
func (cliCluster) Preflight(context.Context, *rewind.Target, *rewind.Version) (string, error) {
	return "rv-1", nil
}
func (cliCluster) Health(context.Context) map[string]error { return nil }
func (cliCluster) AddCluster(*rewind.Cluster) error        { return nil }
func (cliCluster) RemoveCluster(int64)                     {}

type noRunner struct{}

func (noRunner) Wake() {}

// cliServer starts the API over a real store with a service of three
// versions and returns its URL, the target ID and a token per user.
func cliServer(t *testing.T) (string, int64, map[string]string) {
	t.Helper()
	ctx := context.Background()
	box, _ := secret.NewBox(make([]byte, 32))
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "rewind.db"), box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	env := &rewind.Environment{Name: "prod", RequiredApprovals: 1}
	if err := store.SaveEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	tg := &rewind.Target{Kind: rewind.KindService, EnvironmentID: env.ID, OwnerID: 1, Namespace: "shop", Workload: "Deployment", Name: "web"}
	if _, err := store.EnsureTarget(ctx, tg); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		img := "registry.local/web:" + strconv.Itoa(i)
		if _, _, err := store.RecordVersion(ctx, &rewind.Version{TargetID: tg.ID, Revision: strconv.Itoa(i), Content: "image: " + img + "\n",
			Hash: strconv.Itoa(i), Source: rewind.SourceObserved, Images: []rewind.Image{{Container: "app", Image: img}}}); err != nil {
			t.Fatal(err)
		}
	}
	tokens := map[string]string{}
	for name, role := range map[string]rewind.Role{"otto": rewind.RoleOperator, "anna": rewind.RoleApprover} {
		if err := store.CreateUser(ctx, &rewind.User{Username: name, Role: role, PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
		token, hash := rewind.NewTokenSecret()
		if err := store.CreateToken(ctx, &rewind.APIToken{Name: "cli", Username: name, Prefix: token[:8], CreatedBy: name}, hash, rewind.AuditEvent{Actor: name}); err != nil {
			t.Fatal(err)
		}
		tokens[name] = token
	}
	srv := web.New(store, cliCluster{}, noRunner{}, slog.New(slog.NewTextHandler(io.Discard, nil)), web.Options{SessionKeys: [][]byte{make([]byte, 32), make([]byte, 32)}})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts.URL, tg.ID, tokens
}

func TestCLI(t *testing.T) {
	url, target, tokens := cliServer(t)
	cfgDir := t.TempDir()
	env := map[string]string{"XDG_CONFIG_HOME": cfgDir}
	getenv := func(k string) string { return env[k] }
	tid := strconv.FormatInt(target, 10)
	cli := func(t *testing.T, stdin string, args ...string) (string, error) {
		t.Helper()
		var out bytes.Buffer
		err := run(context.Background(), args, getenv, strings.NewReader(stdin), &out, &out)
		return out.String(), err
	}
	var reqID string
	for _, tc := range []struct {
		name    string
		token   string // REWIND_TOKEN for this step; empty uses the saved login
		stdin   string
		args    func() []string
		wantErr string
		check   func(t *testing.T, out string)
	}{
		{"login with a bad token", "", "rwd_bad\n", func() []string { return []string{"login", "--server", url} }, "Unknown API token", nil},
		{"login", "", tokens["otto"] + "\n", func() []string { return []string{"login", "--server", url} }, "", func(t *testing.T, out string) {
			st, err := os.Stat(filepath.Join(cfgDir, "rewind", "config.json"))
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("config file %v, %v; want mode 0600", st, err)
			}
			if !strings.Contains(out, "as otto") || strings.Contains(out, tokens["otto"]) {
				t.Errorf("login said %q; want the user and not the token", out)
			}
		}},
		{"services list", "", "", func() []string { return []string{"services", "list"} }, "", func(t *testing.T, out string) {
			if !strings.Contains(out, "shop/deployment/web") || !strings.HasPrefix(out, "ID") {
				t.Errorf("table %q lacks the service", out)
			}
		}},
		{"versions as JSON", "", "", func() []string { return []string{"versions", tid, "-o", "json"} }, "", func(t *testing.T, out string) {
			var p struct{ Total int }
			if err := json.Unmarshal([]byte(out), &p); err != nil || p.Total != 3 {
				t.Errorf("versions JSON %q: %v, total %d; want 3", out, err, p.Total)
			}
		}},
		{"diff", "", "", func() []string { return []string{"diff", tid, "1", "3"} }, "", func(t *testing.T, out string) {
			if !strings.Contains(out, "image app: registry.local/web:1 -> registry.local/web:3") {
				t.Errorf("diff %q lacks the image change", out)
			}
		}},
		{"rollback without reason", "", "", func() []string { return []string{"rollback", tid, "--to", "1"} }, "reason", nil},
		{"rollback", "", "", func() []string {
			return []string{"rollback", tid, "--to", "1", "--reason", "bad release", "--idempotency-key", "run-1"}
		}, "", func(t *testing.T, out string) {
			reqID = strings.TrimSpace(out)
			if _, err := strconv.Atoi(reqID); err != nil {
				t.Errorf("rollback printed %q; want the request ID", out)
			}
		}},
		{"rollback retried", "", "", func() []string {
			return []string{"rollback", tid, "--to", "1", "--reason", "bad release", "--idempotency-key", "run-1"}
		}, "", func(t *testing.T, out string) {
			if strings.TrimSpace(out) != reqID {
				t.Errorf("retry gave request %q, want %s", out, reqID)
			}
		}},
		{"operator approves", "", "", func() []string { return []string{"approve", reqID} }, "approver role", nil},
		{"reject by the approver", tokens["anna"], "", func() []string { return []string{"reject", reqID, "--comment", "wrong version"} }, "", func(t *testing.T, out string) {
			if !strings.Contains(out, "rejected") {
				t.Errorf("reject said %q", out)
			}
		}},
		{"watch a rejected request", "", "", func() []string { return []string{"watch", reqID, "--interval", "10ms"} }, "ended rejected", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env["REWIND_TOKEN"], env["REWIND_SERVER"] = tc.token, ""
			if tc.token != "" {
				env["REWIND_SERVER"] = url
			}
			out, err := cli(t, tc.stdin, tc.args()...)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("error %v; output %q", err, out)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if tc.check != nil {
				tc.check(t, out)
			}
		})
	}
}
