package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rewindhq/rewind/internal/testenv"
)

// BenchmarkMetricsScrape5000Workloads measures one scrape of /metrics from
// a Rewind that watches 5,000 Deployments on the real test cluster (each
// recorded: 5,000 targets and versions in the store). Setting up takes a
// few minutes; run it alone:
//
//	go test -run '^$' -bench MetricsScrape5000 -benchtime 50x ./cmd/rewind
func BenchmarkMetricsScrape5000Workloads(b *testing.B) {
	const workloads = 5000
	c := testenv.Shared(b)
	ns := c.NewNamespace(b)
	cs := kubernetes.NewForConfigOrDie(c.RestConfig())
	ctx := context.Background()

	// Paused Deployments: the controller neither makes ReplicaSets nor
	// pods for them, and Rewind records them at once.
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, workloads)
	sem := make(chan struct{}, 16)
	for i := range workloads {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			d := deployment(ns, fmt.Sprintf("svc-%04d", i), fmt.Sprintf("registry.cn-hangzhou.aliyuncs.com/shop-platform/service-%04d:release-2026.12.07-1f3c9a2b", i))
			zero := int32(0)
			d.Spec.Replicas, d.Spec.Paused = &zero, true
			if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.Logf("created %d Deployments in %v", workloads, time.Since(start).Round(time.Millisecond))

	dir := b.TempDir()
	cfgPath := filepath.Join(dir, "rewind.yaml")
	cfg := fmt.Sprintf("environments:\n  - name: prod\nclusters:\n  - name: bench\n    environment: prod\n    kubeconfig: %s\n    context: %s\n    namespaces: [%s]\n",
		c.KubeconfigPath, c.Context, ns)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	addr, metricsAddr := freeAddr(b), freeAddr(b)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	var out lockedWriter
	out.mu, out.w = new(sync.Mutex), new(bytes.Buffer)
	go func() {
		done <- run(runCtx, []string{"serve", "--config", cfgPath, "--addr", addr, "--data-dir", filepath.Join(dir, "data"), "--metrics-addr", metricsAddr, "--log-level", "warn"},
			func(k string) string { return map[string]string{"REWIND_ADMIN_PASSWORD": "admin-password-1"}[k] }, nil, &out, &out)
	}()
	defer func() {
		stop()
		<-done
	}()

	url := "http://" + metricsAddr + "/metrics"
	recorded := regexp.MustCompile(`(?m)^rewind_versions\{kind="service",source="observed"\} (\d+)`)
	start = time.Now()
	for {
		body, err := get(url)
		if err == nil {
			if m := recorded.FindSubmatch(body); m != nil {
				if n, _ := strconv.Atoi(string(m[1])); n >= workloads {
					break
				}
			}
		}
		if time.Since(start) > 15*time.Minute {
			b.Fatalf("Rewind did not record %d workloads within 15 minutes (last: %v)\n%s", workloads, err, out.w.String())
		}
		time.Sleep(time.Second)
	}
	b.Logf("Rewind recorded %d workloads in %v", workloads, time.Since(start).Round(time.Millisecond))

	body, err := get(url)
	if err != nil {
		b.Fatal(err)
	}
	if !bytes.Contains(body, []byte(fmt.Sprintf(`rewind_watched_workloads{cluster="bench"} %d`, workloads))) {
		b.Fatalf("the scrape does not count %d watched workloads:\n%s", workloads, body)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := get(url); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(body)), "bytes/scrape") // after the loop: ResetTimer clears it
}

func get(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}
