package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// One cluster per test binary, started lazily by Shared.
var shared struct {
	sync.Mutex
	main    bool // Main is running
	started bool
	dir     string
	cluster *Cluster
	err     error
	startup time.Duration
}

// Main runs the tests of a package that uses Shared, then stops the shared
// cluster (if a test started it) and exits. Call it from TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// The cluster's folder (logs, kubeconfig) is removed when all tests pass and
// kept, with its path printed, when they fail. Set REWIND_TESTENV_KEEP=1 to
// always keep it.
func Main(m *testing.M) {
	shared.Lock()
	shared.main = true
	shared.Unlock()

	code := m.Run()

	shared.Lock()
	defer shared.Unlock()
	if shared.cluster != nil {
		if err := shared.cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			if code == 0 {
				code = 1
			}
		}
	}
	if shared.dir != "" {
		if code == 0 && os.Getenv("REWIND_TESTENV_KEEP") == "" {
			_ = os.RemoveAll(shared.dir)
		} else {
			fmt.Fprintf(os.Stderr, "testenv: cluster logs and kubeconfig kept in %s\n", shared.dir)
		}
	}
	os.Exit(code)
}

// Shared returns the test binary's shared cluster, starting it on first use.
// The package's TestMain must call Main (which stops it). If the cluster
// cannot start, every test calling Shared fails with the reason.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	shared.Lock()
	defer shared.Unlock()
	if !shared.main {
		t.Fatal("testenv.Shared: the package's TestMain must call testenv.Main(m)")
	}
	if !shared.started {
		shared.started = true
		start := time.Now()
		if _, shared.err = BinDir(); shared.err == nil {
			shared.dir, shared.err = os.MkdirTemp("", "rewind-testenv-")
		}
		if shared.err == nil {
			shared.cluster, shared.err = StartCluster(context.Background(), shared.dir)
		}
		shared.startup = time.Since(start)
		if shared.err == nil {
			t.Logf("testenv: cluster started in %v (dir %s)", shared.startup.Round(time.Millisecond), shared.dir)
		}
	}
	if shared.err != nil {
		t.Fatalf("testenv: starting the shared cluster: %v", shared.err)
	}
	return shared.cluster
}

// NewNamespace creates a namespace with a unique name (prefix: the test
// name), waits for its default service account, and deletes it when the
// test ends (deletion is not awaited).
func (c *Cluster) NewNamespace(t testing.TB) string {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.RestConfig())
	if err != nil {
		t.Fatal(err)
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	name := namespacePrefix(t.Name()) + "-" + hex.EncodeToString(suffix)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("testenv: creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = cs.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	})
	// Pods need the namespace's "default" service account, which the
	// controller-manager creates shortly after the namespace.
	for {
		_, err := cs.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return name
		}
		select {
		case <-ctx.Done():
			t.Fatalf("testenv: no default service account in namespace %s: %v", name, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// namespacePrefix turns a test name into a DNS label prefix.
func namespacePrefix(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > 50 {
		s = strings.TrimRight(s[:50], "-")
	}
	if s == "" {
		s = "test"
	}
	return s
}
