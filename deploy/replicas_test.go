package deploy

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	rl "k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/rewindhq/rewind/internal/replicas"
	"github.com/rewindhq/rewind/internal/secret"
	"github.com/rewindhq/rewind/internal/testenv"
)

// replicaValues turn the chart to several replicas on PostgreSQL.
var replicaValues = []string{"--set", "postgres.enabled=true", "--set", "postgres.urlSecret=rewind-store", "--set", "backup.enabled=true"}

// TestRenderedReplicas checks the chart's replica mode: replicaCount
// replicas rolled one by one, the store's URL and the sealing key from
// Secrets, the Lease election, no PVC and no SQLite backup.
func TestRenderedReplicas(t *testing.T) {
	helm(t, append([]string{"lint", "--strict", chart}, replicaValues...)...)
	objs, _ := render(t, "rewind", replicaValues...)
	var dep appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(get(t, objs, "Deployment /rewind").Object, &dep); err != nil {
		t.Fatal(err)
	}
	if *dep.Spec.Replicas != 3 || dep.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
		t.Errorf("replicas %d, strategy %s; want 3 rolled", *dep.Spec.Replicas, dep.Spec.Strategy.Type)
	}
	env := map[string]string{}
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = "secret:" + e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			env[e.Name] = "field:" + e.ValueFrom.FieldRef.FieldPath
		default:
			env[e.Name] = e.Value
		}
	}
	for k, want := range map[string]string{
		"REWIND_STORE":           "secret:rewind-store/url",
		"REWIND_SECRET_KEY_FILE": "/etc/rewind/secret/secret.key",
		"REWIND_LEADER_ELECTION": "kubernetes",
		"REWIND_LEASE_NAME":      "rewind-leader",
		"POD_NAMESPACE":          "field:metadata.namespace",
	} {
		if env[k] != want {
			t.Errorf("env %s = %q, want %q", k, env[k], want)
		}
	}
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.Name == "data" && (v.EmptyDir == nil || v.PersistentVolumeClaim != nil) {
			t.Errorf("the data folder of a replica is %+v, want an emptyDir", v.VolumeSource)
		}
		if v.Name == "secret-key" && (v.Secret == nil || v.Secret.SecretName != "rewind-secret-key") {
			t.Errorf("secret key volume = %+v", v.VolumeSource)
		}
	}
	if !*dep.Spec.Template.Spec.AutomountServiceAccountToken {
		t.Error("no service account token: the replicas cannot take the Lease")
	}
	for key := range objs {
		if strings.HasPrefix(key, "PersistentVolumeClaim ") || strings.HasPrefix(key, "CronJob ") {
			t.Errorf("%s rendered with a PostgreSQL store", key)
		}
	}
	raw, _ := field(t, get(t, objs, "Secret /rewind-secret-key"), "data", "secret.key").(string)
	b, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := secret.ParseKey(b); err != nil || len(k) != secret.KeySize {
		t.Errorf("the chart's secret key does not parse: %v", err)
	}
	var role rbacv1.Role
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(get(t, objs, "Role /rewind-leader").Object, &role); err != nil {
		t.Fatal(err)
	}
	named := false
	for _, r := range role.Rules {
		if slices.Equal(r.APIGroups, []string{"coordination.k8s.io"}) && slices.Equal(r.ResourceNames, []string{"rewind-leader"}) {
			named = slices.Equal(r.Verbs, []string{"get", "update"})
		}
	}
	if !named {
		t.Errorf("the Role does not grant get and update of the Lease rewind-leader only: %+v", role.Rules)
	}

	// Without the store's URL, the chart says what is missing.
	out, err := exec.Command(helmBin(t), "template", "rewind", chart, "--set", "postgres.enabled=true").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "postgres.urlSecret") {
		t.Errorf("replicas without a store URL: %v\n%s", err, out)
	}
}

// TestReplicasLeaseOnAPIServer applies the replica mode to the test
// apiserver and runs two leader elections with the chart's ServiceAccount:
// its rights suffice to take and hand over the Lease, and no more.
func TestReplicasLeaseOnAPIServer(t *testing.T) {
	c := testenv.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	release := c.NewNamespace(t)
	_, manifests := render(t, release, append(replicaValues, "--set", "cluster.namespaces={"+release+"}")...)
	if _, err := testenv.Apply(ctx, c.RestConfig(), manifests, release); err != nil {
		t.Fatalf("the apiserver refuses the chart: %v", err)
	}
	saCfg, err := c.ServiceAccountConfig(ctx, release, "rewind")
	if err != nil {
		t.Fatal(err)
	}
	sa := kubernetes.NewForConfigOrDie(saCfg)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	events := make(chan string, 4)
	cancels := map[string]context.CancelFunc{}
	var wg sync.WaitGroup
	for _, id := range []string{"pod-a", "pod-b"} {
		lock, err := rl.New(rl.LeasesResourceLock, release, "rewind-leader", sa.CoreV1(), sa.CoordinationV1(), rl.ResourceLockConfig{Identity: id})
		if err != nil {
			t.Fatal(err)
		}
		e := &replicas.Elector{Lock: lock, LeaseDuration: 2 * time.Second, Log: log}
		ectx, ecancel := context.WithCancel(ctx)
		cancels[id] = ecancel
		wg.Go(func() {
			e.Run(ectx, func(lctx context.Context) {
				events <- id
				<-lctx.Done()
			})
		})
	}
	defer func() {
		for _, c := range cancels {
			c()
		}
		wg.Wait()
	}()
	first := <-events
	cancels[first]() // stops and gives the Lease up
	select {
	case second := <-events:
		if second == first {
			t.Fatalf("%s leads again", first)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the other replica never took the Lease over")
	}
	if _, err := sa.CoordinationV1().Leases(release).Get(ctx, "someone-else", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("read of another Lease: got %v, want forbidden", err)
	}
	if _, err := sa.CoreV1().Secrets(release).Get(ctx, "rewind-secret-key", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("read of the secret key through the API: got %v, want forbidden (it is mounted)", err)
	}
}

func helmBin(t *testing.T) string {
	t.Helper()
	bin, err := testenv.Tool("helm")
	if err != nil {
		t.Fatal(err)
	}
	return bin
}
