package testenv_test

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/rewindhq/rewind/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestCluster starts and stops its own cluster, rolls a Deployment out, then
// makes a rollout fail with a "bad" image.
func TestCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	start := time.Now()
	c, err := testenv.StartCluster(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster started in %v", time.Since(start).Round(time.Millisecond))
	stopped := false
	defer func() {
		if !stopped {
			_ = c.Stop()
		}
	}()

	// The kubeconfig works and verifies the apiserver certificate.
	kc, err := clientcmd.BuildConfigFromFlags("", c.KubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := clientcmd.LoadFromFile(c.KubeconfigPath)
	if err != nil || raw.CurrentContext != c.Context {
		t.Fatalf("kubeconfig context = %q, %v; want %q", raw.CurrentContext, err, c.Context)
	}
	cs := kubernetes.NewForConfigOrDie(kc)
	ver, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("server version %s", ver.GitVersion)

	ns := c.NewNamespace(t)
	d := deployment("web", "registry.example/web:v1", 2)
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rolled := time.Now()
	waitDeployment(ctx, t, cs, ns, "web", func(d *appsv1.Deployment) bool {
		return rolloutComplete(d)
	})
	t.Logf("rollout of v1 complete in %v", time.Since(rolled).Round(time.Millisecond))

	// Roll out a bad image: pods wait in ImagePullBackOff, the deadline
	// (10s) passes, and the old ReplicaSet keeps serving.
	dep, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dep.Spec.Template.Spec.Containers[0].Image = "registry.example/web:bad"
	if _, err := cs.AppsV1().Deployments(ns).Update(ctx, dep, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	rolled = time.Now()
	final := waitDeployment(ctx, t, cs, ns, "web", func(d *appsv1.Deployment) bool {
		cond := progressing(d)
		return cond != nil && cond.Status == corev1.ConditionFalse && cond.Reason == "ProgressDeadlineExceeded"
	})
	t.Logf("bad rollout: ProgressDeadlineExceeded after %v; replicas=%d updated=%d ready=%d available=%d",
		time.Since(rolled).Round(time.Millisecond), final.Status.Replicas, final.Status.UpdatedReplicas,
		final.Status.ReadyReplicas, final.Status.AvailableReplicas)
	if final.Status.AvailableReplicas < 1 {
		t.Errorf("old ReplicaSet should still be available: %+v", final.Status)
	}

	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var bad *corev1.Pod
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Spec.Containers[0].Image == "registry.example/web:bad" {
			bad = p
		}
	}
	if bad == nil {
		t.Fatal("no pod with the bad image")
	}
	if got := waitingReason(bad); got != "ImagePullBackOff" || bad.Status.Phase != corev1.PodPending {
		t.Fatalf("bad pod: phase %s, waiting reason %q; want Pending, ImagePullBackOff", bad.Status.Phase, got)
	}
	// The failure stage must not keep rewriting the pod.
	time.Sleep(2 * time.Second)
	again, err := cs.CoreV1().Pods(ns).Get(ctx, bad.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.ResourceVersion != bad.ResourceVersion {
		t.Errorf("bad pod keeps changing: resourceVersion %s -> %s", bad.ResourceVersion, again.ResourceVersion)
	}

	start = time.Now()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	t.Logf("cluster stopped in %v", time.Since(start).Round(time.Millisecond))
}

// TestShared uses the package's shared cluster: crash-looping images, and
// StatefulSet/DaemonSet ControllerRevisions.
func TestShared(t *testing.T) {
	c := testenv.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs := kubernetes.NewForConfigOrDie(c.RestConfig())
	ns := c.NewNamespace(t)

	d := deployment("crashy", "registry.example/app:crash", 1)
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	poll(ctx, t, "crash-looping pod", func() (bool, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=crashy"})
		if err != nil || len(pods.Items) == 0 {
			return false, err
		}
		pod = pods.Items[0]
		return waitingReason(&pod) == "CrashLoopBackOff", nil
	})
	if pod.Status.Phase != corev1.PodRunning || pod.Status.ContainerStatuses[0].Ready {
		t.Errorf("crash pod: phase %s, ready %v; want Running, not ready", pod.Status.Phase, pod.Status.ContainerStatuses[0].Ready)
	}

	labels := map[string]string{"app": "db"}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{
			Replicas: new(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: podTemplate(labels, "registry.example/db:v1"),
		},
	}
	if _, err := cs.AppsV1().StatefulSets(ns).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	labels = map[string]string{"app": "agent"}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: podTemplate(labels, "registry.example/agent:v1"),
		},
	}
	if _, err := cs.AppsV1().DaemonSets(ns).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(ctx, t, "StatefulSet and DaemonSet ready", func() (bool, error) {
		s, err := cs.AppsV1().StatefulSets(ns).Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		d, err := cs.AppsV1().DaemonSets(ns).Get(ctx, "agent", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return s.Status.ReadyReplicas == 2 && s.Status.UpdatedReplicas == 2 &&
			d.Status.DesiredNumberScheduled == 1 && d.Status.NumberReady == 1, nil
	})
	revs, err := cs.AppsV1().ControllerRevisions(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(revs.Items) != 2 {
		t.Errorf("got %d ControllerRevisions, want 2 (StatefulSet, DaemonSet)", len(revs.Items))
	}
}

func deployment(name, image string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas:                new(replicas),
			ProgressDeadlineSeconds: new(int32(10)),
			Selector:                &metav1.LabelSelector{MatchLabels: labels},
			Template:                podTemplate(labels, image),
		},
	}
}

func podTemplate(labels map[string]string, image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "main", Image: image}},
		},
	}
}

func rolloutComplete(d *appsv1.Deployment) bool {
	want := *d.Spec.Replicas
	cond := progressing(d)
	return d.Status.ObservedGeneration >= d.Generation &&
		d.Status.UpdatedReplicas == want && d.Status.Replicas == want &&
		d.Status.ReadyReplicas == want && d.Status.AvailableReplicas == want &&
		cond != nil && cond.Status == corev1.ConditionTrue && cond.Reason == "NewReplicaSetAvailable"
}

func progressing(d *appsv1.Deployment) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == appsv1.DeploymentProgressing {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

func waitingReason(p *corev1.Pod) string {
	for _, s := range p.Status.ContainerStatuses {
		if s.State.Waiting != nil {
			return s.State.Waiting.Reason
		}
	}
	return ""
}

func waitDeployment(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string, done func(*appsv1.Deployment) bool) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	poll(ctx, t, "deployment "+name, func() (bool, error) {
		var err error
		d, err = cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && done(d), err
	})
	return d
}

func poll(ctx context.Context, t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return cond()
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}
