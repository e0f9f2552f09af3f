package kube

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/rewindhq/rewind/internal/rewind"
)

func TestStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(newWorkload(Deployment, "web", "shop/web:1", 2))
	e.waitRolledOut(Deployment, "web")
	m := e.start()
	target := e.target(Deployment, "web")

	var st *RolloutStatus
	e.eventually("status with events", func() bool {
		var err error
		if st, err = m.Status(e.ctx, target); err != nil {
			t.Fatal(err)
		}
		return len(st.Events) > 0
	})
	if st.Phase != PhaseComplete || st.Desired != 2 || st.Updated != 2 || st.Ready != 2 || st.Available != 2 {
		t.Errorf("status = %+v, want complete with 2 of 2 updated, ready and available", st)
	}
	if st.Revision != "1" || st.Generation != st.ObservedGeneration || len(st.Images) != 1 || st.Images[0].Image != "shop/web:1" {
		t.Errorf("status = %+v, want revision 1, generation observed, image shop/web:1", st)
	}
	available := false
	for _, c := range st.Conditions {
		available = available || c.Type == "Available" && c.Status == "True"
	}
	if !available {
		t.Errorf("conditions %+v lack Available=True", st.Conditions)
	}
	for i, ev := range st.Events {
		if i > 0 && ev.Time.After(st.Events[i-1].Time) {
			t.Errorf("events not newest first: %+v", st.Events)
		}
		if !strings.HasPrefix(ev.Object, "Deployment/web") && !strings.HasPrefix(ev.Object, "ReplicaSet/web-") && !strings.HasPrefix(ev.Object, "Pod/web-") {
			t.Errorf("event about %s, which is not part of web", ev.Object)
		}
	}

	// Paused.
	e.change(Deployment, "web", "kubectl-rollout", func(o object) { o.(*appsv1.Deployment).Spec.Paused = true })
	e.eventually("status paused", func() bool {
		st, err := m.Status(e.ctx, target)
		return err == nil && st.Phase == PhasePaused
	})

	// Gone.
	e.remove(Deployment, "web")
	e.eventually("status of a deleted service", func() bool {
		_, err := m.Status(e.ctx, target)
		return rewind.ErrorCode(err) == rewind.ENOTFOUND
	})
}

func TestHealth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.start()
	kubeconfig, err := os.ReadFile(e.test.KubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	const token = "tok-very-secret-0042"
	unreachable := strings.Join([]string{
		"apiVersion: v1", "kind: Config",
		"clusters:", "- name: far", "  cluster:", "    server: https://127.0.0.1:1", "    insecure-skip-tls-verify: true",
		"users:", "- name: u", "  user:", "    token: " + token,
		"contexts:", "- name: far", "  context: {cluster: far, user: u}",
		"current-context: far", "",
	}, "\n")
	tests := []struct {
		name    string
		cluster rewind.Cluster
		wantAdd bool // AddCluster fails
		healthy bool
	}{
		{"pasted", rewind.Cluster{ID: 101, Name: "pasted", Kubeconfig: kubeconfig, Context: e.test.Context}, false, true},
		{"unreachable", rewind.Cluster{ID: 102, Name: "unreachable", Kubeconfig: []byte(unreachable)}, false, false},
		{"missing kubeconfig", rewind.Cluster{ID: 103, Name: "missing", KubeconfigPath: "/nonexistent/kubeconfig"}, true, false},
		{"unknown context", rewind.Cluster{ID: 104, Name: "nocontext", KubeconfigPath: e.test.KubeconfigPath, Context: "nope"}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cluster
			c.EnvironmentID, c.Namespaces = e.cluster.EnvironmentID, []string{e.ns}
			err := m.AddCluster(&c)
			defer m.RemoveCluster(c.ID)
			if (err != nil) != tt.wantAdd {
				t.Fatalf("AddCluster error = %v, want error %v", err, tt.wantAdd)
			}
			var health error
			deadline := time.Now().Add(30 * time.Second)
			for {
				ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
				hs := m.Health(ctx)
				cancel()
				got, ok := hs[c.Name]
				if !ok {
					t.Fatalf("Health has no entry for %s: %v", c.Name, hs)
				}
				health = got
				if health == nil || !tt.healthy || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if (health == nil) != tt.healthy {
				t.Errorf("Health = %v, want healthy %v", health, tt.healthy)
			}
			if health != nil && strings.Contains(health.Error(), token) {
				t.Errorf("Health error shows the token: %v", health)
			}
			if health != nil && rewind.ErrorMessage(health) == "Internal error." {
				t.Errorf("Health error %v has no message for users", health)
			}
			if err := m.Health(e.ctx)[e.cluster.Name]; err != nil {
				t.Errorf("the test's own cluster is unhealthy: %v", err)
			}
		})
	}
}
