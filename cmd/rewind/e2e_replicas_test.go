package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rewindhq/rewind/internal/postgres"
	"github.com/rewindhq/rewind/internal/postgres/pgtest"
	"github.com/rewindhq/rewind/internal/testenv"
)

// replicaProc is one `rewind serve` replica of a PostgreSQL store, as an
// OS process that a test can kill.
type replicaProc struct {
	name, bin, cfg, addr, dataDir, log, store, key string
	lease                                          time.Duration
	cmd                                            *exec.Cmd
	exited                                         chan error
	URL                                            string
}

// replicaSet is the replicas of one store and what they share.
type replicaSet struct {
	procs []*replicaProc
	store string // postgres:// URL
	key   string // REWIND_SECRET_KEY
}

// newReplicaSet prepares n replicas of a new PostgreSQL store (each with
// its data folder), the users, and config; start runs a replica.
func newReplicaSet(t testing.TB, n int, config string, lease time.Duration, users map[string]string) *replicaSet {
	t.Helper()
	dir := t.TempDir()
	bin := buildRewind(t, dir)
	k := make([]byte, 32)
	rand.Read(k)
	rs := &replicaSet{store: pgtest.NewStore(t), key: base64.StdEncoding.EncodeToString(k)}
	cfg := filepath.Join(dir, "rewind.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		return map[string]string{"REWIND_STORE": rs.store, "REWIND_SECRET_KEY": rs.key}[k]
	}
	for name, role := range users {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"user", "add", name, "--role", role, "--data-dir", filepath.Join(dir, "cli")}, getenv,
			strings.NewReader("password-"+name+"\n"), &out, &out); err != nil {
			t.Fatalf("user add %s: %v\n%s", name, err, out.String())
		}
	}
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := &replicaProc{name: fmt.Sprintf("replica-%d", i+1), bin: bin, cfg: cfg, addr: ln.Addr().String(),
			dataDir: filepath.Join(dir, fmt.Sprintf("data-%d", i+1)), log: filepath.Join(dir, fmt.Sprintf("replica-%d.log", i+1)),
			store: rs.store, key: rs.key, lease: lease}
		ln.Close()
		p.URL = "http://" + p.addr
		rs.procs = append(rs.procs, p)
		t.Cleanup(func() {
			if p.cmd != nil {
				p.cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-p.exited:
				case <-time.After(30 * time.Second):
					p.cmd.Process.Kill()
					t.Errorf("%s did not stop within 30s of SIGTERM", p.name)
				}
			}
			if t.Failed() {
				b, _ := os.ReadFile(p.log)
				t.Logf("%s log:\n%s", p.name, b)
			}
		})
	}
	return rs
}

// start runs the replica and waits until it is ready.
func (p *replicaProc) start(t testing.TB) {
	t.Helper()
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "--- start at %s\n", time.Now().UTC().Format(time.RFC3339Nano))
	p.cmd = exec.Command(p.bin, "serve", "--config", p.cfg, "--addr", p.addr, "--data-dir", p.dataDir, "--rollout-timeout", "2m",
		"--store", p.store, "--leader-election", "store", "--lease-duration", p.lease.String())
	p.cmd.Env = append(os.Environ(), "REWIND_ADMIN_PASSWORD=admin-password-1", "REWIND_SECRET_KEY="+p.key)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	p.exited = exited
	go func() { exited <- p.cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-exited:
			p.cmd = nil
			b, _ := os.ReadFile(p.log)
			t.Fatalf("%s exited: %v\n%s", p.name, err, b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 60s (last: %v)", p.name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill ends the replica with SIGKILL: it records nothing, gives nothing up.
func (p *replicaProc) kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s still runs 10s after SIGKILL", p.name)
	}
	p.cmd = nil
}

// leader returns the replica that says it leads, waiting for one up to
// within; sess is a logged-in session, which every replica accepts.
func (rs *replicaSet) leader(t testing.TB, sess *webSession, within time.Duration) *replicaProc {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var leaders []*replicaProc
		for _, p := range rs.procs {
			if p.cmd == nil {
				continue
			}
			resp, err := sess.c.Get(p.URL + "/readyz")
			if err != nil {
				continue
			}
			var ready struct {
				Leader *bool `json:"leader"`
			}
			err = json.NewDecoder(resp.Body).Decode(&ready)
			resp.Body.Close()
			if err != nil || ready.Leader == nil {
				t.Fatalf("%s: /readyz for a logged-in user says nothing of leading (%v)", p.name, err)
			}
			if *ready.Leader {
				leaders = append(leaders, p)
			}
		}
		if len(leaders) > 1 {
			t.Fatalf("%d replicas lead at once", len(leaders))
		}
		if len(leaders) == 1 {
			return leaders[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no replica leads after %v", within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReplicasFailover runs two, then three `rewind serve` replicas of one
// PostgreSQL store against the test cluster, and kills the leader with
// SIGKILL at random points of 20 rollbacks of services (two waves of ten,
// requested and approved at different replicas): another replica takes
// over within the lease, reconciles, and every request ends succeeded, each
// step started once, each service running what the record says.
func TestReplicasFailover(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d replicas", n), func(t *testing.T) { replicasFailover(t, n) })
	}
}

func replicasFailover(t *testing.T, n int) {
	const services, lease = 10, 3 * time.Second
	seed := time.Now().UnixNano()
	rnd := mrand.New(mrand.NewPCG(uint64(seed), 0))
	t.Logf("kill points drawn with seed %d", seed)

	cluster := testenv.Shared(t)
	ns := cluster.NewNamespace(t)
	cs := kubernetes.NewForConfigOrDie(cluster.RestConfig())
	ctx := context.Background()
	img := func(name, v string) string {
		return fmt.Sprintf("registry.cn-hangzhou.aliyuncs.com/shop-platform/%s:release-2026.12-%s-build.20261207", name, v)
	}
	var names []string
	for i := range services {
		name := fmt.Sprintf("svc-%02d", i)
		names = append(names, name)
		d := deployment(ns, name, img(name, "v1"))
		d.Spec.MinReadySeconds = 3 // a rollout lasts a while, so that kills land in it
		if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range names {
		waitRollout(t, cs, ns, name, img(name, "v1"))
	}
	config := fmt.Sprintf(`environments:
  - name: prod
    required_approvals: 1
clusters:
  - name: test
    environment: prod
    kubeconfig: %s
    context: %s
    namespaces: [%s]
`, cluster.KubeconfigPath, cluster.Context, ns)
	rs := newReplicaSet(t, n, config, lease, map[string]string{"otto": "operator", "anna": "approver"})
	for _, p := range rs.procs {
		p.start(t)
	}
	// A login at one replica holds at every replica (sessions, keys and
	// CSRF tokens are the store's).
	otto, anna := loginSession(t, rs.procs[0].URL, "otto"), loginSession(t, rs.procs[n-1].URL, "anna")
	ottoToken, annaToken := otto.apiToken("ci"), anna.apiToken("ci")
	anna.base = rs.procs[0].URL
	anna.get("/profile")
	leader := rs.leader(t, anna, 30*time.Second)
	t.Logf("%s leads", leader.name)

	// Each service gets a version 2 (v2), seen by the leader's watcher.
	for _, name := range names {
		setDeploymentImage(t, cs, ns, name, img(name, "v2"))
	}
	targets := map[string]int64{}
	for _, name := range names {
		tg := waitTarget(t, rs.procs[0].URL, ottoToken, "services", name, func(r apiTargetRow) bool { return latestImage(r) == img(name, "v2") })
		targets[name] = tg.ID
	}
	for _, name := range names {
		waitRollout(t, cs, ns, name, img(name, "v2"))
	}

	db, err := postgres.Open(rs.store)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var failovers []time.Duration
	for wave, to := range []struct {
		version int
		image   string
	}{{1, "v1"}, {2, "v2"}} {
		var ids []int64
		for i, name := range names {
			at, approver := rs.procs[i%n], rs.procs[(i+1)%n]
			out := mustCLI(t, at.URL, ottoToken, "rollback", strconv.FormatInt(targets[name], 10), "--to", strconv.Itoa(to.version),
				"--reason", fmt.Sprintf("wave %d: 回滚 %s，结账页面报错 (checkout fails after the release)", wave+1, name))
			id, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
			if err != nil {
				t.Fatalf("rollback printed %q", out)
			}
			mustCLI(t, approver.URL, annaToken, "approve", strconv.FormatInt(id, 10), "--comment", "ok")
			ids = append(ids, id)
		}
		// Kill the leader twice at random points of the wave, bringing
		// the killed replica back as a standby each time.
		for kill := range 2 {
			time.Sleep(time.Duration(rnd.Int64N(int64(4 * time.Second))))
			old := rs.leader(t, anna, 30*time.Second)
			killed := time.Now()
			old.kill(t)
			next := rs.leader(t, anna, 4*lease)
			d := time.Since(killed)
			failovers = append(failovers, d)
			t.Logf("wave %d, kill %d: %s killed, %s leads %v later; requests: %s", wave+1, kill+1, old.name, next.name,
				d.Round(10*time.Millisecond), requestStates(t, db, ids))
			old.start(t)
		}
		for _, id := range ids {
			waitRequest(t, rs.procs[rnd.IntN(n)].URL, ottoToken, id, 4*time.Minute)
		}
		for i, id := range ids {
			name := names[i]
			sts := steps(t, db, id)
			var state string
			if err := db.QueryRow(`SELECT state FROM requests WHERE id = ?`, id).Scan(&state); err != nil {
				t.Fatal(err)
			}
			if state != "succeeded" || len(sts) != 1 || sts[0].State != "succeeded" {
				t.Errorf("wave %d, %s: request %d is %s, its step %+v; want succeeded after the failovers", wave+1, name, id, state, sts)
			}
			starts := stepStarts(t, db, id)
			if len(starts) != 1 {
				t.Errorf("wave %d, %s: request %d's steps started %v, want its one step once", wave+1, name, id, starts)
			}
			for step, c := range starts {
				if c != 1 {
					t.Errorf("wave %d, %s: request %d's %s started %d times", wave+1, name, id, step, c)
				}
			}
			if len(sts) == 1 && sts[0].Attempts != 1 {
				t.Errorf("wave %d, %s: step attempted %d times", wave+1, name, sts[0].Attempts)
			}
			// The record matches the cluster.
			if sts[0].State == "succeeded" {
				waitRollout(t, cs, ns, name, img(name, to.image))
			} else if got := deploymentImage(t, cs, ns, name); got == img(name, to.image) {
				t.Errorf("wave %d, %s: the step is recorded %s, yet the service runs %s", wave+1, name, sts[0].State, got)
			}
		}
	}
	t.Logf("failover times with %d replicas, lease %v: %v", n, lease, failovers)
}

// requestStates says in short where the requests stand.
func requestStates(t testing.TB, db *sql.DB, ids []int64) string {
	t.Helper()
	counts := map[string]int{}
	for _, id := range ids {
		var state string
		if err := db.QueryRow(`SELECT state FROM requests WHERE id = ?`, id).Scan(&state); err != nil {
			t.Fatal(err)
		}
		counts[state]++
	}
	return fmt.Sprint(counts)
}

func deploymentImage(t testing.TB, cs kubernetes.Interface, ns, name string) string {
	t.Helper()
	d, err := cs.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

// setDeploymentImage changes a Deployment's image as a pipeline's kubectl would.
func setDeploymentImage(t testing.TB, cs kubernetes.Interface, ns, name, image string) {
	t.Helper()
	ctx := context.Background()
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Image = image
	if _, err := cs.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{FieldManager: "kubectl-set"}); err != nil {
		t.Fatal(err)
	}
}
