package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/rewindhq/rewind/internal/rewind"
)

func TestImportHistory(t *testing.T) {
	for _, kind := range []string{Deployment, StatefulSet, DaemonSet} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.create(newWorkload(kind, "web", "shop/web:1", 2))
			e.waitRolledOut(kind, "web")
			for _, img := range []string{"shop/web:2", "shop/web:3"} {
				e.setImage(kind, "web", img, "kubectl-set")
				e.waitRolledOut(kind, "web")
			}

			e.start()
			target := e.target(kind, "web")
			if target.Workload != kind || target.EnvironmentID != e.cluster.EnvironmentID || target.Kind != rewind.KindService {
				t.Errorf("target = %+v, want a %s service in environment %d", target, kind, e.cluster.EnvironmentID)
			}
			vs := e.versions(target)
			if len(vs) != 3 {
				t.Fatalf("got %d versions, want 3:\n%s", len(vs), describe(vs))
			}
			for i, v := range vs {
				if got, want := v.Source, rewind.SourceImported; got != want {
					t.Errorf("version %d source = %q, want %q", v.Number, got, want)
				}
				if got, want := v.Revision, strconv.Itoa(i+1); got != want {
					t.Errorf("version %d revision = %q, want %q", v.Number, got, want)
				}
				if got, want := lastImage(v), "shop/web:"+strconv.Itoa(i+1); got != want {
					t.Errorf("version %d image = %q, want %q", v.Number, got, want)
				}
				sum := sha256.Sum256([]byte(v.Content))
				if got, want := v.Hash, hex.EncodeToString(sum[:]); got != want {
					t.Errorf("version %d hash = %s, want sha256 of its content %s", v.Number, got, want)
				}
				for _, absent := range []string{"pod-template-hash", "$patch", "managedFields"} {
					if strings.Contains(v.Content, absent) {
						t.Errorf("version %d content holds %q:\n%s", v.Number, absent, v.Content)
					}
				}
			}
			// The current version's author is the last to change the template.
			if got, want := vs[2].Author, "kubectl-set"; got != want {
				t.Errorf("current version author = %q, want %q", got, want)
			}
			// What the cluster runs hashes like the imported current version.
			if _, hash, _ := Normalize(templateOf(e.get(kind, "web"))); hash != vs[2].Hash {
				t.Errorf("live template hash %s, want the imported current version's %s", hash, vs[2].Hash)
			}
		})
	}
}

func TestRecordChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(newWorkload(Deployment, "web", "shop/web:1", 1))
	e.waitRolledOut(Deployment, "web")
	m := e.start()
	target := e.target(Deployment, "web")
	e.waitVersions(target, 1)

	// A kubectl-like change with a change-cause.
	e.change(Deployment, "web", "kubectl-edit", func(o object) {
		templateOf(o).Spec.Containers[0].Image = "shop/web:2"
		o.GetAnnotations()[AnnotationChangeCause] = "bump to 2"
	})
	vs := e.waitVersions(target, 2)
	v := vs[1]
	if v.Source != rewind.SourceObserved || v.Author != "kubectl-edit" || v.Revision != "2" || lastImage(v) != "shop/web:2" || v.ChangeCause != "bump to 2" {
		t.Errorf("observed version = %s change cause %q, want observed, by kubectl-edit, revision 2, image shop/web:2, cause %q",
			describe(vs[1:]), v.ChangeCause, "bump to 2")
	}
	e.waitRolledOut(Deployment, "web")

	// Scaling does not change the pod template: no version.
	e.change(Deployment, "web", "hpa", func(o object) {
		n := int32(2)
		o.(*appsv1.Deployment).Spec.Replicas = &n
	})
	e.waitRolledOut(Deployment, "web")

	// Restarting adds nothing that is already recorded.
	m.Stop()
	m = e.start()
	if vs := e.versions(target); len(vs) != 2 {
		t.Fatalf("after a restart: %d versions, want 2:\n%s", len(vs), describe(vs))
	}

	// A change made while Rewind is down is recorded on start.
	m.Stop()
	e.setImage(Deployment, "web", "shop/web:3", "ci-deployer")
	e.waitRolledOut(Deployment, "web")
	e.start()
	vs = e.versions(target)
	if len(vs) != 3 {
		t.Fatalf("after a change while down: %d versions, want 3:\n%s", len(vs), describe(vs))
	}
	if v := vs[2]; v.Source != rewind.SourceObserved || v.Author != "ci-deployer" || v.Revision != "3" || lastImage(v) != "shop/web:3" {
		t.Errorf("version made while down = %s, want observed, by ci-deployer, revision 3, image shop/web:3", describe(vs[2:]))
	}
}

func TestDeletedWorkloads(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(newWorkload(Deployment, "live", "shop/web:1", 1))
	e.create(newWorkload(StatefulSet, "down", "shop/db:1", 1))
	e.waitRolledOut(Deployment, "live")
	e.waitRolledOut(StatefulSet, "down")
	m := e.start()
	live, down := e.target(Deployment, "live"), e.target(StatefulSet, "down")

	// Deleted while watched.
	e.remove(Deployment, "live")
	e.eventually("live marked deleted", func() bool {
		got, err := e.store.Target(e.ctx, live.ID)
		return err == nil && got.DeletedAt != nil
	})

	// Deleted while Rewind was down. (The first list of a restarted watch
	// may come from the API server's cache and still hold it for a moment.)
	m.Stop()
	e.remove(StatefulSet, "down")
	e.start()
	e.eventually("down marked deleted", func() bool {
		got, err := e.store.Target(e.ctx, down.ID)
		return err == nil && got.DeletedAt != nil
	})
}
