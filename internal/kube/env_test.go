package kube

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/secret"
	"github.com/rewindhq/rewind/internal/sqlite"
	"github.com/rewindhq/rewind/internal/testenv"
)

// The integration tests run against one real cluster per test binary
// (internal/testenv): kube-apiserver, etcd, controller-manager, scheduler,
// and kwok as the kubelet, so rollouts really happen.
func TestMain(m *testing.M) { testenv.Main(m) }

// setupManager is the field manager of the tests' own changes.
const setupManager = "rewind-test-setup"

// env is one test's world: its own namespace in the shared cluster, its own
// store, and the cluster registered in the store, watching that namespace.
type env struct {
	t       *testing.T
	ctx     context.Context
	cs      kubernetes.Interface
	ns      string
	store   *sqlite.Store
	cluster *rewind.Cluster
	dir     string
	test    *testenv.Cluster
}

func newEnv(t *testing.T) *env {
	t.Helper()
	c := testenv.Shared(t)
	ns := c.NewNamespace(t)
	cs, err := kubernetes.NewForConfig(c.RestConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	box, err := secret.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "rewind.db"), box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	environment := &rewind.Environment{Name: "dev"}
	if err := store.EnsureEnvironment(ctx, environment); err != nil {
		t.Fatal(err)
	}
	cluster := &rewind.Cluster{
		Name:           "test",
		EnvironmentID:  environment.ID,
		KubeconfigPath: chartAccess(t, c, ns, dir), // Rewind runs with the chart's RBAC
		Context:        c.Context,
		Namespaces:     []string{ns},
	}
	if err := store.SaveCluster(ctx, cluster); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: ctx, cs: cs, ns: ns, store: store, cluster: cluster, dir: dir, test: c}
}

// start starts a Manager (set up further by with) watching the test's
// cluster and waits until it has recorded what the cluster holds. It stops when the test ends.
func (e *env) start(with ...func(*Manager)) *Manager {
	e.t.Helper()
	m := NewManager(e.store, e.dir, testLogger(e.t))
	m.RolloutTimeout = 2 * time.Minute
	for _, f := range with {
		f(m)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.Start(ctx, []*rewind.Cluster{e.cluster})
	e.t.Cleanup(func() {
		cancel()
		m.Stop()
	})
	wctx, wcancel := context.WithTimeout(e.ctx, time.Minute)
	defer wcancel()
	if err := m.WaitReady(wctx); err != nil {
		e.t.Fatal(err)
	}
	if err := m.Health(e.ctx)[e.cluster.Name]; err != nil {
		e.t.Fatalf("health of cluster %s: %v", e.cluster.Name, err)
	}
	return m
}

// testWriter sends a Manager's log to the test's log while the test runs.
type testWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func podTemplate(name, image string) corev1.PodTemplateSpec {
	zero := int64(0)
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{{Name: "app", Image: image}},
			TerminationGracePeriodSeconds: &zero,
		},
	}
}

func newWorkload(kind, name, image string, replicas int32) object {
	meta := metav1.ObjectMeta{Name: name}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
	switch kind {
	case Deployment:
		return &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{
			Replicas: &replicas, Selector: sel, Template: podTemplate(name, image),
		}}
	case StatefulSet:
		return &appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{
			Replicas: &replicas, Selector: sel, Template: podTemplate(name, image),
			ServiceName: name, PodManagementPolicy: appsv1.ParallelPodManagement,
		}}
	case DaemonSet:
		one := intstr.FromInt32(1)
		return &appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{
			Selector: sel, Template: podTemplate(name, image),
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{
				Type:          appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &one},
			},
		}}
	}
	panic("unknown kind " + kind)
}

func (e *env) create(o object) {
	e.t.Helper()
	apps := e.cs.AppsV1()
	opts := metav1.CreateOptions{FieldManager: setupManager}
	var err error
	switch o := o.(type) {
	case *appsv1.Deployment:
		_, err = apps.Deployments(e.ns).Create(e.ctx, o, opts)
	case *appsv1.StatefulSet:
		_, err = apps.StatefulSets(e.ns).Create(e.ctx, o, opts)
	case *appsv1.DaemonSet:
		_, err = apps.DaemonSets(e.ns).Create(e.ctx, o, opts)
	}
	if err != nil {
		e.t.Fatalf("create %s %s: %v", kindOf(o), o.GetName(), err)
	}
}

func (e *env) get(kind, name string) object {
	e.t.Helper()
	w := &watcher{cs: e.cs}
	o, err := w.get(e.ctx, key{kind, e.ns, name})
	if err != nil {
		e.t.Fatalf("get %s %s: %v", kind, name, err)
	}
	return o
}

// change updates a workload as field manager manager would, like kubectl,
// a second after the previous change: managed fields keep times in whole
// seconds, and the author of a change is the manager with the latest time.
func (e *env) change(kind, name, manager string, fn func(o object)) {
	e.t.Helper()
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	w := &watcher{cs: e.cs}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		o, err := w.get(e.ctx, key{kind, e.ns, name})
		if err != nil {
			return err
		}
		fn(o)
		apps := e.cs.AppsV1()
		opts := metav1.UpdateOptions{FieldManager: manager}
		switch o := o.(type) {
		case *appsv1.Deployment:
			_, err = apps.Deployments(e.ns).Update(e.ctx, o, opts)
		case *appsv1.StatefulSet:
			_, err = apps.StatefulSets(e.ns).Update(e.ctx, o, opts)
		case *appsv1.DaemonSet:
			_, err = apps.DaemonSets(e.ns).Update(e.ctx, o, opts)
		}
		return err
	})
	if err != nil {
		e.t.Fatalf("change %s %s: %v", kind, name, err)
	}
}

// setImage sets the image of a workload's container.
func (e *env) setImage(kind, name, image, manager string) {
	e.t.Helper()
	e.change(kind, name, manager, func(o object) { templateOf(o).Spec.Containers[0].Image = image })
}

func (e *env) remove(kind, name string) {
	e.t.Helper()
	apps := e.cs.AppsV1()
	var err error
	switch kind {
	case Deployment:
		err = apps.Deployments(e.ns).Delete(e.ctx, name, metav1.DeleteOptions{})
	case StatefulSet:
		err = apps.StatefulSets(e.ns).Delete(e.ctx, name, metav1.DeleteOptions{})
	case DaemonSet:
		err = apps.DaemonSets(e.ns).Delete(e.ctx, name, metav1.DeleteOptions{})
	}
	if err != nil {
		e.t.Fatalf("delete %s %s: %v", kind, name, err)
	}
}

// rolledOut reports whether all pods of o run its current template and are
// available, as kubectl rollout status tells.
func rolledOut(o object) bool {
	if !observedBy(o) {
		return false
	}
	switch o := o.(type) {
	case *appsv1.Deployment:
		n := replicas(o.Spec.Replicas)
		return o.Status.UpdatedReplicas == n && o.Status.Replicas == n && o.Status.AvailableReplicas == n
	case *appsv1.StatefulSet:
		n := replicas(o.Spec.Replicas)
		return o.Status.UpdatedReplicas == n && o.Status.ReadyReplicas == n && o.Status.CurrentRevision == o.Status.UpdateRevision
	case *appsv1.DaemonSet:
		n := o.Status.DesiredNumberScheduled
		return n > 0 && o.Status.UpdatedNumberScheduled == n && o.Status.NumberAvailable == n
	}
	return false
}

func (e *env) waitRolledOut(kind, name string) {
	e.t.Helper()
	e.eventually(fmt.Sprintf("%s %s rolled out", kind, name), func() bool { return rolledOut(e.get(kind, name)) })
}

// eventually waits until cond holds, failing the test after a minute.
func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	err := wait.PollUntilContextTimeout(e.ctx, 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return cond(), nil
	})
	if err != nil {
		e.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// target returns the stored service of a workload.
func (e *env) target(kind, name string) *rewind.Target {
	e.t.Helper()
	var out *rewind.Target
	e.eventually("service "+name+" recorded", func() bool {
		ts, err := e.store.Targets(e.ctx, sqlite.TargetFilter{OwnerID: e.cluster.ID, WithDeleted: true})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, s := range ts {
			if s.Target.Workload == kind && s.Target.Name == name && s.Target.Namespace == e.ns {
				out = s.Target
				return true
			}
		}
		return false
	})
	return out
}

// versions returns a service's versions, oldest first.
func (e *env) versions(t *rewind.Target) []*rewind.Version {
	e.t.Helper()
	vs, _, err := e.store.Versions(e.ctx, t.ID, 0, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	for i, j := 0, len(vs)-1; i < j; i, j = i+1, j-1 {
		vs[i], vs[j] = vs[j], vs[i]
	}
	return vs
}

// waitVersions waits until a service has n versions and returns them.
func (e *env) waitVersions(t *rewind.Target, n int) []*rewind.Version {
	e.t.Helper()
	var vs []*rewind.Version
	e.eventually(fmt.Sprintf("%d versions of %s", n, t.Label()), func() bool {
		vs = e.versions(t)
		return len(vs) >= n
	})
	if len(vs) != n {
		e.t.Fatalf("%s has %d versions, want %d:\n%s", t.Label(), len(vs), n, describe(vs))
	}
	return vs
}

func describe(vs []*rewind.Version) string {
	var b strings.Builder
	for _, v := range vs {
		img := ""
		if len(v.Images) > 0 {
			img = v.Images[len(v.Images)-1].Image
		}
		fmt.Fprintf(&b, "  #%d revision %q %s by %q image %s request %d\n", v.Number, v.Revision, v.Source, v.Author, img, v.RequestID)
	}
	return b.String()
}

// request stores a running rollback request of t to version v, made when
// the requester saw t's latest version and resourceVersion expected.
func (e *env) request(t *rewind.Target, v *rewind.Version, requester, reason, expected string) *rewind.Request {
	e.t.Helper()
	base, err := e.store.LatestVersion(e.ctx, t.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	r := &rewind.Request{Requester: requester, Reason: reason, Steps: []rewind.Step{{TargetID: t.ID, VersionID: v.ID, BaseVersionID: base.ID, Expected: expected}}}
	if err := e.store.CreateRequest(e.ctx, r, rewind.AuditEvent{Actor: requester, Action: rewind.ActionRequest, Target: t.Label()}); err != nil {
		e.t.Fatal(err)
	}
	return claim(e.t, e.store, r)
}

// claim starts request r and its first step, as the runner would.
func claim(t testing.TB, store *sqlite.Store, r *rewind.Request) *rewind.Request {
	t.Helper()
	ctx := context.Background()
	if _, err := store.Move(ctx, r.ID, []rewind.State{rewind.StateApproved}, rewind.StateRunning, "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := store.MoveStep(ctx, r.First().ID, []rewind.StepState{rewind.StepWaiting}, rewind.StepRunning, "", nil); err != nil {
		t.Fatal(err)
	}
	got, err := store.Request(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// finish moves a running request to its final state.
func (e *env) finish(r *rewind.Request, st rewind.StepState, outcome string) {
	e.t.Helper()
	if _, err := e.store.MoveStep(e.ctx, r.First().ID, []rewind.StepState{rewind.StepRunning}, st, outcome, nil); err != nil {
		e.t.Fatal(err)
	}
	state := rewind.StateSucceeded
	if st != rewind.StepSucceeded {
		state = rewind.StateFailed
	}
	if _, err := e.store.Move(e.ctx, r.ID, []rewind.State{rewind.StateRunning}, state, outcome, nil); err != nil {
		e.t.Fatal(err)
	}
}

func image(o object) string { return templateOf(o).Spec.Containers[0].Image }

func lastImage(v *rewind.Version) string {
	if len(v.Images) == 0 {
		return ""
	}
	return v.Images[len(v.Images)-1].Image
}
