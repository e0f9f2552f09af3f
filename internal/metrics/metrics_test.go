package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rewindhq/rewind/internal/metrics"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/secret"
	"github.com/rewindhq/rewind/internal/sqlite"
)

const token = "metrics-token-0123456789abcdef"

// scrape GETs url as Prometheus would and returns the status and body.
func scrape(t *testing.T, url, bearer string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// value finds the sample of family name whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func TestScrape(t *testing.T) {
	ctx := context.Background()
	box, err := secret.NewBox(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "rewind.db"), box)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	env := &rewind.Environment{Name: "prod", RequiredApprovals: 1}
	if err := store.SaveEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	svc := &rewind.Target{Kind: rewind.KindService, EnvironmentID: env.ID, OwnerID: 1, Namespace: "shop", Workload: "Deployment", Name: "order-service"}
	cfg := &rewind.Target{Kind: rewind.KindConfig, EnvironmentID: env.ID, OwnerID: 1, Namespace: "public", Group: "DEFAULT_GROUP", Name: "order-service.yaml"}
	for _, tg := range []*rewind.Target{svc, cfg} {
		if _, err := store.EnsureTarget(ctx, tg); err != nil {
			t.Fatal(err)
		}
	}
	var vs []*rewind.Version
	for i := range 3 {
		v, _, err := store.RecordVersion(ctx, &rewind.Version{TargetID: svc.ID, Content: fmt.Sprintf("image: registry.example.com/shop/order-service:1.4.%d", i), Hash: fmt.Sprint("h", i), Source: rewind.SourceObserved})
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	if _, _, err := store.RecordVersion(ctx, &rewind.Version{TargetID: cfg.ID, Content: "order.timeout=30", Hash: "c1", Source: rewind.SourceImported, Revision: "881"}); err != nil {
		t.Fatal(err)
	}
	// A rollback request that waits for approval, and one that failed.
	for _, failed := range []bool{true, false} {
		r := &rewind.Request{EnvironmentID: env.ID, Requester: "li.lei", Reason: "订单服务 1.4.2 支付回调超时", RequiredApprovals: 1,
			Steps: []rewind.Step{{TargetID: svc.ID, VersionID: vs[0].ID, BaseVersionID: vs[2].ID}}}
		if err := store.CreateRequest(ctx, r, rewind.AuditEvent{Actor: "li.lei", Action: rewind.ActionRequest}); err != nil {
			t.Fatal(err)
		}
		if failed {
			from := rewind.StatePending
			for _, next := range []rewind.State{rewind.StateApproved, rewind.StateRunning, rewind.StateFailed} {
				if _, err := store.Move(ctx, r.ID, []rewind.State{from}, next, "", nil); err != nil {
					t.Fatal(err)
				}
				from = next
			}
			started, finished := time.Now().Add(-42*time.Second), time.Now()
			metrics.RequestEnded(&rewind.Request{Kind: rewind.RequestRollback, StartedAt: &started, FinishedAt: &finished}, "service", "prod", rewind.StateFailed)
		}
	}
	created := time.Now().Add(-10 * time.Minute)
	metrics.RequestStarted(&rewind.Request{Kind: rewind.RequestRollback, RequiredApprovals: 1, CreatedAt: created,
		Approvals: []rewind.Approval{{Approve: true, CreatedAt: created.Add(7 * time.Minute)}}}, "service", "prod")
	metrics.RolloutEnded("prod-hz", "succeeded", 38*time.Second)
	metrics.WatchRestarted("prod-hz")
	metrics.VersionRecorded("prod-hz", time.Now().Add(-1500*time.Millisecond))
	metrics.NotificationDelivered("email", true)
	metrics.NotificationDelivered("王芳的钉钉群", false) // not a channel kind: counted as other

	reg := metrics.NewRegistry(metrics.Sources{
		Store: store,
		Clusters: func(context.Context) map[string]error {
			return map[string]error{"prod-hz": nil, "dr-sh": errors.New("Cluster dr-sh: connection refused")}
		},
		ClusterStats: func() []metrics.ClusterStats {
			return []metrics.ClusterStats{{Cluster: "prod-hz", Synced: true, Workloads: 5000, Queue: 3}}
		},
		NacosServers: func(context.Context) map[string]error { return map[string]error{"nacos-prod": nil} },
		Databases:    func(context.Context) map[string]error { return map[string]error{"ledger": errors.New("down")} },
		Version:      "v1.2.3",
	})
	srv := httptest.NewServer(metrics.Handler(reg, token))
	defer srv.Close()

	for _, bad := range []string{"", "wrong-token-0123456789"} {
		if code, _ := scrape(t, srv.URL, bad); code != http.StatusUnauthorized {
			t.Errorf("scrape with token %q: %d, want 401", bad, code)
		}
	}
	code, body := scrape(t, srv.URL, token)
	if code != http.StatusOK {
		t.Fatalf("scrape: %d\n%s", code, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v\n%s", err, body)
	}
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "rewind_") {
			t.Errorf("naming: %s: %s", p.Metric, p.Text)
		}
	}

	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"rewind_requests", map[string]string{"type": "rollback", "kind": "service", "environment": "prod", "state": "pending"}, 1},
		{"rewind_requests", map[string]string{"type": "rollback", "kind": "service", "environment": "prod", "state": "failed"}, 1},
		{"rewind_versions", map[string]string{"kind": "service", "source": "observed"}, 3},
		{"rewind_versions", map[string]string{"kind": "config", "source": "imported"}, 1},
		{"rewind_versions_recorded_total", map[string]string{"kind": "service"}, 3},
		{"rewind_versions_removed_total", map[string]string{"kind": "service"}, 0},
		{"rewind_store_up", nil, 1},
		{"rewind_watcher_up", map[string]string{"cluster": "prod-hz"}, 1},
		{"rewind_watcher_up", map[string]string{"cluster": "dr-sh"}, 0},
		{"rewind_watched_workloads", map[string]string{"cluster": "prod-hz"}, 5000},
		{"rewind_watcher_queue_depth", map[string]string{"cluster": "prod-hz"}, 3},
		{"rewind_nacos_up", map[string]string{"server": "nacos-prod"}, 1},
		{"rewind_database_up", map[string]string{"database": "ledger"}, 0},
		{"rewind_requests_executed_total", map[string]string{"type": "rollback", "kind": "service", "environment": "prod", "result": "failed"}, 1},
		{"rewind_request_execution_seconds", map[string]string{"result": "failed"}, 1},
		{"rewind_request_approval_wait_seconds", map[string]string{"environment": "prod"}, 1},
		{"rewind_rollout_duration_seconds", map[string]string{"cluster": "prod-hz", "result": "succeeded"}, 1},
		{"rewind_watcher_reconnects_total", map[string]string{"cluster": "prod-hz"}, 1},
		{"rewind_watcher_lag_seconds", map[string]string{"cluster": "prod-hz"}, 1},
		{"rewind_notifications_total", map[string]string{"channel": "email", "result": "sent"}, 1},
		{"rewind_notifications_total", map[string]string{"channel": "other", "result": "failed"}, 1},
		{"rewind_build_info", map[string]string{"version": "v1.2.3"}, 1},
	}
	for _, c := range checks {
		got, ok := value(t, fams, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if size, ok := value(t, fams, "rewind_store_size_bytes", nil); !ok || size < 4096 {
		t.Errorf("rewind_store_size_bytes = %v", size)
	}
	for _, runtime := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes"} {
		if _, ok := fams[runtime]; !ok {
			t.Errorf("no %s", runtime)
		}
	}
	// Names lists exactly the rewind_ families (the alerts and the dashboard
	// are checked against it); source errors appear only when one fails.
	names := map[string]bool{}
	for _, n := range metrics.Names() {
		names[n] = true
	}
	for n := range fams {
		if strings.HasPrefix(n, "rewind_") && !names[n] {
			t.Errorf("%s is not in metrics.Names", n)
		}
	}
	for n := range names {
		if _, ok := fams[n]; !ok && n != "rewind_metrics_source_errors" {
			t.Errorf("metrics.Names has %s, the scrape has not", n)
		}
	}
	if _, ok := value(t, fams, "rewind_notifications_total", map[string]string{"channel": "王芳的钉钉群"}); ok {
		t.Error("a name an admin chose became a label value")
	}
	if wait, _ := fams["rewind_request_approval_wait_seconds"]; wait != nil {
		if sum := wait.GetMetric()[0].GetHistogram().GetSampleSum(); sum < 419 || sum > 421 {
			t.Errorf("approval wait %v s, want 420", sum)
		}
	}
}

func TestHandlerWithoutToken(t *testing.T) {
	srv := httptest.NewServer(metrics.Handler(metrics.NewRegistry(metrics.Sources{Version: "dev"}), ""))
	defer srv.Close()
	code, body := scrape(t, srv.URL, "")
	if code != http.StatusOK || !bytes.Contains(body, []byte("rewind_build_info")) {
		t.Fatalf("scrape of the metrics listener: %d\n%s", code, body)
	}
}
