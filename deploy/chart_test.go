// Package deploy holds Rewind's Helm chart (helm/rewind), its alerts and
// Grafana dashboard (helm/rewind/files) and the tests that check them with
// helm built from its Go module and against the real test apiserver.
package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/kube"
	"github.com/rewindhq/rewind/internal/metrics"
	"github.com/rewindhq/rewind/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const chart = "helm/rewind"

// everything turns on every optional part of the chart.
var everything = []string{
	"--set", "ingress.enabled=true", "--set", "ingress.host=rewind.example.com",
	"--set", "ingress.tls[0].secretName=rewind-tls", "--set", "ingress.tls[0].hosts[0]=rewind.example.com",
	"--set", "externalURL=https://rewind.example.com",
	"--set", "tls.existingSecret=rewind-serving",
	"--set", "metrics.tokenSecret=rewind-metrics", "--set", "metrics.serviceMonitor.enabled=true",
	"--set", "metrics.prometheusRule.enabled=true", "--set", "metrics.grafanaDashboard.enabled=true",
	"--set", "backup.enabled=true",
	"--set-json", `config={"retention":{"service":{"keep_days":180,"keep_versions":50}},"sql":{"statement_timeout":"2m"}}`,
}

func helm(t *testing.T, args ...string) []byte {
	t.Helper()
	bin, err := testenv.Tool("helm")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return out
}

// render runs helm template and returns the objects by "Kind namespace/name".
func render(t *testing.T, namespace string, args ...string) (map[string]*unstructured.Unstructured, []byte) {
	t.Helper()
	out := helm(t, append([]string{"template", "rewind", chart, "--namespace", namespace}, args...)...)
	objs := map[string]*unstructured.Unstructured{}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		var o unstructured.Unstructured
		if err := dec.Decode(&o.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("rendered chart does not parse: %v\n%s", err, out)
		}
		if len(o.Object) == 0 {
			continue
		}
		ns := o.GetNamespace()
		objs[o.GetKind()+" "+ns+"/"+o.GetName()] = &o
	}
	return objs, out
}

func get(t *testing.T, objs map[string]*unstructured.Unstructured, key string) *unstructured.Unstructured {
	t.Helper()
	o, ok := objs[key]
	if !ok {
		keys := make([]string, 0, len(objs))
		for k := range objs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Fatalf("no %s among %v", key, keys)
	}
	return o
}

func field(t *testing.T, o *unstructured.Unstructured, path ...string) any {
	t.Helper()
	v, ok, err := unstructured.NestedFieldNoCopy(o.Object, path...)
	if err != nil || !ok {
		t.Fatalf("%s %s: no %s", o.GetKind(), o.GetName(), strings.Join(path, "."))
	}
	return v
}

func TestHelmLint(t *testing.T) {
	helm(t, "lint", "--strict", chart)
	helm(t, append([]string{"lint", "--strict", chart, "--set", "rbac.clusterWide=true"}, everything...)...)
}

func TestRenderedChart(t *testing.T) {
	objs, _ := render(t, "rewind-system", append([]string{"--set", "cluster.namespaces={shop,payments}"}, everything...)...)

	// One replica on a PVC, replaced by stopping the old pod first.
	d := get(t, objs, "Deployment /rewind")
	if got := fmt.Sprint(field(t, d, "spec", "replicas")); got != "1" {
		t.Errorf("replicas = %v", got)
	}
	if got := field(t, d, "spec", "strategy", "type"); got != "Recreate" {
		t.Errorf("strategy = %v, want Recreate (one store, one Rewind)", got)
	}
	pod := field(t, d, "spec", "template", "spec").(map[string]any)
	psc := pod["securityContext"].(map[string]any)
	if psc["runAsNonRoot"] != true || fmt.Sprint(psc["runAsUser"]) != "65532" || fmt.Sprint(psc["fsGroup"]) != "65532" ||
		psc["seccompProfile"].(map[string]any)["type"] != "RuntimeDefault" {
		t.Errorf("pod security context: %v", psc)
	}
	c := pod["containers"].([]any)[0].(map[string]any)
	sc := c["securityContext"].(map[string]any)
	if sc["allowPrivilegeEscalation"] != false || sc["readOnlyRootFilesystem"] != true ||
		!slices.Equal(sc["capabilities"].(map[string]any)["drop"].([]any), []any{"ALL"}) {
		t.Errorf("container security context: %v", sc)
	}
	mounts := map[string]string{}
	for _, m := range c["volumeMounts"].([]any) {
		m := m.(map[string]any)
		mounts[m["mountPath"].(string)] = m["name"].(string)
	}
	vols := map[string]map[string]any{}
	for _, v := range pod["volumes"].([]any) {
		v := v.(map[string]any)
		vols[v["name"].(string)] = v
	}
	if vols[mounts["/data"]]["persistentVolumeClaim"] == nil || vols[mounts["/tmp"]]["emptyDir"] == nil {
		t.Errorf("the store must be on the PVC and /tmp an emptyDir (root file system read-only): mounts %v", mounts)
	}
	get(t, objs, "PersistentVolumeClaim /rewind-data")
	get(t, objs, "Service /rewind")
	get(t, objs, "Ingress /rewind")
	get(t, objs, "ServiceAccount /rewind")
	get(t, objs, "ServiceMonitor /rewind")
	get(t, objs, "CronJob /rewind-backup")

	// RBAC: a Role in each watched namespace with exactly Rewind's rules.
	for _, ns := range []string{"shop", "payments"} {
		checkRules(t, get(t, objs, "Role "+ns+"/rewind"))
		get(t, objs, "RoleBinding "+ns+"/rewind")
	}
	for key := range objs {
		if strings.HasPrefix(key, "Role ") && !strings.HasPrefix(key, "Role shop/") && !strings.HasPrefix(key, "Role payments/") {
			t.Errorf("a Role outside the watched namespaces: %s", key)
		}
		if strings.HasPrefix(key, "ClusterRole") {
			t.Errorf("%s without rbac.clusterWide", key)
		}
	}
	wide, _ := render(t, "rewind-system", "--set", "rbac.clusterWide=true")
	checkRules(t, get(t, wide, "ClusterRole /rewind"))
	get(t, wide, "ClusterRoleBinding /rewind")

	// The config file Rewind reads is valid, and holds what the values say.
	cm := get(t, objs, "ConfigMap /rewind")
	body := field(t, cm, "data", "rewind.yaml").(string)
	path := filepath.Join(t.TempDir(), "rewind.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load([]string{"--config", path}, func(string) string { return "" })
	if err != nil {
		t.Fatalf("the chart's rewind.yaml: %v\n%s", err, body)
	}
	if len(cfg.Clusters) != 1 || !cfg.Clusters[0].InCluster || !slices.Equal(cfg.Clusters[0].Namespaces, []string{"shop", "payments"}) ||
		cfg.ExternalURL != "https://rewind.example.com" || cfg.DataDir != "/data" || cfg.Retention["service"].KeepVersions != 50 {
		t.Errorf("the chart's rewind.yaml reads as %+v", cfg)
	}

	// The backup job copies the store to its own PVC, beside Rewind's pod.
	cj := get(t, objs, "CronJob /rewind-backup")
	job := field(t, cj, "spec", "jobTemplate", "spec", "template", "spec").(map[string]any)
	args := job["containers"].([]any)[0].(map[string]any)["args"].([]any)
	if !slices.Equal(args, []any{"backup", "--dir", "/backups", "--keep", "7"}) || job["affinity"] == nil {
		t.Errorf("backup job: args %v affinity %v", args, job["affinity"])
	}
}

// checkRules checks that a Role or ClusterRole grants exactly
// kube.Permissions: nothing on Secrets, no wildcard.
func checkRules(t *testing.T, o *unstructured.Unstructured) {
	t.Helper()
	raw, err := json.Marshal(o.Object["rules"])
	if err != nil {
		t.Fatal(err)
	}
	var got []rbacv1.PolicyRule
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	norm := func(rs []rbacv1.PolicyRule) []string {
		var out []string
		for _, r := range rs {
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					for _, v := range r.Verbs {
						out = append(out, g+"/"+res+":"+v)
					}
				}
			}
		}
		sort.Strings(out)
		return out
	}
	if g, w := norm(got), norm(kube.Permissions); !slices.Equal(g, w) {
		t.Errorf("%s %s grants\n%v\nRewind uses\n%v", o.GetKind(), o.GetName(), g, w)
	}
	for _, p := range norm(got) {
		if strings.Contains(p, "secrets") || strings.Contains(p, "*") {
			t.Errorf("%s %s grants %s", o.GetKind(), o.GetName(), p)
		}
	}
}

// metricRef finds the names of Rewind metrics in a PromQL expression.
var metricRef = regexp.MustCompile(`\brewind_[a-z_]+`)

// checkExpr checks that expr names only metrics Rewind exposes.
func checkExpr(t *testing.T, where, expr string) {
	t.Helper()
	known := map[string]bool{}
	for _, n := range metrics.Names() {
		known[n] = true
	}
	for _, ref := range metricRef.FindAllString(expr, -1) {
		base := ref
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			if b, ok := strings.CutSuffix(ref, suffix); ok && known[b] {
				base = b
			}
		}
		if !known[base] {
			t.Errorf("%s uses %s, which Rewind does not expose: %s", where, ref, expr)
		}
	}
}

func TestAlertsAndDashboard(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chart, "files", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert       string
				Expr        string
				For         string
				Labels      map[string]string
				Annotations map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatal(err)
	}
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			checkExpr(t, "alert "+r.Alert, r.Expr)
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s needs a severity, a summary and a description", r.Alert)
			}
		}
	}
	for _, must := range []string{"RewindRollbackFailed", "RewindWatcherDown"} {
		if !alerts[must] {
			t.Errorf("no alert %s", must)
		}
	}
	// The stand-alone PrometheusRule is the chart's.
	objs, _ := render(t, "monitoring", "--set", "metrics.prometheusRule.enabled=true", "--show-only", "templates/monitoring.yaml")
	rendered := get(t, objs, "PrometheusRule /rewind")
	standalone, err := os.ReadFile(filepath.Join("prometheus", "rewind-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var sa map[string]any
	if err := yaml.Unmarshal(standalone, &sa); err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(rendered.Object["spec"])
	b, _ := json.Marshal(sa["spec"])
	if !bytes.Equal(a, b) {
		t.Errorf("deploy/prometheus/rewind-rules.yaml differs from the chart's alerts: regenerate it with\n  helm template rewind deploy/helm/rewind --set metrics.prometheusRule.enabled=true --show-only templates/monitoring.yaml")
	}

	raw, err = os.ReadFile(filepath.Join(chart, "files", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string
		Panels []struct {
			Title   string
			Type    string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	exprs := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			checkExpr(t, "panel "+p.Title, tg.Expr)
			exprs++
		}
	}
	if dash.UID == "" || exprs < 20 {
		t.Errorf("dashboard %q has %d queries", dash.UID, exprs)
	}
}

// TestDockerfileAgreesWithChart checks that the image runs as the user the
// chart's security context names, keeps its data where the chart mounts
// the PVC, and needs no writable root file system.
func TestDockerfileAgreesWithChart(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	var values struct {
		PodSecurityContext struct {
			RunAsUser  int `yaml:"runAsUser"`
			RunAsGroup int `yaml:"runAsGroup"`
		} `yaml:"podSecurityContext"`
	}
	vb, err := os.ReadFile(filepath.Join(chart, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(vb, &values); err != nil {
		t.Fatal(err)
	}
	// distroless' nonroot user is 65532:65532.
	if !strings.Contains(df, "\nUSER 65532:65532\n") || values.PodSecurityContext.RunAsUser != 65532 || values.PodSecurityContext.RunAsGroup != 65532 {
		t.Errorf("the image's user and the chart's runAsUser/runAsGroup (%+v) disagree", values.PodSecurityContext)
	}
	if !strings.Contains(df, "REWIND_DATA_DIR=/data") || !strings.Contains(df, `VOLUME ["/data"]`) {
		t.Error("the image must keep its data in /data, where the chart mounts the PVC")
	}
	if !strings.Contains(df, "--chown=65532:65532") {
		t.Error("the image's /data must belong to the nonroot user, so that a volume mounted there without fsGroup is writable")
	}
}

// TestChartOnAPIServer applies the rendered chart to the real test
// apiserver, in a namespace that enforces the "restricted" Pod Security
// Standard, and checks its ServiceAccount's rights under RBAC: what Rewind
// does works, a read of a Secret is refused.
func TestChartOnAPIServer(t *testing.T) {
	c := testenv.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	admin := kubernetes.NewForConfigOrDie(c.RestConfig())
	release, shop, payments, other := c.NewNamespace(t), c.NewNamespace(t), c.NewNamespace(t), c.NewNamespace(t)
	nsObj, err := admin.CoreV1().Namespaces().Get(ctx, release, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nsObj.Labels["pod-security.kubernetes.io/enforce"] = "restricted"
	if _, err := admin.CoreV1().Namespaces().Update(ctx, nsObj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Everything but the monitoring objects (no Prometheus operator CRDs here).
	args := append([]string{"--set", "cluster.namespaces={" + shop + "," + payments + "}"}, everything...)
	args = append(args, "--set", "metrics.serviceMonitor.enabled=false", "--set", "metrics.prometheusRule.enabled=false")
	_, manifests := render(t, release, args...)
	applied, err := testenv.Apply(ctx, c.RestConfig(), manifests, release)
	if err != nil {
		t.Fatalf("the apiserver refuses the chart: %v", err)
	}
	t.Logf("applied %d objects", len(applied))

	// The namespace enforces the restricted standard: a pod without the
	// security context is refused...
	bare := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bare", Namespace: release},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/shop/web:1.0"}}}}
	if _, err := admin.CoreV1().Pods(release).Create(ctx, bare, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("a pod without a security context in the restricted namespace: got %v, want forbidden", err)
	}
	// ...and it admits Rewind's pod and the backup job's.
	if err := waitFor(ctx, func() error {
		pods, err := admin.CoreV1().Pods(release).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=rewind"})
		if err != nil || len(pods.Items) == 0 {
			return errors.Join(err, errors.New("no pod of Rewind's Deployment yet"))
		}
		return nil
	}); err != nil {
		rs, _ := admin.AppsV1().ReplicaSets(release).List(ctx, metav1.ListOptions{})
		ev, _ := admin.CoreV1().Events(release).List(ctx, metav1.ListOptions{})
		t.Fatalf("%v (replicasets %d, events %+v)", err, len(rs.Items), ev.Items)
	}
	cj, err := admin.BatchV1().CronJobs(release).Get(ctx, "rewind-backup", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A job from the CronJob's template, as `kubectl create job --from` makes.
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "rewind-backup-now", Namespace: release}, Spec: cj.Spec.JobTemplate.Spec}
	if _, err := admin.BatchV1().Jobs(release).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, func() error {
		pods, err := admin.CoreV1().Pods(release).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=rewind-backup"})
		if err != nil || len(pods.Items) == 0 {
			return errors.Join(err, errors.New("no pod of the backup job yet"))
		}
		return nil
	}); err != nil {
		ev, _ := admin.CoreV1().Events(release).List(ctx, metav1.ListOptions{})
		t.Fatalf("%v (events %+v)", err, ev.Items)
	}

	// The ServiceAccount's rights.
	saCfg, err := c.ServiceAccountConfig(ctx, release, "rewind")
	if err != nil {
		t.Fatal(err)
	}
	sa := kubernetes.NewForConfigOrDie(saCfg)
	for _, ns := range []string{shop, payments} {
		if _, err := sa.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{}); err != nil {
			t.Errorf("list deployments in watched %s: %v", ns, err)
		}
		if _, err := sa.CoreV1().Events(ns).List(ctx, metav1.ListOptions{}); err != nil {
			t.Errorf("list events in watched %s: %v", ns, err)
		}
		if _, err := sa.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("list secrets in %s: got %v, want forbidden", ns, err)
		}
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db-password", Namespace: shop}, StringData: map[string]string{"password": "s3cret"}}
	if _, err := admin.CoreV1().Secrets(shop).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := sa.CoreV1().Secrets(shop).Get(ctx, "db-password", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("read of a Secret: got %v, want forbidden", err)
	}
	for _, ns := range []string{other, release} {
		if _, err := sa.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("list deployments in unwatched %s: got %v, want forbidden", ns, err)
		}
	}
	if _, err := sa.CoreV1().Secrets(release).Get(ctx, "rewind-metrics", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("read of a Secret in Rewind's own namespace: got %v, want forbidden", err)
	}
	if err := sa.AppsV1().Deployments(shop).Delete(ctx, "anything", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("delete of a Deployment: got %v, want forbidden", err)
	}

	// rbac.clusterWide: the same verbs in every namespace, still no Secret.
	wideNS := c.NewNamespace(t)
	wide := helm(t, "template", "rewind-wide", chart, "--namespace", wideNS, "--set", "rbac.clusterWide=true",
		"--show-only", "templates/serviceaccount.yaml", "--show-only", "templates/rbac.yaml")
	if _, err := testenv.Apply(ctx, c.RestConfig(), wide, wideNS); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = admin.RbacV1().ClusterRoleBindings().Delete(context.Background(), "rewind-wide", metav1.DeleteOptions{})
		_ = admin.RbacV1().ClusterRoles().Delete(context.Background(), "rewind-wide", metav1.DeleteOptions{})
	})
	wideCfg, err := c.ServiceAccountConfig(ctx, wideNS, "rewind-wide")
	if err != nil {
		t.Fatal(err)
	}
	wsa := kubernetes.NewForConfigOrDie(wideCfg)
	if _, err := wsa.AppsV1().Deployments(other).List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("cluster-wide: list deployments in %s: %v", other, err)
	}
	if _, err := wsa.CoreV1().Secrets(shop).Get(ctx, "db-password", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("cluster-wide: read of a Secret: got %v, want forbidden", err)
	}
}

func waitFor(ctx context.Context, check func() error) error {
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}
