// Package testenv runs a real, throw-away Kubernetes control plane for tests:
// etcd, kube-apiserver, kube-controller-manager and kube-scheduler on
// loopback, with kwok (sigs.k8s.io/kwok) acting as the kubelet of fake
// nodes, so pods become Running/Ready and Deployment rollouts complete.
//
// The binaries are built by internal/testenv/kube/build.sh (make testenv)
// into ${REWIND_TESTENV_CACHE:-$HOME/.cache/rewind-testenv}/<key>/bin, or
// taken from $REWIND_TESTENV_BIN. When they are missing StartCluster returns
// an error (tests fail; they are never skipped).
//
// Use StartCluster/Stop directly, or share one cluster per test package:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		c := testenv.Shared(t)       // started on first use
//		ns := c.NewNamespace(t)      // deleted when the test ends
//		cs := kubernetes.NewForConfigOrDie(c.RestConfig())
//		...
//	}
//
// Failing rollouts: pods whose image contains "bad" or "does-not-exist" stay
// Pending with containers waiting in ImagePullBackOff; images containing
// "crash" run but wait in CrashLoopBackOff. Neither becomes Ready, so a
// Deployment with a small progressDeadlineSeconds gets Progressing=False,
// reason ProgressDeadlineExceeded. See stages/rewind-pod-failures.yaml.
package testenv

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// cacheKey names the cache folder of the binaries; it must match the
// versions in kube/build.sh (see TestCacheKeyMatchesBuildScript).
const cacheKey = "k8s-v1.37.2-etcd-v3.7.0-kwok-v0.8.0"

const (
	// ContextName is the name of the context (and cluster) in the kubeconfig.
	ContextName = "rewind-testenv"
	// NodeName is the fake kwok node the cluster starts with.
	NodeName = "kwok-node-0"

	adminUser   = "rewind-admin"
	serviceCIDR = "10.96.0.0/16"
	serviceIP   = "10.96.0.1"
	podCIDR     = "10.244.0.0/16"

	buildHint = "run `make testenv` (or `internal/testenv/kube/build.sh`)"
)

// kwok's own stages, relative to the stages folder build.sh fills.
var kwokStages = []string{
	"node/fast/node-initialize.yaml",
	"node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
	"pod/fast/pod-ready.yaml",
	"pod/fast/pod-complete.yaml",
	"pod/fast/pod-delete.yaml",
}

//go:embed stages/rewind-pod-failures.yaml
var failureStages []byte

var binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

// Cluster is a running test cluster. All its state and logs live in Dir.
type Cluster struct {
	// Dir holds the etcd data, certificates, kubeconfig and the logs
	// (<component>.log) of the cluster.
	Dir string
	// KubeconfigPath is a kubeconfig with a system:masters token and the
	// cluster CA (TLS is verified).
	KubeconfigPath string
	// Context is the context name in the kubeconfig (ContextName).
	Context string
	// Host is the apiserver URL, https://127.0.0.1:<port>.
	Host string

	caPEM []byte
	token string
	procs []*process // in start order: etcd, apiserver, kcm, scheduler, kwok

	t0      time.Time
	startup bytes.Buffer // phase timings, written to startup.log

	stopOnce sync.Once
	stopErr  error
}

// RestConfig returns a new client config for the cluster (cluster-admin).
func (c *Cluster) RestConfig() *rest.Config {
	return &rest.Config{
		Host:            c.Host,
		BearerToken:     c.token,
		TLSClientConfig: rest.TLSClientConfig{CAData: bytes.Clone(c.caPEM)},
		QPS:             200,
		Burst:           400,
	}
}

// BinDir returns the folder with the cluster binaries: $REWIND_TESTENV_BIN
// or ${REWIND_TESTENV_CACHE:-$HOME/.cache/rewind-testenv}/<key>/bin. It
// returns an error saying how to build them if any is missing.
func BinDir() (string, error) {
	dir := os.Getenv("REWIND_TESTENV_BIN")
	if dir == "" {
		cache := os.Getenv("REWIND_TESTENV_CACHE")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("testenv: no cache folder (%v): set REWIND_TESTENV_CACHE and %s", err, buildHint)
			}
			cache = filepath.Join(home, ".cache", "rewind-testenv")
		}
		dir = filepath.Join(cache, cacheKey, "bin")
	}
	var missing []string
	for _, b := range binaries {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			missing = append(missing, b)
		}
	}
	for _, s := range kwokStages {
		if _, err := os.Stat(filepath.Join(dir, "..", "stages", s)); err != nil {
			missing = append(missing, "stages/"+s)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("testenv: test cluster binaries missing in %s (%s): %s",
			dir, strings.Join(missing, ", "), buildHint)
	}
	return dir, nil
}

// StartCluster starts a cluster with its state in dir (created if needed;
// use a fresh temporary folder) and returns once the apiserver is ready, the
// controller-manager and scheduler are healthy and node NodeName is Ready.
// Ports are free loopback ports. If ctx has no deadline a 2 minute limit
// applies. On failure everything started is stopped again, and the error
// contains the tail of the log of the component that failed.
func StartCluster(ctx context.Context, dir string) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// Free ports are found by listening on :0 and closing; another process
	// may grab one before our component binds it. Retry on such collisions.
	for attempt := 1; ; attempt++ {
		c, err := startCluster(ctx, dir, bin)
		if err == nil || attempt == 3 || ctx.Err() != nil || !strings.Contains(err.Error(), "address already in use") {
			return c, err
		}
	}
}

func startCluster(ctx context.Context, dir, bin string) (c *Cluster, err error) {
	ports, err := freePorts(5)
	if err != nil {
		return nil, err
	}
	etcdPort, etcdPeerPort, apiPort, kcmPort, schedPort := ports[0], ports[1], ports[2], ports[3], ports[4]

	// etcd refuses a data dir of another member; start from scratch.
	if err := os.RemoveAll(filepath.Join(dir, "etcd")); err != nil {
		return nil, err
	}
	p, err := writePKI(dir)
	if err != nil {
		return nil, err
	}
	c = &Cluster{
		Dir:            dir,
		KubeconfigPath: filepath.Join(dir, "kubeconfig"),
		Context:        ContextName,
		Host:           "https://127.0.0.1:" + strconv.Itoa(apiPort),
		caPEM:          p.caPEM,
		token:          p.token,
		t0:             time.Now(),
	}
	if err := c.writeKubeconfig(); err != nil {
		return nil, err
	}
	defer func() {
		_ = os.WriteFile(filepath.Join(dir, "startup.log"), c.startup.Bytes(), 0o644)
		if err != nil {
			_ = c.Stop()
			c = nil
		}
	}()

	// etcd
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(etcdPeerPort)
	etcd, err := c.start(bin, "etcd", nil,
		"--name=default",
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	)
	if err != nil {
		return c, err
	}
	plain := &http.Client{Timeout: 2 * time.Second}
	if err := waitFor(ctx, etcd, nil, func() error {
		return httpOK(plain, etcdURL+"/health", "", `"health":"true"`)
	}); err != nil {
		return c, err
	}
	c.mark("etcd healthy")

	// kube-apiserver
	api, err := c.start(bin, "kube-apiserver", nil,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(apiPort),
		"--cert-dir="+filepath.Join(dir, "apiserver-certs"),
		"--tls-cert-file="+p.tlsCert,
		"--tls-private-key-file="+p.tlsKey,
		"--client-ca-file="+p.caCert,
		"--token-auth-file="+p.tokenFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+p.saPub,
		"--service-account-signing-key-file="+p.saKey,
		"--service-cluster-ip-range="+serviceCIDR,
		// No kubelets/endpoints on loopback: don't reconcile the
		// "kubernetes" service endpoints to 127.0.0.1.
		"--endpoint-reconciler-type=none",
		// Nodes are registered Ready by kwok right away; the not-ready
		// taint would only delay scheduling.
		"--disable-admission-plugins=TaintNodesByCondition",
		"--allow-privileged=true",
		"--profiling=false",
	)
	if err != nil {
		return c, err
	}

	// Controllers, scheduler and kwok start while the apiserver is still
	// bootstrapping (they retry); this overlaps their own start-up.
	kubeconfig := "--kubeconfig=" + c.KubeconfigPath
	kcm, err := c.start(bin, "kube-controller-manager", nil,
		kubeconfig,
		"--authentication-kubeconfig="+c.KubeconfigPath,
		"--authorization-kubeconfig="+c.KubeconfigPath,
		"--authentication-skip-lookup=true",
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(kcmPort),
		"--cert-dir="+filepath.Join(dir, "kcm-certs"),
		"--root-ca-file="+p.caCert,
		"--service-account-private-key-file="+p.saKey,
		"--cluster-signing-cert-file="+p.caCert,
		"--cluster-signing-key-file="+p.caKey,
		"--service-cluster-ip-range="+serviceCIDR,
		"--profiling=false",
	)
	if err != nil {
		return c, err
	}
	sched, err := c.start(bin, "kube-scheduler", nil,
		kubeconfig,
		"--authentication-kubeconfig="+c.KubeconfigPath,
		"--authorization-kubeconfig="+c.KubeconfigPath,
		"--authentication-skip-lookup=true",
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(schedPort),
		"--cert-dir="+filepath.Join(dir, "scheduler-certs"),
		"--profiling=false",
	)
	if err != nil {
		return c, err
	}

	stageDir := filepath.Join(dir, "stages")
	if err := os.MkdirAll(stageDir, 0o755); err != nil {
		return c, err
	}
	stages := make([]string, 0, len(kwokStages)+1)
	for _, s := range kwokStages {
		stages = append(stages, filepath.Join(bin, "..", "stages", s))
	}
	extra := filepath.Join(stageDir, "rewind-pod-failures.yaml")
	if err := os.WriteFile(extra, failureStages, 0o644); err != nil {
		return c, err
	}
	stages = append(stages, extra)
	kwokHome := filepath.Join(dir, "kwok-home") // kwok also reads ~/.kwok/kwok.yaml
	if err := os.MkdirAll(kwokHome, 0o755); err != nil {
		return c, err
	}
	kwok, err := c.start(bin, "kwok", []string{"HOME=" + kwokHome},
		kubeconfig,
		"--config="+strings.Join(stages, ","),
		"--manage-all-nodes=true",
		"--node-lease-duration-seconds=40",
		"--cidr="+podCIDR,
	)
	if err != nil {
		return c, err
	}

	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: certPool(p.caPEM)}},
	}
	if err := waitFor(ctx, api, etcd, func() error {
		return httpOK(client, c.Host+"/readyz", p.token, "")
	}); err != nil {
		return c, err
	}
	client.CloseIdleConnections()
	c.mark("apiserver ready")

	cs, err := kubernetes.NewForConfig(c.RestConfig())
	if err != nil {
		return c, err
	}
	if err := createNode(ctx, cs, NodeName); err != nil {
		return c, err
	}

	insecure := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	if err := waitFor(ctx, kcm, api, func() error {
		return httpOK(insecure, "https://127.0.0.1:"+strconv.Itoa(kcmPort)+"/healthz", "", "")
	}); err != nil {
		return c, err
	}
	c.mark("controller-manager healthy")
	if err := waitFor(ctx, sched, api, func() error {
		return httpOK(insecure, "https://127.0.0.1:"+strconv.Itoa(schedPort)+"/readyz", "", "")
	}); err != nil {
		return c, err
	}
	insecure.CloseIdleConnections()
	c.mark("scheduler ready")
	if err := waitFor(ctx, kwok, api, func() error {
		n, err := cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("node %s not Ready yet", NodeName)
	}); err != nil {
		return c, err
	}
	c.mark("node Ready")
	// Pods in "default" need its service account (made by the
	// controller-manager).
	if err := waitFor(ctx, kcm, api, func() error {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	}); err != nil {
		return c, err
	}
	c.mark("default service account")
	return c, nil
}

// mark records how long start-up took to reach a phase.
func (c *Cluster) mark(phase string) {
	fmt.Fprintf(&c.startup, "%8v %s\n", time.Since(c.t0).Round(time.Millisecond), phase)
}

// Stop stops kwok, the scheduler, the controller-manager, the apiserver and
// etcd, in that order (the apiserver hangs if etcd goes first), and waits
// for each to exit. Each gets 15s after SIGTERM before it is killed. Stop
// may be called more than once; it returns an error if a component had to
// be killed. Dir is left in place.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		var errs []error
		for i := len(c.procs) - 1; i >= 0; i-- {
			if err := c.procs[i].stop(15 * time.Second); err != nil {
				errs = append(errs, err)
			}
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

func (c *Cluster) writeKubeconfig() error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[ContextName] = &clientcmdapi.Cluster{
		Server:                   c.Host,
		CertificateAuthorityData: c.caPEM,
	}
	cfg.AuthInfos[adminUser] = &clientcmdapi.AuthInfo{Token: c.token}
	cfg.Contexts[ContextName] = &clientcmdapi.Context{Cluster: ContextName, AuthInfo: adminUser}
	cfg.CurrentContext = ContextName
	return clientcmd.WriteToFile(*cfg, c.KubeconfigPath)
}

func createNode(ctx context.Context, cs kubernetes.Interface, name string) error {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Annotations: map[string]string{
				"node.alpha.kubernetes.io/ttl": "0",
				"kwok.x-k8s.io/node":           "fake",
			},
			Labels: map[string]string{
				"kubernetes.io/arch":     "amd64",
				"kubernetes.io/hostname": name,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/role":     "agent",
				"type":                   "kwok",
			},
		},
	}
	_, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// process is one running component.
type process struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // exit status, valid after done
}

func (c *Cluster) start(bin, name string, env []string, args ...string) (*process, error) {
	logPath := filepath.Join(c.Dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(filepath.Join(bin, name), args...)
	cmd.Dir = c.Dir
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.Env = append(os.Environ(), env...)
	// Kill the component if the test binary dies without calling Stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testenv: starting %s: %w", name, err)
	}
	p := &process{name: name, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	c.procs = append(c.procs, p)
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) stop(grace time.Duration) error {
	if p.exited() {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("testenv: %s did not exit %v after SIGTERM; killed", p.name, grace)
	}
}

// waitFor polls check until it succeeds. It fails early if p (or dep, a
// component p depends on) exits, and when ctx ends; the error then holds
// the tail of p's log (and dep's, if dep died).
func waitFor(ctx context.Context, p, dep *process, check func() error) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = check(); last == nil {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("testenv: %s exited (%v) during startup; tail of %s:\n%s", p.name, p.err, p.log, tail(p.log))
		}
		if dep != nil && dep.exited() {
			return fmt.Errorf("testenv: %s exited (%v) while starting %s; tail of %s:\n%s", dep.name, dep.err, p.name, dep.log, tail(dep.log))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testenv: %s not ready: %v (last check: %v); tail of %s:\n%s", p.name, ctx.Err(), last, p.log, tail(p.log))
		case <-tick.C:
		}
	}
}

// tail returns the last lines of a log file.
func tail(path string) string {
	const maxBytes, maxLines = 16 << 10, 40
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > maxBytes {
		_, _ = f.Seek(-maxBytes, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	return strings.Join(lines, "\n")
}

func httpOK(client *http.Client, url, token, want string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	if want != "" && !bytes.Contains(body, []byte(want)) {
		return fmt.Errorf("GET %s: %s", url, bytes.TrimSpace(body))
	}
	return nil
}

func certPool(caPEM []byte) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return pool
}

// freePorts returns n distinct free TCP ports on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
