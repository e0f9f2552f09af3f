package kube

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/releases"
	"github.com/rewindhq/rewind/internal/rewind"
)

// fakeReleases records what the watcher tells it.
type fakeReleases struct {
	got []string
	err error
}

func (f *fakeReleases) Recorded(_ context.Context, _ *rewind.Target, v *rewind.Version, annotation string) (int64, error) {
	f.got = append(f.got, annotation)
	return 7, f.err
}

func TestAttachToRelease(t *testing.T) {
	tmpl := podTemplate("web", "shop/web:2")
	tmpl.Annotations = map[string]string{rewind.AnnotationRelease: "shop/1.4.2"}
	content, _, err := Normalize(&tmpl)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseTemplate(content)
	if err != nil || back.Annotations[rewind.AnnotationRelease] != "shop/1.4.2" {
		t.Fatalf("the annotation does not survive normalisation: %v, %v", back, err)
	}
	tg := &rewind.Target{ID: 1, Kind: rewind.KindService, Namespace: "shop", Workload: Deployment, Name: "web"}
	v := &rewind.Version{ID: 2, TargetID: 1, Number: 2}
	for _, tt := range []struct {
		name     string
		releases *fakeReleases
	}{
		{"off", nil},
		{"attached", &fakeReleases{}},
		{"failing", &fakeReleases{err: errors.New("store down")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := &Manager{}
			if tt.releases != nil {
				m.Releases = tt.releases
			}
			w := &watcher{m: m, log: slog.New(slog.DiscardHandler)}
			w.attachToRelease(context.Background(), tg, v, tmpl.Annotations[rewind.AnnotationRelease])
			if tt.releases != nil && (len(tt.releases.got) != 1 || tt.releases.got[0] != "shop/1.4.2") {
				t.Errorf("told %v, want the annotation once", tt.releases.got)
			}
		})
	}
}

// On the real cluster: a pod template annotated rewind.dev/release joins
// the release it names, even after the release's window closed, with no
// API call.
func TestAnnotationJoinsRelease(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const img = "registry.cn-hangzhou.aliyuncs.com/shop-prod/checkout-api:1.4.1-20261130-3c9d0e1f2a3b4c5d6e7f8091a2b3"
	e.create(newWorkload(Deployment, "api", img, 1))
	e.waitRolledOut(Deployment, "api")
	e.start(func(m *Manager) { m.Releases = releases.New(e.store) })
	tg := e.target(Deployment, "api")
	e.waitVersions(tg, 1)
	w := &rewind.Workflow{Name: "shop-backend", EnvironmentID: tg.EnvironmentID, TargetIDs: []int64{tg.ID}, CreatedBy: "adam"}
	if err := e.store.SaveWorkflow(e.ctx, w, rewind.AuditEvent{Actor: "adam", Action: rewind.ActionWorkflowChange}); err != nil {
		t.Fatal(err)
	}
	// Kubernetes keeps change times in whole seconds, so a release counts
	// the second it starts in; start it in the next one.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	rel := &rewind.Release{WorkflowID: w.ID, Name: "1.4.2", StartedBy: "token:ci"}
	if err := e.store.StartRelease(e.ctx, rel, rewind.AuditEvent{Actor: "token:ci", Action: rewind.ActionReleaseStart}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.FinishRelease(e.ctx, rel.ID, rewind.ReleaseSucceeded, "", nil, rewind.AuditEvent{Actor: "token:ci", Action: rewind.ActionReleaseFinish}); err != nil {
		t.Fatal(err)
	}
	e.change(Deployment, "api", "deploy-bot", func(o object) {
		tmpl := templateOf(o)
		tmpl.Annotations = map[string]string{rewind.AnnotationRelease: "shop-backend/1.4.2"}
		tmpl.Spec.Containers[0].Image = strings.Replace(img, "1.4.1", "1.4.2", 1)
	})
	vs := e.waitVersions(tg, 2)
	deadline := time.Now().Add(time.Minute)
	for {
		r, err := e.store.Release(e.ctx, rel.ID)
		if err == nil && len(r.Items) == 1 && r.Items[0].VersionID == vs[1].ID && r.Items[0].How == rewind.ItemAnnotation {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("release 1.4.2's items = %+v (%v), want version %d by its annotation", r.Items, err, vs[1].ID)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
