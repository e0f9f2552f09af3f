package kube

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/testenv"
)

// chartAccess gives Rewind in namespace ns the access the Helm chart
// grants, and nothing more: it renders deploy/helm/rewind (its
// ServiceAccount, and the Role and RoleBinding of a watched namespace)
// with helm, applies them to the test cluster, and returns a kubeconfig
// that acts as that ServiceAccount. Every test of this package thus runs
// Rewind under the chart's least-privilege RBAC.
func chartAccess(t *testing.T, c *testenv.Cluster, ns, dir string) string {
	t.Helper()
	helm, err := testenv.Tool("helm")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, helm, "template", "rewind", filepath.Join("..", "..", "deploy", "helm", "rewind"),
		"--namespace", ns, "--set", "cluster.namespaces={"+ns+"}",
		"--show-only", "templates/serviceaccount.yaml", "--show-only", "templates/rbac.yaml").Output()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, stderr(err))
	}
	if _, err := testenv.Apply(ctx, c.RestConfig(), out, ns); err != nil {
		t.Fatalf("apply the chart's RBAC: %v\n%s", err, out)
	}
	path := filepath.Join(dir, "rewind-sa.kubeconfig")
	if err := c.WriteServiceAccountKubeconfig(ctx, ns, "rewind", path); err != nil {
		t.Fatal(err)
	}
	return path
}

func stderr(err error) []byte {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.Stderr
	}
	return nil
}
