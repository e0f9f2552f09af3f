package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/rewindhq/rewind/internal/rewind"
)

// progressLog collects a rollback's progress messages with their times.
type progressLog struct {
	mu    sync.Mutex
	times []time.Time
	msgs  []string
}

func (p *progressLog) add(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.times = append(p.times, time.Now())
	p.msgs = append(p.msgs, msg)
}

// completionTime watches a Deployment until it has rolled out image and
// returns when its status first said so.
func (e *env) completionTime(ctx context.Context, name, image string) <-chan time.Time {
	out := make(chan time.Time, 1)
	w, err := e.cs.AppsV1().Deployments(e.ns).Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
	if err != nil {
		e.t.Fatal(err)
	}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			d, ok := ev.Object.(*appsv1.Deployment)
			if ok && templateOf(d).Spec.Containers[0].Image == image && rolledOut(d) {
				out <- time.Now()
				return
			}
		}
	}()
	return out
}

func TestRollbackDeployment(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(newWorkload(Deployment, "web", "shop/web:1", 2))
	e.waitRolledOut(Deployment, "web")
	for _, img := range []string{"shop/web:2", "shop/web:3"} {
		e.setImage(Deployment, "web", img, "kubectl-set")
		e.waitRolledOut(Deployment, "web")
	}
	m := e.start()
	target := e.target(Deployment, "web")
	vs := e.waitVersions(target, 3)

	expected, err := m.Preflight(e.ctx, target, vs[0])
	if err != nil {
		t.Fatal(err)
	}
	r := e.request(target, vs[0], "alice", "errors after the\nrelease", expected)
	completed := e.completionTime(e.ctx, "web", "shop/web:1")
	var progress progressLog
	start := time.Now()
	outcome, err := m.Executor().Execute(e.ctx, r, r.First(), target, vs[0], progress.add)
	returned := time.Now()
	if err != nil {
		t.Fatalf("Execute: %v (outcome %q)", err, outcome)
	}
	t.Logf("outcome: %s; progress: %q", outcome, progress.msgs)
	if want := "Rolled back to revision 1 (now revision 4); 2/2 replicas ready."; outcome != want {
		t.Errorf("outcome = %q, want %q", outcome, want)
	}
	if len(progress.times) > 0 {
		t.Logf("Execute to the workload patched (first progress report): %v", progress.times[0].Sub(start))
	}
	select {
	case done := <-completed:
		t.Logf("deployment status complete to Execute returning: %v", returned.Sub(done))
	case <-time.After(10 * time.Second):
		t.Errorf("the test's watch never saw the rollout complete")
	}

	d := e.get(Deployment, "web")
	if got := image(d); got != "shop/web:1" {
		t.Errorf("image after the rollback = %q, want shop/web:1", got)
	}
	wantCause := fmt.Sprintf("rewind: rollback to revision 1 by alice (request #%d): errors after the release", r.ID)
	if got := d.GetAnnotations()[AnnotationChangeCause]; got != wantCause {
		t.Errorf("change-cause = %q, want %q", got, wantCause)
	}
	if got, want := d.GetAnnotations()[AnnotationRequest], fmt.Sprint(r.ID); got != want {
		t.Errorf("%s = %q, want %q", AnnotationRequest, got, want)
	}
	vs = e.versions(target)
	if len(vs) != 4 {
		t.Fatalf("%d versions after the rollback, want 4:\n%s", len(vs), describe(vs))
	}
	v := vs[3]
	if v.Source != rewind.SourceRollback || v.Author != "alice" || v.RequestID != r.ID || v.Revision != "4" || v.Hash != vs[0].Hash || v.ChangeCause != wantCause {
		t.Errorf("rollback version = %s, want rollback by alice for request %d, revision 4, the hash of version 1", describe(vs[3:]), r.ID)
	}
	got, err := e.store.Request(e.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.First().ResultVersionID != v.ID {
		t.Errorf("request's result version = %d, want %d", got.First().ResultVersionID, v.ID)
	}

	// The recorder saw the same change: still one version for it, also after a restart.
	m.Stop()
	e.start()
	if vs := e.versions(target); len(vs) != 4 {
		t.Errorf("after a restart: %d versions, want 4:\n%s", len(vs), describe(vs))
	}
}

func TestRollbackAfterReplicaSetIsGone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := newWorkload(Deployment, "web", "shop/web:1", 1).(*appsv1.Deployment)
	limit := int32(1)
	d.Spec.RevisionHistoryLimit = &limit
	e.create(d)
	e.waitRolledOut(Deployment, "web")
	m := e.start()
	target := e.target(Deployment, "web")
	for i, img := range []string{"shop/web:2", "shop/web:3"} {
		e.setImage(Deployment, "web", img, "kubectl-set")
		e.waitVersions(target, i+2)
		e.waitRolledOut(Deployment, "web")
	}
	e.eventually("the ReplicaSet of shop/web:1 removed", func() bool {
		sets, err := e.cs.AppsV1().ReplicaSets(e.ns).List(e.ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, rs := range sets.Items {
			if rs.Spec.Template.Spec.Containers[0].Image == "shop/web:1" {
				return false
			}
		}
		return true
	})

	vs := e.versions(target)
	expected, err := m.Preflight(e.ctx, target, vs[0])
	if err != nil {
		t.Fatal(err)
	}
	r := e.request(target, vs[0], "bob", "roll back past the history limit", expected)
	outcome, err := m.Execute(e.ctx, r, r.First(), target, vs[0], nil)
	if err != nil {
		t.Fatalf("Execute: %v (outcome %q)", err, outcome)
	}
	if want := "Rolled back to revision 1 (now revision 4); 1/1 replicas ready."; outcome != want {
		t.Errorf("outcome = %q, want %q", outcome, want)
	}
	if got := image(e.get(Deployment, "web")); got != "shop/web:1" {
		t.Errorf("image after the rollback = %q, want shop/web:1", got)
	}
	vs = e.versions(target)
	if v := vs[len(vs)-1]; len(vs) != 4 || v.Source != rewind.SourceRollback || v.Author != "bob" {
		t.Errorf("versions after the rollback:\n%s want a 4th by bob's rollback", describe(vs))
	}
}

func TestRollbackStatefulSetAndDaemonSet(t *testing.T) {
	for _, kind := range []string{StatefulSet, DaemonSet} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.create(newWorkload(kind, "db", "shop/db:1", 2))
			e.waitRolledOut(kind, "db")
			e.setImage(kind, "db", "shop/db:2", "kubectl-set")
			e.waitRolledOut(kind, "db")
			m := e.start()
			target := e.target(kind, "db")
			vs := e.waitVersions(target, 2)

			expected, err := m.Preflight(e.ctx, target, vs[0])
			if err != nil {
				t.Fatal(err)
			}
			r := e.request(target, vs[0], "carol", "db 2 corrupts", expected)
			outcome, err := m.Execute(e.ctx, r, r.First(), target, vs[0], nil)
			if err != nil {
				t.Fatalf("Execute: %v (outcome %q)", err, outcome)
			}
			pods := "replicas"
			if kind == DaemonSet {
				pods = "pods"
			}
			if want := fmt.Sprintf("Rolled back to revision 1 (now revision 3); "); !strings.HasPrefix(outcome, want) || !strings.HasSuffix(outcome, " "+pods+" ready.") {
				t.Errorf("outcome = %q, want %q...%s ready.", outcome, want, pods)
			}
			if got := image(e.get(kind, "db")); got != "shop/db:1" {
				t.Errorf("image after the rollback = %q, want shop/db:1", got)
			}
			vs = e.versions(target)
			if v := vs[len(vs)-1]; len(vs) != 3 || v.Source != rewind.SourceRollback || v.Author != "carol" || v.Revision != "3" {
				t.Errorf("versions after the rollback:\n%s want a 3rd, revision 3, by carol's rollback", describe(vs))
			}
			st, err := m.Status(e.ctx, target)
			if err != nil {
				t.Fatal(err)
			}
			if st.Phase != PhaseComplete || st.Revision != "3" || st.Ready != st.Desired {
				t.Errorf("status = %+v, want complete at revision 3 with all pods ready", st)
			}
		})
	}
}

func TestRollbackConflict(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(newWorkload(Deployment, "web", "shop/web:1", 1))
	e.waitRolledOut(Deployment, "web")
	e.setImage(Deployment, "web", "shop/web:2", "kubectl-set")
	e.waitRolledOut(Deployment, "web")
	m := e.start()
	target := e.target(Deployment, "web")
	vs := e.waitVersions(target, 2)

	// A change outside the pod template is no conflict: the service still
	// runs the version the requester saw.
	expected, err := m.Preflight(e.ctx, target, vs[0])
	if err != nil {
		t.Fatal(err)
	}
	first := e.request(target, vs[0], "alice", "errors", expected)
	e.change(Deployment, "web", "hpa", func(o object) {
		n := int32(2)
		o.(*appsv1.Deployment).Spec.Replicas = &n
	})
	e.waitRolledOut(Deployment, "web")
	if got := e.get(Deployment, "web").GetResourceVersion(); got == expected {
		t.Fatalf("scaling left resourceVersion %s unchanged", got)
	}
	outcome, err := m.Execute(e.ctx, first, first.First(), target, vs[0], nil)
	if err != nil {
		t.Fatalf("Execute after a scale: %v (%s)", err, outcome)
	}
	e.finish(first, rewind.StepSucceeded, outcome)
	vs = e.waitVersions(target, 3)

	// A change of the pod template after the request refuses it.
	expected, err = m.Preflight(e.ctx, target, vs[1])
	if err != nil {
		t.Fatal(err)
	}
	r := e.request(target, vs[1], "alice", "back to 2", expected)
	e.setImage(Deployment, "web", "shop/web:3", "kubectl-set")
	e.waitRolledOut(Deployment, "web")
	e.waitVersions(target, 4)

	outcome, err = m.Execute(e.ctx, r, r.First(), target, vs[1], nil)
	if got, want := rewind.ErrorCode(err), rewind.ECONFLICT; got != want {
		t.Fatalf("Execute error %v (code %q), want code %q", err, got, want)
	}
	for _, want := range []string{"Someone changed " + target.Label() + " since the request was made (now revision 4)", "nothing was changed"} {
		if !strings.Contains(outcome, want) {
			t.Errorf("outcome = %q, want it to say %q", outcome, want)
		}
	}
	d := e.get(Deployment, "web")
	if got := image(d); got != "shop/web:3" {
		t.Errorf("image = %q, want the other change's shop/web:3", got)
	}
	if got, want := d.GetAnnotations()[AnnotationRequest], fmt.Sprint(first.ID); got != want {
		t.Errorf("%s = %q, want %q of the earlier rollback", AnnotationRequest, got, want)
	}
	if vs := e.versions(target); len(vs) != 4 {
		t.Errorf("%d versions, want 4:\n%s", len(vs), describe(vs))
	}
}

func TestRollbackFailures(t *testing.T) {
	tests := []struct {
		name  string
		bad   func(o object) // makes the version the rollback will fail to roll out
		wants []string
	}{
		{"image pull", func(o object) { templateOf(o).Spec.Containers[0].Image = "shop/web:bad" }, []string{
			"Rollout failed: pod web-", " ImagePullBackOff for image shop/web:bad;",
			"the service runs the new template with 1 of 2 replicas updated; the old version is still serving 2 replicas.",
		}},
		{"crash loop", func(o object) { templateOf(o).Spec.Containers[0].Image = "shop/web:crash" }, []string{
			"Rollout failed: pod web-", " CrashLoopBackOff in container app (image shop/web:crash);",
			"the old version is still serving 2 replicas.",
		}},
		{"progress deadline", func(o object) {
			templateOf(o).Spec.NodeSelector = map[string]string{"rewind.io/test": "nowhere"}
		}, []string{
			"Rollout failed: the deployment made no progress within its deadline of 3s (",
			"the old version is still serving 2 replicas.",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			d := newWorkload(Deployment, "web", "shop/web:1", 2).(*appsv1.Deployment)
			deadline := int32(3)
			d.Spec.ProgressDeadlineSeconds = &deadline
			e.create(d)
			e.waitRolledOut(Deployment, "web")
			m := e.start()
			target := e.target(Deployment, "web")
			e.change(Deployment, "web", "kubectl-edit", tt.bad)
			bad := e.waitVersions(target, 2)[1]
			e.change(Deployment, "web", "kubectl-edit", func(o object) {
				templateOf(o).Spec = podTemplate("web", "shop/web:2").Spec
			})
			e.waitRolledOut(Deployment, "web")
			e.waitVersions(target, 3)

			expected, err := m.Preflight(e.ctx, target, bad)
			if err != nil {
				t.Fatal(err)
			}
			r := e.request(target, bad, "alice", "try the bad one", expected)
			outcome, err := m.Execute(e.ctx, r, r.First(), target, bad, nil)
			if err == nil {
				t.Fatalf("Execute succeeded with outcome %q, want a failure", outcome)
			}
			t.Logf("outcome: %s", outcome)
			if rewind.ErrorMessage(err) != outcome {
				t.Errorf("error message %q differs from the outcome %q", rewind.ErrorMessage(err), outcome)
			}
			for _, want := range tt.wants {
				if !strings.Contains(outcome, want) {
					t.Errorf("outcome = %q, want it to say %q", outcome, want)
				}
			}
			// The version was written and recorded even though its rollout failed.
			vs := e.versions(target)
			if v := vs[len(vs)-1]; len(vs) != 4 || v.Source != rewind.SourceRollback || v.Hash != bad.Hash {
				t.Errorf("versions after the failed rollback:\n%s want a 4th by the rollback", describe(vs))
			}
			st, err := m.Status(e.ctx, target)
			if err != nil {
				t.Fatal(err)
			}
			if st.Phase != PhaseFailed && tt.name != "progress deadline" {
				t.Errorf("status phase = %q (%s), want failed", st.Phase, st.Message)
			}
		})
	}
}

func TestRefusedRollbacks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, name := range []string{"paused", "gone", "same"} {
		e.create(newWorkload(Deployment, name, "shop/web:1", 1))
	}
	for _, name := range []string{"paused", "gone", "same"} {
		e.waitRolledOut(Deployment, name)
		e.setImage(Deployment, name, "shop/web:2", "kubectl-set")
	}
	for _, name := range []string{"paused", "gone", "same"} {
		e.waitRolledOut(Deployment, name)
	}
	m := e.start()

	tests := []struct {
		name     string
		version  int // index of the version to roll back to
		prepare  func()
		wantCode string
		wantMsg  string
	}{
		{"paused", 0, func() {
			e.change(Deployment, "paused", "kubectl-rollout", func(o object) { o.(*appsv1.Deployment).Spec.Paused = true })
		}, rewind.ECONFLICT, "The deployment is paused; resume it first."},
		{"gone", 0, func() { e.remove(Deployment, "gone") }, rewind.ENOTFOUND, "The service no longer exists in the cluster."},
		{"same", 1, func() {}, rewind.EINVALID, "The service already runs this version."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := e.target(Deployment, tt.name)
			vs := e.waitVersions(target, 2)
			v := vs[tt.version]
			// The request was made while the rollback was possible.
			expected := e.get(Deployment, tt.name).GetResourceVersion()
			tt.prepare()

			_, err := m.Preflight(e.ctx, target, v)
			if got := rewind.ErrorCode(err); got != tt.wantCode || rewind.ErrorMessage(err) != tt.wantMsg {
				t.Errorf("Preflight error %v (code %q), want %q (code %q)", err, got, tt.wantMsg, tt.wantCode)
			}
			r := e.request(target, v, "alice", "test", expected)
			defer e.finish(r, rewind.StepFailed, "refused")
			outcome, err := m.Execute(e.ctx, r, r.First(), target, v, nil)
			if got := rewind.ErrorCode(err); got != tt.wantCode || !strings.HasPrefix(outcome, tt.wantMsg) || !strings.Contains(outcome, "Nothing was changed.") {
				t.Errorf("Execute outcome %q error code %q, want %q... Nothing was changed. (code %q)", outcome, got, tt.wantMsg, tt.wantCode)
			}
			if tt.name != "gone" {
				if got := image(e.get(Deployment, tt.name)); got != "shop/web:2" {
					t.Errorf("image = %q, want it unchanged at shop/web:2", got)
				}
			}
		})
	}
}

func TestReconcileAfterRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(newWorkload(Deployment, "web", "shop/web:1", 2))
	e.waitRolledOut(Deployment, "web")
	e.setImage(Deployment, "web", "shop/web:2", "kubectl-set")
	e.waitRolledOut(Deployment, "web")
	m := e.start()
	target := e.target(Deployment, "web")
	vs := e.waitVersions(target, 2)

	// Rewind stops right after writing the rollback.
	expected, err := m.Preflight(e.ctx, target, vs[0])
	if err != nil {
		t.Fatal(err)
	}
	r := e.request(target, vs[0], "alice", "errors", expected)
	ctx, cancel := context.WithCancel(e.ctx)
	_, err = m.Execute(ctx, r, r.First(), target, vs[0], func(string) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Execute after its context ended: %v, want context.Canceled", err)
	}
	m.Stop()

	m = e.start()
	state, outcome, err := m.Reconcile(e.ctx, r, r.First(), target, vs[0])
	if err != nil {
		t.Fatal(err)
	}
	if state == rewind.StepRunning {
		t.Logf("reconcile: still running (%s); following", outcome)
		outcome, err = m.Follow(e.ctx, r, r.First(), target, vs[0], nil)
		state = rewind.StepSucceeded
		if err != nil {
			state = rewind.StepFailed
		}
	}
	if state != rewind.StepSucceeded || !strings.HasPrefix(outcome, "Rolled back to revision 1 (now revision 3); 2/2 replicas ready") {
		t.Errorf("reconciled to %s: %q, want succeeded: Rolled back to revision 1 (now revision 3)...", state, outcome)
	}
	vs = e.versions(target)
	if v := vs[len(vs)-1]; len(vs) != 3 || v.Source != rewind.SourceRollback || v.Author != "alice" || v.RequestID != r.ID {
		t.Errorf("versions after the reconciled rollback:\n%s want a 3rd by alice's rollback", describe(vs))
	}
	e.finish(r, state, outcome)

	// A request whose rollback was never written.
	current := e.get(Deployment, "web").GetResourceVersion()
	r2 := e.request(target, vs[1], "bob", "back to 2", current)
	state, outcome, err = m.Reconcile(e.ctx, r2, r2.First(), target, vs[1])
	if err != nil {
		t.Fatal(err)
	}
	if state != rewind.StepFailed || !strings.Contains(outcome, "Rewind stopped before the rollback was applied") || !strings.Contains(outcome, "Nothing was changed.") {
		t.Errorf("reconciled to %s: %q, want failed: Rewind stopped before the rollback was applied ... Nothing was changed.", state, outcome)
	}
}
