package kube

import (
	"context"
	"errors"
	"log/slog"
	"testing"

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
