package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/rewind"
)

// BenchmarkServicePage10k measures the service page (first page of versions)
// and the compare page of a service with 10,000 recorded versions.
func BenchmarkServicePage10k(b *testing.B) {
	t := &testing.T{}
	ts, store := newTestServer(t)
	defer ts.Close()
	ctx := context.Background()
	env := &rewind.Environment{Name: "prod"}
	if err := store.SaveEnvironment(ctx, env); err != nil {
		b.Fatal(err)
	}
	cl := &rewind.Cluster{Name: "c", EnvironmentID: env.ID, KubeconfigPath: "/dev/null", Namespaces: []string{"shop"}}
	if err := store.SaveCluster(ctx, cl); err != nil {
		b.Fatal(err)
	}
	tg := &rewind.Target{Kind: rewind.KindService, EnvironmentID: env.ID, OwnerID: cl.ID, Namespace: "shop", Workload: "Deployment", Name: "web"}
	if _, err := store.EnsureTarget(ctx, tg); err != nil {
		b.Fatal(err)
	}
	template := strings.Repeat("        - name: FLAG_X\n          value: \"on\"\n", 60)
	for i := 1; i <= 10000; i++ {
		content := fmt.Sprintf("metadata:\n  labels:\n    app: web\nspec:\n  containers:\n  - image: registry.local/web:%d\n    env:\n%s", i, template)
		if _, _, err := store.RecordVersion(ctx, &rewind.Version{TargetID: tg.ID, Revision: fmt.Sprint(i), Content: content, Hash: fmt.Sprint(i),
			Source: rewind.SourceObserved, Author: "kubectl", Images: []rewind.Image{{Container: "app", Image: fmt.Sprintf("registry.local/web:%d", i)}}}); err != nil {
			b.Fatal(err)
		}
	}
	c := newClient(t, ts.URL)
	c.login("vera")
	for _, bc := range []struct{ name, path string }{{"first-page", "/services/%d"}, {"page-150", "/services/%d?page=150"}, {"compare-1-vs-current", "/services/%d/compare?a=1"}} {
		url := fmt.Sprintf(bc.path, tg.ID)
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if code, _ := c.get(url); code != http.StatusOK {
					b.Fatalf("%s: status %d", url, code)
				}
			}
		})
	}
	if t.Failed() {
		b.Fatal("setup failed")
	}
}
