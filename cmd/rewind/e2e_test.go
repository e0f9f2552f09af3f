package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rewindhq/rewind/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// rewindProcess is a Rewind started through run, as `rewind serve` would be.
type rewindProcess struct {
	URL     string
	DataDir string
	stop    context.CancelFunc
	done    chan error
	mu      sync.Mutex
	out     bytes.Buffer
}

// startRewind writes a config file with the given body and starts Rewind on a free port.
func startRewind(t testing.TB, config string, users map[string]string) *rewindProcess {
	t.Helper()
	return startRewindAt(t, freeAddr(t), config, users)
}

// freeAddr returns an address on 127.0.0.1 free now, for a Rewind whose
// URL must be known before it starts.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startRewindAt is startRewind listening on addr.
func startRewindAt(t testing.TB, addr, config string, users map[string]string) *rewindProcess {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "rewind.yaml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	getenv := func(k string) string {
		if k == "REWIND_ADMIN_PASSWORD" {
			return "admin-password-1"
		}
		return ""
	}
	for name, role := range users {
		var out bytes.Buffer
		err := run(context.Background(), []string{"user", "add", name, "--role", role, "--data-dir", dataDir}, getenv, strings.NewReader("password-"+name+"\n"), &out, &out)
		if err != nil {
			t.Fatalf("user add %s: %v", name, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &rewindProcess{URL: "http://" + addr, DataDir: dataDir, stop: cancel, done: make(chan error, 1)}
	go func() {
		w := &lockedWriter{mu: &p.mu, w: &p.out}
		p.done <- run(ctx, []string{"serve", "--config", cfgPath, "--addr", addr, "--data-dir", dataDir, "--rollout-timeout", "2m"}, getenv, nil, w, w)
	}()
	t.Cleanup(func() {
		p.Stop(t)
		if t.Failed() {
			p.mu.Lock()
			t.Logf("rewind output:\n%s", p.out.String())
			p.mu.Unlock()
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case err := <-p.done:
			t.Fatalf("rewind exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("rewind not ready after 60s (last: %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop stops Rewind as SIGTERM would and waits for it.
func (p *rewindProcess) Stop(t testing.TB) {
	p.stop()
	select {
	case err, ok := <-p.done:
		if !ok {
			return // stopped before
		}
		if err != nil {
			t.Errorf("rewind serve: %v", err)
		}
		close(p.done)
	case <-time.After(30 * time.Second):
		t.Error("rewind did not stop within 30s")
	}
	p.stop = func() {}
	p.done = make(chan error)
	close(p.done)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// newBrowser starts headless Chromium and fails the test on any console error
// or uncaught exception.
func newBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1280, 800),
	)
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	var mu sync.Mutex
	var problems []string
	chromedp.ListenTarget(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+e.ExceptionDetails.Error())
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.APITypeError {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value))
				}
				problems = append(problems, "console.error: "+strings.Join(parts, " "))
			}
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.LevelError {
				problems = append(problems, "log error: "+e.Entry.Text+" "+e.Entry.URL)
			}
		}
	})
	if err := chromedp.Run(ctx, cdplog.Enable(), runtime.Enable()); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			t.Errorf("browser reported: %s", p)
		}
	})
	return ctx
}

func chromiumPath(t *testing.T) string {
	for _, p := range []string{os.Getenv("REWIND_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	t.Fatal("chromium not found: apt-get install -y chromium (make test-deps does it)")
	return ""
}

// browse runs actions and fails the test with the page's text when they fail
// or when the page shows an error page.
func browse(t *testing.T, ctx context.Context, step string, actions ...chromedp.Action) {
	t.Helper()
	stepCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Run(stepCtx, actions...); err != nil {
		var text string
		_ = chromedp.Run(ctx, chromedp.Text("body", &text, chromedp.ByQuery))
		t.Fatalf("%s: %v\npage text:\n%s", step, err, text)
	}
	var errorPages int
	if err := chromedp.Run(ctx, chromedp.Evaluate(`document.querySelectorAll('[data-testid=error-page]').length`, &errorPages)); err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	if errorPages > 0 {
		var text string
		_ = chromedp.Run(ctx, chromedp.Text("body", &text, chromedp.ByQuery))
		t.Fatalf("%s: the page shows an error:\n%s", step, text)
	}
	if dir := os.Getenv("REWIND_SCREENSHOTS"); dir != "" {
		var png []byte
		if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err == nil {
			name := strings.Map(func(r rune) rune {
				if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
					return r
				}
				return '-'
			}, strings.ToLower(t.Name()+"-"+step))
			_ = os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
		}
	}
}

func login(base, user string) chromedp.Tasks {
	return chromedp.Tasks{
		chromedp.Navigate(base + "/login"),
		chromedp.WaitVisible(`#username`, chromedp.ByQuery),
		chromedp.SendKeys(`#username`, user, chromedp.ByQuery),
		chromedp.SendKeys(`#password`, "password-"+user, chromedp.ByQuery),
		chromedp.Click(`[data-testid=login-submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=nav-username]`, chromedp.ByQuery),
	}
}

func logout() chromedp.Tasks {
	return chromedp.Tasks{
		chromedp.Click(`form[action="/logout"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#username`, chromedp.ByQuery),
	}
}

// deployment is a one-container Deployment with the given image.
func deployment(ns, name, image string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	replicas := int32(2)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
			},
		},
	}
}

// waitRollout waits until the Deployment runs image on all its replicas.
func waitRollout(t testing.TB, cs kubernetes.Interface, ns, name, image string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		d, err := cs.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && d.Spec.Template.Spec.Containers[0].Image == image && d.Status.ObservedGeneration >= d.Generation &&
			d.Status.UpdatedReplicas == *d.Spec.Replicas && d.Status.AvailableReplicas == *d.Spec.Replicas && d.Status.Replicas == *d.Spec.Replicas {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment %s/%s did not roll out %s: %v", ns, name, image, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestBrowserServiceRollback drives the whole service rollback in Chromium:
// an operator compares versions and requests a rollback, an approver approves
// it, and the page shows it succeed.
func TestBrowserServiceRollback(t *testing.T) {
	cluster := testenv.Shared(t)
	ns := cluster.NewNamespace(t)
	cs := kubernetes.NewForConfigOrDie(cluster.RestConfig())
	ctx := context.Background()
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, deployment(ns, "web", "registry.local/web:1.0"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRollout(t, cs, ns, "web", "registry.local/web:1.0")
	d, _ := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	d.Spec.Template.Spec.Containers[0].Image = "registry.local/web:2.0-<b>broken</b>"
	if _, err := cs.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{FieldManager: "kubectl-set"}); err != nil {
		t.Fatal(err)
	}
	waitRollout(t, cs, ns, "web", "registry.local/web:2.0-<b>broken</b>")

	config := fmt.Sprintf(`environments:
  - name: prod
    required_approvals: 1
clusters:
  - name: test
    environment: prod
    kubeconfig: %s
    context: %s
    namespaces: [%s]
`, cluster.KubeconfigPath, cluster.Context, ns)
	rw := startRewind(t, config, map[string]string{"otto": "operator", "anna": "approver"})
	b := newBrowser(t)

	var serviceURL string
	browse(t, b, "operator logs in and opens the service",
		login(rw.URL, "otto"),
		chromedp.Navigate(rw.URL+"/services?env=prod"),
		chromedp.WaitVisible(`[data-testid=service-row] a`, chromedp.ByQuery),
		chromedp.Click(`[data-testid=service-row] a`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=version-row][data-number="2"]`, chromedp.ByQuery),
		chromedp.Location(&serviceURL),
	)
	var versionsText string
	browse(t, b, "read versions", chromedp.Text(`[data-testid=versions-table]`, &versionsText, chromedp.ByQuery))
	if !strings.Contains(versionsText, "registry.local/web:2.0-<b>broken</b>") || !strings.Contains(versionsText, "registry.local/web:1.0") {
		t.Fatalf("versions table does not show both images (escaped):\n%s", versionsText)
	}

	var imageChanges string
	var added int
	browse(t, b, "compare version 1 with the current one",
		chromedp.Click(`[data-testid=version-row][data-number="1"] [data-testid=compare-current]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=diff]`, chromedp.ByQuery),
		chromedp.Text(`[data-testid=image-changes]`, &imageChanges, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('[data-testid=diff-line-added]').length`, &added),
	)
	if !strings.Contains(imageChanges, "registry.local/web:1.0") || !strings.Contains(imageChanges, "2.0-<b>broken</b>") || added == 0 {
		t.Fatalf("compare page: image changes %q, %d added lines", imageChanges, added)
	}

	var requestURL string
	browse(t, b, "request the rollback to version 1",
		chromedp.Click(`[data-testid=rollback-link]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=rollback-form]`, chromedp.ByQuery),
		chromedp.SendKeys(`#reason`, "2.0 breaks checkout", chromedp.ByQuery),
		chromedp.Click(`[data-testid=rollback-submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=state-badge][data-state=pending]`, chromedp.ByQuery),
		chromedp.Location(&requestURL),
	)
	browse(t, b, "operator logs out", logout())

	browse(t, b, "approver opens the inbox",
		login(rw.URL, "anna"),
		chromedp.Navigate(rw.URL+"/approvals"),
		chromedp.WaitVisible(`[data-testid=awaiting] [data-testid=approve]`, chromedp.ByQuery),
		chromedp.SendKeys(`[data-testid=awaiting] textarea[name=comment]`, "go ahead", chromedp.ByQuery),
	)
	timings := watchRollback(t, cs, ns, "web", "registry.local/web:1.0", rw, requestURL)
	approved := time.Now()
	browse(t, b, "approver approves",
		chromedp.Click(`[data-testid=awaiting] [data-testid=approve]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=request-live]`, chromedp.ByQuery),
	)
	browse(t, b, "the request page shows the rollback succeed",
		chromedp.WaitVisible(`[data-testid=state-badge][data-state=succeeded]`, chromedp.ByQuery),
	)
	shown := time.Now()
	tm := <-timings
	t.Logf("timing: approval → workload patched %v; deployment complete → Rewind recorded succeeded %v; → page showed it %v",
		tm.patched.Sub(approved).Round(time.Millisecond), tm.recorded.Sub(tm.complete).Round(time.Millisecond), shown.Sub(tm.complete).Round(time.Millisecond))
	var outcome string
	browse(t, b, "read outcome", chromedp.Text(`[data-testid=outcome]`, &outcome, chromedp.ByQuery))
	t.Logf("outcome: %s", outcome)
	waitRollout(t, cs, ns, "web", "registry.local/web:1.0")
	d, _ = cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if cause := d.Annotations["kubernetes.io/change-cause"]; !strings.Contains(cause, "otto") {
		t.Errorf("change-cause = %q, want it to name the requester", cause)
	}
	var auditText string
	browse(t, b, "audit shows the story",
		chromedp.Navigate(rw.URL+"/audit"),
		chromedp.WaitVisible(`[data-testid=audit-table]`, chromedp.ByQuery),
		chromedp.Text(`[data-testid=audit-table]`, &auditText, chromedp.ByQuery),
	)
	for _, want := range []string{"rollback.request", "rollback.approve", "rollback.execute", "rollback.result", "login"} {
		if !strings.Contains(auditText, want) {
			t.Errorf("audit lacks %s", want)
		}
	}
}

type rollbackTimes struct{ patched, complete, recorded time.Time }

// watchRollback polls the cluster and Rewind every 10 ms and reports when the
// Deployment's template became image, when its rollout completed, and when
// Rewind recorded the request as succeeded.
func watchRollback(t *testing.T, cs kubernetes.Interface, ns, name, image string, rw *rewindProcess, requestURL string) <-chan rollbackTimes {
	out := make(chan rollbackTimes, 1)
	id := requestURL[strings.LastIndex(requestURL, "/")+1:]
	store, err := sql.Open("sqlite", "file:"+filepath.Join(rw.DataDir, "rewind.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer store.Close()
		var tm rollbackTimes
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) && (tm.patched.IsZero() || tm.complete.IsZero() || tm.recorded.IsZero()) {
			now := time.Now()
			d, err := cs.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
			if err == nil && d.Spec.Template.Spec.Containers[0].Image == image {
				if tm.patched.IsZero() {
					tm.patched = now
				}
				if tm.complete.IsZero() && d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == *d.Spec.Replicas &&
					d.Status.AvailableReplicas == *d.Spec.Replicas && d.Status.Replicas == *d.Spec.Replicas {
					tm.complete = now
				}
			}
			var state string
			if tm.recorded.IsZero() && store.QueryRow(`SELECT state FROM requests WHERE id = ?`, id).Scan(&state) == nil && state == "succeeded" {
				tm.recorded = now
			}
			time.Sleep(10 * time.Millisecond)
		}
		out <- tm
	}()
	return out
}
