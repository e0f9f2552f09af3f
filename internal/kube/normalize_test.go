package kube

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/rewindhq/rewind/internal/rewind"
)

// template returns a pod template like those the API server returns.
func template(image string) *corev1.PodTemplateSpec {
	return &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			Labels:      map[string]string{"app": "web", "tier": "front"},
			Annotations: map[string]string{"team": "shop"},
		},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "migrate", Image: "shop/migrate:1"}},
			Containers: []corev1.Container{{
				Name:  "app",
				Image: image,
				Env:   []corev1.EnvVar{{Name: "MODE", Value: "prod"}},
				Resources: corev1.ResourceRequirements{
					Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
				},
				TerminationMessagePath: "/dev/termination-log",
				ImagePullPolicy:        corev1.PullIfNotPresent,
			}, {
				Name:  "sidecar",
				Image: "envoy:1.30",
			}},
			RestartPolicy: corev1.RestartPolicyAlways,
		},
	}
}

func TestNormalize(t *testing.T) {
	base := template("shop/web:1")
	_, baseHash, err := Normalize(base)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		change   func(*corev1.PodTemplateSpec)
		sameHash bool
	}{
		{"unchanged", func(*corev1.PodTemplateSpec) {}, true},
		{"ReplicaSet's pod-template-hash label", func(p *corev1.PodTemplateSpec) {
			p.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = "5d8f7c9b4"
		}, true},
		{"server-set metadata", func(p *corev1.PodTemplateSpec) {
			p.CreationTimestamp = metav1.NewTime(time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC))
			p.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
			p.ResourceVersion = "123"
			p.UID = "abc"
		}, true},
		{"labels built in another order", func(p *corev1.PodTemplateSpec) {
			p.Labels = map[string]string{"tier": "front", "app": "web"}
		}, true},
		{"image", func(p *corev1.PodTemplateSpec) { p.Spec.Containers[0].Image = "shop/web:2" }, false},
		{"env value", func(p *corev1.PodTemplateSpec) { p.Spec.Containers[0].Env[0].Value = "test" }, false},
		{"restartedAt annotation", func(p *corev1.PodTemplateSpec) {
			p.Annotations["kubectl.kubernetes.io/restartedAt"] = "2024-05-01T00:00:00Z"
		}, false},
		{"init container image", func(p *corev1.PodTemplateSpec) { p.Spec.InitContainers[0].Image = "shop/migrate:2" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := base.DeepCopy()
			tt.change(p)
			content, hash, err := Normalize(p)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := hash == baseHash, tt.sameHash; got != want {
				t.Errorf("same hash as the base = %v, want %v\n%s", got, want, content)
			}
			for _, absent := range []string{"pod-template-hash", "managedFields", "creationTimestamp", "resourceVersion", "uid:"} {
				if strings.Contains(content, absent) {
					t.Errorf("content holds %q:\n%s", absent, content)
				}
			}
		})
	}
}

func TestNormalizeLeavesInputAlone(t *testing.T) {
	p := template("shop/web:1")
	p.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = "5d8f7c9b4"
	if _, _, err := Normalize(p); err != nil {
		t.Fatal(err)
	}
	if got, want := p.Labels[appsv1.DefaultDeploymentUniqueLabelKey], "5d8f7c9b4"; got != want {
		t.Errorf("label after Normalize = %q, want %q", got, want)
	}
}

func TestNormalizeSortsKeys(t *testing.T) {
	content, _, err := Normalize(template("shop/web:1"))
	if err != nil {
		t.Fatal(err)
	}
	// Top-level keys, then the keys of the first container, in order.
	for _, order := range [][]string{
		{"metadata:", "\nspec:"},
		{"  labels:", "    app: web", "    tier: front"},
		{"  - env:", "    image: shop/web:1", "    imagePullPolicy:", "    name: app", "    resources:", "    terminationMessagePath:"},
	} {
		last := -1
		for _, s := range order {
			i := strings.Index(content, s)
			if i < 0 {
				t.Fatalf("content lacks %q:\n%s", s, content)
			}
			if i < last {
				t.Errorf("%q comes before the key preceding it in %v:\n%s", s, order, content)
			}
			last = i
		}
	}
}

func TestParseTemplateRoundTrip(t *testing.T) {
	content, hash, err := Normalize(template("shop/web:1"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseTemplate(content)
	if err != nil {
		t.Fatal(err)
	}
	got, gotHash, err := Normalize(p)
	if err != nil {
		t.Fatal(err)
	}
	if got != content || gotHash != hash {
		t.Errorf("round trip changed the template:\n got %s\nwant %s", got, content)
	}
	if _, err := ParseTemplate("spec: [not, a, pod, spec"); err == nil {
		t.Error("ParseTemplate of broken YAML: no error")
	}
}

func TestImages(t *testing.T) {
	got := Images(template("shop/web:1"))
	want := []rewind.Image{
		{Container: "migrate", Image: "shop/migrate:1", Init: true},
		{Container: "app", Image: "shop/web:1"},
		{Container: "sidecar", Image: "envoy:1.30"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Images = %+v, want %+v", got, want)
	}
}

func entry(manager, op, subresource string, at time.Time, fields string) metav1.ManagedFieldsEntry {
	e := metav1.ManagedFieldsEntry{
		Manager:     manager,
		Operation:   metav1.ManagedFieldsOperationType(op),
		Subresource: subresource,
		FieldsType:  "FieldsV1",
	}
	if !at.IsZero() {
		mt := metav1.NewTime(at)
		e.Time = &mt
	}
	if fields != "" {
		e.FieldsV1 = &metav1.FieldsV1{Raw: []byte(fields)}
	}
	return e
}

const (
	templateFields = `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{"f:image":{}}}}}}}`
	replicasFields = `{"f:spec":{"f:replicas":{}}}`
	metaFields     = `{"f:metadata":{"f:annotations":{"f:kubernetes.io/change-cause":{}}}}`
	statusFields   = `{"f:status":{"f:replicas":{}}}`
)

func TestTemplateAuthor(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		fields []metav1.ManagedFieldsEntry
		want   string
		wantAt time.Time
	}{
		{"none", nil, "", time.Time{}},
		{"creator only", []metav1.ManagedFieldsEntry{
			entry("kubectl-client-side-apply", "Update", "", t0, templateFields),
			entry("kube-controller-manager", "Update", "status", t0.Add(time.Minute), statusFields),
		}, "kubectl-client-side-apply", t0},
		{"latest template owner wins", []metav1.ManagedFieldsEntry{
			entry("helm", "Update", "", t0, templateFields),
			entry("kubectl-set", "Update", "", t0.Add(2*time.Minute), templateFields),
			entry("argocd", "Apply", "", t0.Add(time.Minute), templateFields),
		}, "kubectl-set", t0.Add(2 * time.Minute)},
		{"later changes outside the template do not count", []metav1.ManagedFieldsEntry{
			entry("helm", "Update", "", t0, templateFields),
			entry("hpa", "Update", "", t0.Add(time.Hour), replicasFields),
			entry("kubectl-annotate", "Update", "", t0.Add(time.Hour), metaFields),
		}, "helm", t0},
		{"status subresource ignored", []metav1.ManagedFieldsEntry{
			entry("helm", "Update", "", t0, templateFields),
			entry("odd-controller", "Update", "status", t0.Add(time.Hour), templateFields),
		}, "helm", t0},
		{"broken fields ignored", []metav1.ManagedFieldsEntry{
			entry("helm", "Update", "", t0, templateFields),
			entry("broken", "Update", "", t0.Add(time.Hour), `{"f:spec":`),
		}, "helm", t0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, at := templateAuthor(tt.fields)
			if got != tt.want || !at.Equal(tt.wantAt) {
				t.Errorf("templateAuthor = %q at %v, want %q at %v", got, at, tt.want, tt.wantAt)
			}
		})
	}
}

func TestRewindWroteLast(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		fields []metav1.ManagedFieldsEntry
		want   bool
	}{
		{"never", []metav1.ManagedFieldsEntry{entry("helm", "Update", "", t0, templateFields)}, false},
		{"after the others", []metav1.ManagedFieldsEntry{
			entry("helm", "Update", "", t0, templateFields),
			entry(FieldManager, "Update", "", t0.Add(time.Minute), metaFields),
		}, true},
		{"same second", []metav1.ManagedFieldsEntry{
			entry("helm", "Update", "", t0, templateFields),
			entry(FieldManager, "Update", "", t0, templateFields),
		}, true},
		{"someone changed the template since", []metav1.ManagedFieldsEntry{
			entry(FieldManager, "Update", "", t0, templateFields),
			entry("kubectl-set", "Update", "", t0.Add(time.Minute), templateFields),
		}, false},
		{"later changes outside the template", []metav1.ManagedFieldsEntry{
			entry(FieldManager, "Update", "", t0, templateFields),
			entry("hpa", "Update", "", t0.Add(time.Minute), replicasFields),
			entry("kube-controller-manager", "Update", "status", t0.Add(time.Minute), statusFields),
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rewindWroteLast(tt.fields); got != tt.want {
				t.Errorf("rewindWroteLast = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTemplateFromRevision(t *testing.T) {
	want := template("shop/db:7")
	raw, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["$patch"] = "replace"
	data, err := json.Marshal(map[string]any{"spec": map[string]any{"template": m}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		data    runtime.RawExtension
		wantErr bool
	}{
		{"strategic merge patch", runtime.RawExtension{Raw: data}, false},
		{"no template", runtime.RawExtension{Raw: []byte(`{"spec":{}}`)}, true},
		{"null template", runtime.RawExtension{Raw: []byte(`{"spec":{"template":null}}`)}, true},
		{"not JSON", runtime.RawExtension{Raw: []byte(`spec`)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cr := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "db-7c9"}, Data: tt.data, Revision: 3}
			got, err := templateFromRevision(cr)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			gotContent, _, _ := Normalize(got)
			wantContent, _, _ := Normalize(want)
			if gotContent != wantContent {
				t.Errorf("template:\n got %s\nwant %s", gotContent, wantContent)
			}
		})
	}
}

func TestChangeCause(t *testing.T) {
	long := strings.Repeat("é", 300)
	tests := []struct {
		name    string
		reason  string
		version rewind.Version
		want    string
	}{
		{"revision", "errors  after\nrelease", rewind.Version{Number: 4, Revision: "3"},
			"rewind: rollback to revision 3 by alice (request #12): errors after release"},
		{"no revision", "bad config", rewind.Version{Number: 4},
			"rewind: rollback to version 4 by alice (request #12): bad config"},
		{"long reason", long, rewind.Version{Number: 4, Revision: "3"},
			"rewind: rollback to revision 3 by alice (request #12): " + strings.Repeat("é", maxReasonInAnnotation-1) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &rewind.Request{ID: 12, Requester: "alice", Reason: tt.reason}
			if got := changeCause(r, &tt.version); got != tt.want {
				t.Errorf("changeCause = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPodProblem(t *testing.T) {
	pod := func(reason string, init bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-abc"}}
		p.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "shop/migrate:1"}}
		p.Spec.Containers = []corev1.Container{{Name: "app", Image: "shop/web:bad"}}
		st := corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
		if init {
			st.Name = "migrate"
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{st}
		} else {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{st}
		}
		return p
	}
	tests := []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"pull back-off", pod("ImagePullBackOff", false), "pod web-abc ImagePullBackOff for image shop/web:bad"},
		{"pull error", pod("ErrImagePull", false), "pod web-abc ErrImagePull for image shop/web:bad"},
		{"crash loop in init container", pod("CrashLoopBackOff", true), "pod web-abc CrashLoopBackOff in container migrate (image shop/migrate:1)"},
		{"creating", pod("ContainerCreating", false), ""},
		{"running", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-abc"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := podProblem(tt.pod); got != tt.want {
				t.Errorf("podProblem = %q, want %q", got, tt.want)
			}
		})
	}
}

const kubeconfigTemplate = `apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://127.0.0.1:1
contexts:
- name: prod-admin
  context: {cluster: prod, user: admin}
- name: dev
  context: {cluster: prod, user: admin}
current-context: dev
users:
- name: admin
  user:
USER
`

func TestKubeconfigContexts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte(strings.Replace(kubeconfigTemplate, "USER", "    token: abcd-secret-token", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := KubeconfigContexts(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"dev", "prod-admin"}; !reflect.DeepEqual(got, want) {
		t.Errorf("KubeconfigContexts = %v, want %v", got, want)
	}
	if _, err := KubeconfigContexts(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("KubeconfigContexts of a missing file: no error")
	}
}

func TestDefaultKubeconfigPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	if err := os.WriteFile(path, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBECONFIG", filepath.Join(dir, "missing")+string(filepath.ListSeparator)+path)
	if got := DefaultKubeconfigPath(); got != path {
		t.Errorf("DefaultKubeconfigPath = %q, want %q", got, path)
	}
	t.Setenv("KUBECONFIG", "")
	if got := DefaultKubeconfigPath(); got != "" {
		t.Errorf("DefaultKubeconfigPath without any kubeconfig = %q, want empty", got)
	}
}

func TestRestConfigFromPastedKubeconfig(t *testing.T) {
	tests := []struct {
		name     string
		user     string
		context  string
		wantHost string
		wantErr  bool
	}{
		{"token", "    token: abcd-secret-token", "", "https://127.0.0.1:1", false},
		{"named context", "    token: abcd-secret-token", "prod-admin", "https://127.0.0.1:1", false},
		{"unknown context", "    token: abcd-secret-token", "staging", "", true},
		{"exec plugin", "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/sh", "", "", true},
		{"token file", "    tokenFile: /etc/passwd", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &rewind.Cluster{Name: "prod", Kubeconfig: []byte(strings.Replace(kubeconfigTemplate, "USER", tt.user, 1)), Context: tt.context}
			cfg, err := RestConfig(c, "")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				if rewind.ErrorCode(err) != rewind.EINVALID {
					t.Errorf("error code = %q, want %q", rewind.ErrorCode(err), rewind.EINVALID)
				}
				if strings.Contains(err.Error(), "abcd-secret-token") {
					t.Errorf("error shows the token: %v", err)
				}
				return
			}
			if cfg.Host != tt.wantHost || cfg.BearerToken != "abcd-secret-token" {
				t.Errorf("config host %q token set %v, want %q and the token", cfg.Host, cfg.BearerToken != "", tt.wantHost)
			}
		})
	}
}

func TestRedactErr(t *testing.T) {
	raw := []byte(strings.Replace(kubeconfigTemplate, "USER", "    token: abcd-secret-token", 1))
	err := &os.PathError{Op: "get", Path: "https://x/?token=abcd-secret-token&pw=hunter22", Err: os.ErrPermission}
	got := redactErr(err, raw, "hunter22")
	if strings.Contains(got, "abcd-secret-token") || strings.Contains(got, "hunter22") {
		t.Errorf("redactErr = %q, still holds a secret", got)
	}
	if !strings.Contains(got, "[redacted]") {
		t.Errorf("redactErr = %q, want [redacted] marks", got)
	}
}

func BenchmarkNormalize(b *testing.B) {
	p := template("shop/web:1")
	p.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = "5d8f7c9b4"
	for b.Loop() {
		if _, _, err := Normalize(p); err != nil {
			b.Fatal(err)
		}
	}
}
