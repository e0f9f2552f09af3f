package plans_test

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/dbchange"
	"github.com/rewindhq/rewind/internal/plans"
	"github.com/rewindhq/rewind/internal/releases"
	"github.com/rewindhq/rewind/internal/requests"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/rollback"
	"github.com/rewindhq/rewind/internal/secret"
	"github.com/rewindhq/rewind/internal/sqlite"
)

var (
	otto = requests.Actor{User: rewind.User{Username: "otto", Role: rewind.RoleOperator}}
	anna = requests.Actor{User: rewind.User{Username: "anna", Role: rewind.RoleApprover}}
)

const reason = "春季大促后订单支付失败率升高，回滚整个发布"

// system stands for the live Kubernetes cluster and Nacos server behind the
// service and config targets, as planner and executor of both kinds: what a
// target holds now is its latest recorded version (a config deleted by a
// step holds a version with an empty hash). It reads and writes only the
// store. The real planners (internal/kube, internal/configs) need a cluster
// and Nacos; they are tested against those elsewhere.
type system struct {
	store *sqlite.Store
	mu    sync.Mutex
	fail  map[int64]string // target ID → why its next step fails
}

func (s *system) PlanStep(ctx context.Context, t *rewind.Target, g rewind.Goal) (*rewind.StepPlan, error) {
	p := &rewind.StepPlan{To: g.To}
	live, err := s.store.LatestVersion(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	if g.Absent || (t.Kind == rewind.KindConfig && g.To.Hash == "") {
		if t.Kind == rewind.KindService {
			p.Blocked = "The release created this workload. Rewind never deletes a workload; delete it by hand if it must go."
			return p, nil
		}
		if live.Hash == "" {
			p.AlreadyThere = true
			return p, nil
		}
		payload, err := rewind.ConfigRestore{Action: rewind.ConfigDelete}.Encode()
		if err != nil {
			return nil, err
		}
		p.Step = rewind.Step{TargetID: t.ID, VersionID: g.To.ID, Expected: live.Hash, Payload: payload, Detail: "delete " + t.Label()}
		p.Confirm = t.Name
		return p, nil
	}
	if live.Hash == g.To.Hash {
		p.AlreadyThere = true
		return p, nil
	}
	p.Step = rewind.Step{TargetID: t.ID, VersionID: g.To.ID, Expected: live.Hash, Detail: fmt.Sprintf("bring %s back to version %d", t.Label(), g.To.Number)}
	return p, nil
}

func (s *system) Execute(ctx context.Context, r *rewind.Request, st *rewind.Step, t *rewind.Target, v *rewind.Version, _ func(string)) (string, error) {
	s.mu.Lock()
	why := s.fail[t.ID]
	delete(s.fail, t.ID)
	s.mu.Unlock()
	if why != "" {
		return "Nothing was changed.", rewind.Errorf(rewind.ECONFLICT, "%s", why)
	}
	live, err := s.store.LatestVersion(ctx, t.ID)
	if err != nil {
		return "Nothing was changed.", err
	}
	if live.Hash != st.Expected {
		return "Nothing was changed.", rewind.Errorf(rewind.ECONFLICT, "%s changed since the plan was made.", t.Label())
	}
	nv := &rewind.Version{TargetID: t.ID, Content: v.Content, Hash: v.Hash, Images: v.Images, Source: rewind.SourceRollback, RequestID: r.ID, Author: r.Requester}
	if rs, err := rewind.ParseConfigRestore(st.Payload); err == nil && rs.Action == rewind.ConfigDelete {
		nv.Content, nv.Hash, nv.Images = "", "", nil
	}
	stored, _, err := s.store.RecordVersion(ctx, nv)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Version %d.", stored.Number), nil
}

// Reconcile says a step found running succeeded when its target holds
// the version the step made.
func (s *system) Reconcile(ctx context.Context, r *rewind.Request, _ *rewind.Step, t *rewind.Target, v *rewind.Version) (rewind.StepState, string, error) {
	live, err := s.store.LatestVersion(ctx, t.ID)
	if err != nil {
		return "", "", err
	}
	if v != nil && live.Hash == v.Hash && live.RequestID == r.ID {
		return rewind.StepSucceeded, fmt.Sprintf("Version %d.", live.Number), nil
	}
	return rewind.StepFailed, "The target does not hold the version of the step.", nil
}

func (s *system) failNext(id int64, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[id] = why
}

// waker forwards wakes to the runner once one runs.
type waker struct {
	mu sync.Mutex
	r  *rollback.Runner
}

func (w *waker) Wake() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.r != nil {
		w.r.Wake()
	}
}

// world is a real store with environment prod (one approval), workflow
// 商城后端 releasing services api, worker and notifier, configs shop.yaml,
// pay.properties and coupon.yaml, and a real SQLite database shop; and
// release 1 "1.4.2 春季大促", which changed api, worker, shop.yaml and
// pay.properties, created notifier and coupon.yaml, and ran two SQL
// changes. pay.properties was put back by hand after the release.
type world struct {
	t      *testing.T
	ctx    context.Context
	store  *sqlite.Store
	env    *rewind.Environment
	wf     *rewind.Workflow
	sys    *system
	sqlSvc *dbchange.Service
	req    *requests.Service
	plans  *plans.Service
	waker  *waker
	raw    *sql.DB

	api, worker, notifier, shop, pay, coupon, db *rewind.Target
	before                                       map[int64]*rewind.Version // each target's version before release 1
	r1                                           *rewind.Release
	sql1, sql2                                   *rewind.Version
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	box, err := secret.NewBox(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "rewind.db"), box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	w := &world{t: t, ctx: ctx, store: store, sys: &system{store: store, fail: map[int64]string{}}, waker: &waker{}, before: map[int64]*rewind.Version{}}
	w.env = &rewind.Environment{Name: "prod", RequiredApprovals: 1}
	if err := store.SaveEnvironment(ctx, w.env); err != nil {
		t.Fatal(err)
	}
	svc := func(name string) *rewind.Target {
		return &rewind.Target{Kind: rewind.KindService, EnvironmentID: w.env.ID, OwnerID: 1, Namespace: "shop", Workload: "Deployment", Name: name}
	}
	cfg := func(name string) *rewind.Target {
		return &rewind.Target{Kind: rewind.KindConfig, EnvironmentID: w.env.ID, OwnerID: 1, Namespace: "public", Group: "SHOP", Name: name}
	}
	w.api, w.worker, w.notifier = svc("api"), svc("worker"), svc("notifier")
	w.shop, w.pay, w.coupon = cfg("shop.yaml"), cfg("pay.properties"), cfg("coupon.yaml")
	for _, tg := range []*rewind.Target{w.api, w.worker, w.notifier, w.shop, w.pay, w.coupon} {
		if _, err := store.EnsureTarget(ctx, tg); err != nil {
			t.Fatal(err)
		}
	}

	dbFile := filepath.Join(t.TempDir(), "shop.db")
	w.raw, err = sql.Open("sqlite", dbFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.raw.Close() })
	for _, q := range []string{
		`CREATE TABLE orders (id INTEGER PRIMARY KEY, buyer TEXT NOT NULL, state TEXT NOT NULL)`,
		`INSERT INTO orders VALUES (1, '张伟', '待支付'), (2, '李娜', '已支付'), (3, '王芳', '待支付')`,
	} {
		if _, err := w.raw.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	d := &rewind.Database{Name: "shop", EnvironmentID: w.env.ID, Engine: rewind.EngineSQLite, DSN: dbFile}
	if err := store.SaveDatabase(ctx, d); err != nil {
		t.Fatal(err)
	}
	if w.db, err = store.DatabaseTarget(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	w.sqlSvc = dbchange.New(store, dbchange.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(func() { w.sqlSvc.Close() })

	w.req = requests.New(store, w.waker)
	planners := map[rewind.TargetKind]rewind.Planner{rewind.KindService: w.sys, rewind.KindConfig: w.sys, rewind.KindDatabase: w.sqlSvc}
	w.plans = plans.New(store, planners, releases.New(store), w.req)

	// Before the workflow and its first release.
	old := time.Now().UTC().Add(-2 * time.Hour)
	for _, tg := range []*rewind.Target{w.api, w.worker} {
		w.before[tg.ID] = w.service(tg, "1.4.1", old)
	}
	w.before[w.shop.ID] = w.config(w.shop, "order:\n  timeout: 30s\n  提示: 订单超时请重试\n", old)
	w.before[w.pay.ID] = w.config(w.pay, "pay.channel=alipay\npay.retry=3\n", old)

	w.wf = &rewind.Workflow{Name: "商城后端", EnvironmentID: w.env.ID, CreatedBy: "anna",
		TargetIDs: []int64{w.api.ID, w.worker.ID, w.notifier.ID, w.shop.ID, w.pay.ID, w.coupon.ID, w.db.ID}}
	if err := store.SaveWorkflow(ctx, w.wf, rewind.AuditEvent{Actor: "anna", Action: rewind.ActionWorkflowChange}); err != nil {
		t.Fatal(err)
	}

	w.r1 = w.release("1.4.2 春季大促", func() {
		w.service(w.api, "1.4.2", time.Time{})
		w.service(w.worker, "1.4.2", time.Time{})
		w.service(w.notifier, "1.0.0", time.Time{})
		w.config(w.shop, "order:\n  timeout: 10s\n  提示: 大促期间请尽快支付\n", time.Time{})
		w.config(w.pay, "pay.channel=wechat\npay.retry=1\n", time.Time{})
		w.config(w.coupon, "coupon:\n  名称: 春季满减\n  门槛: 299\n", time.Time{})
		w.sql1 = w.runSQL(`UPDATE orders SET state = '已取消' WHERE state = '待支付'`, 0)
		w.sql2 = w.runSQL(`INSERT INTO orders VALUES (4, '赵磊', '待支付')`, 0)
	})
	// Someone put pay.properties back by hand after the release.
	w.config(w.pay, "pay.channel=alipay\npay.retry=3\n", time.Time{})
	return w
}

// image is a realistic 90-character image reference.
func image(name, tag string) string {
	const digest = "8f3a9c1d2b7e4f60a5c3d9e1b2f4a6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0"
	s := "registry.cn-shanghai.aliyuncs.com/shop-backend/" + name + ":" + tag + "-g"
	return s + digest[:90-len(s)]
}

// service records a version of service tg running tag, made at at (now
// when zero).
func (w *world) service(tg *rewind.Target, tag string, at time.Time) *rewind.Version {
	w.t.Helper()
	img := image(tg.Name, tag)
	if len(img) != 90 {
		w.t.Fatalf("image %q has %d characters", img, len(img))
	}
	content := "spec:\n  containers:\n  - name: " + tg.Name + "\n    image: " + img + "\n"
	sum := sha256.Sum256([]byte(content))
	return w.record(&rewind.Version{TargetID: tg.ID, Content: content, Hash: hex.EncodeToString(sum[:]), Source: rewind.SourceObserved,
		Images: []rewind.Image{{Container: tg.Name, Image: img}}, CreatedAt: at})
}

// config records a version of config tg holding content.
func (w *world) config(tg *rewind.Target, content string, at time.Time) *rewind.Version {
	w.t.Helper()
	sum := md5.Sum([]byte(content))
	return w.record(&rewind.Version{TargetID: tg.ID, Content: content, Hash: hex.EncodeToString(sum[:]), Source: rewind.SourceObserved, CreatedAt: at})
}

func (w *world) record(v *rewind.Version) *rewind.Version {
	w.t.Helper()
	got, added, err := w.store.RecordVersion(w.ctx, v)
	if err != nil || !added {
		w.t.Fatalf("record version of target %d: added %v, %v", v.TargetID, added, err)
	}
	return got
}

// release records a release of the workflow during which deploy runs.
func (w *world) release(name string, deploy func()) *rewind.Release {
	w.t.Helper()
	r := &rewind.Release{WorkflowID: w.wf.ID, Name: name, Commit: "9f1c2e4", URL: "https://ci.example.com/shop/runs/" + name, StartedBy: "ci"}
	if err := w.store.StartRelease(w.ctx, r, rewind.AuditEvent{Actor: "ci", Action: rewind.ActionReleaseStart}); err != nil {
		w.t.Fatal(err)
	}
	deploy()
	done, err := w.store.FinishRelease(w.ctx, r.ID, rewind.ReleaseSucceeded, "", nil, rewind.AuditEvent{Actor: "ci", Action: rewind.ActionReleaseFinish})
	if err != nil {
		w.t.Fatal(err)
	}
	return done
}

// runSQL runs a SQL change on database shop, through the runner when it
// runs, else as the runner would (the change belongs to release rel when
// not 0), and returns the version it made.
func (w *world) runSQL(q string, rel int64) *rewind.Version {
	w.t.Helper()
	ctx := w.ctx
	payload, err := rewind.SQLRequest{Kind: rewind.SQLKindChange, SQL: q}.Encode()
	if err != nil {
		w.t.Fatal(err)
	}
	w.waker.mu.Lock()
	running := w.waker.r != nil
	w.waker.mu.Unlock()
	if running {
		r, err := w.req.Create(ctx, otto, requests.NewRequest{Kind: rewind.RequestChange, ReleaseID: rel, Reason: "大促数据修正",
			Steps: []requests.NewStep{{Target: w.db, Payload: payload, Detail: "SQL change"}}})
		if err != nil {
			w.t.Fatal(err)
		}
		if _, err := w.req.Decide(ctx, anna, r.ID, true, ""); err != nil {
			w.t.Fatal(err)
		}
		if r = w.wait(r.ID, rewind.StateSucceeded, rewind.StateFailed); r.State != rewind.StateSucceeded {
			w.t.Fatalf("run %q: %s (%s)", q, r.State, r.Outcome)
		}
		v, err := w.store.Version(ctx, r.First().ResultVersionID)
		if err != nil {
			w.t.Fatal(err)
		}
		return v
	}
	r := &rewind.Request{Kind: rewind.RequestChange, ReleaseID: rel, Requester: "otto", Reason: "大促数据修正",
		Steps: []rewind.Step{{TargetID: w.db.ID, Payload: payload, Detail: "SQL change"}}}
	if err := w.store.CreateRequest(ctx, r, rewind.AuditEvent{Actor: "otto", Action: rewind.ActionRequest}); err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.store.Move(ctx, r.ID, []rewind.State{rewind.StateApproved}, rewind.StateRunning, "", nil); err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.store.MoveStep(ctx, r.First().ID, []rewind.StepState{rewind.StepWaiting}, rewind.StepRunning, "", nil); err != nil {
		w.t.Fatal(err)
	}
	if r, err = w.store.Request(ctx, r.ID); err != nil {
		w.t.Fatal(err)
	}
	out, err := w.sqlSvc.Execute(ctx, r, r.First(), w.db, nil, func(string) {})
	if err != nil {
		w.t.Fatalf("run %q: %v (%s)", q, err, out)
	}
	if _, err := w.store.MoveStep(ctx, r.First().ID, []rewind.StepState{rewind.StepRunning}, rewind.StepSucceeded, out, nil); err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.store.Move(ctx, r.ID, []rewind.State{rewind.StateRunning}, rewind.StateSucceeded, out, nil); err != nil {
		w.t.Fatal(err)
	}
	if r, err = w.store.Request(ctx, r.ID); err != nil {
		w.t.Fatal(err)
	}
	v, err := w.store.Version(ctx, r.First().ResultVersionID)
	if err != nil {
		w.t.Fatalf("version of SQL change %q: %v", q, err)
	}
	return v
}

// orders dumps table orders of database shop.
func (w *world) orders() []string {
	w.t.Helper()
	rows, err := w.raw.QueryContext(w.ctx, `SELECT id || ' ' || buyer || ' ' || state FROM orders ORDER BY id`)
	if err != nil {
		w.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			w.t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// startRunner runs the real runner, with the test system for services and
// configs and the real dbchange executor for SQL, until the test ends.
func (w *world) startRunner() {
	run := rollback.NewRunner(w.store, map[rewind.TargetKind]rewind.Executor{
		rewind.KindService: w.sys, rewind.KindConfig: w.sys, rewind.KindDatabase: w.sqlSvc,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(w.ctx)
	done := make(chan struct{})
	go func() { run.Run(ctx); close(done) }()
	w.t.Cleanup(func() { cancel(); <-done })
	w.waker.mu.Lock()
	w.waker.r = run
	w.waker.mu.Unlock()
	run.Wake()
}

// wait polls request id until it is in one of states, or fails the test
// after a deadline.
func (w *world) wait(id int64, states ...rewind.State) *rewind.Request {
	w.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := w.store.Request(w.ctx, id)
		if err != nil {
			w.t.Fatal(err)
		}
		if slices.Contains(states, r.State) {
			return r
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("request %d is %s (%s), want one of %v", id, r.State, r.Outcome, states)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *world) plan(id, to int64) *plans.Plan {
	w.t.Helper()
	p, err := w.plans.ReleaseRollback(w.ctx, otto, id, to)
	if err != nil {
		w.t.Fatalf("plan rollback of release %d: %v", id, err)
	}
	return p
}

func tkey(t *rewind.Target) string    { return "t" + strconv.FormatInt(t.ID, 10) }
func sqlkey(v *rewind.Version) string { return "sql" + strconv.FormatInt(v.ID, 10) }

// stepOf returns the step of p named key.
func stepOf(t *testing.T, p *plans.Plan, key string) plans.Step {
	t.Helper()
	for _, st := range p.Steps {
		if st.Key == key {
			return st
		}
	}
	t.Fatalf("plan has no step %s", key)
	return plans.Step{}
}

func keys(p *plans.Plan) []string {
	var out []string
	for _, st := range p.Steps {
		out = append(out, st.Key)
	}
	return out
}

// runnable are the keys of the steps of p that can run, in order.
func runnable(p *plans.Plan) []string {
	var out []string
	for _, st := range p.Steps {
		if st.Runnable() {
			out = append(out, st.Key)
		}
	}
	return out
}

// runPlan submits the steps keys of p (confirming deletions by data ID),
// has anna approve them, and waits for the plan to end; the runner runs.
func (w *world) runPlan(p *plans.Plan, keys ...string) *rewind.Request {
	w.t.Helper()
	confirm := map[string]string{}
	for _, st := range p.Steps {
		confirm[st.Key] = st.Confirm
	}
	r, err := w.plans.Submit(w.ctx, otto, p, plans.Choice{Keys: keys, Confirm: confirm, Reason: reason, SeenHash: p.Hash})
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.req.Decide(w.ctx, anna, r.ID, true, "同意"); err != nil {
		w.t.Fatal(err)
	}
	return w.wait(r.ID, rewind.StateSucceeded, rewind.StateFailed)
}

func TestReleaseRollbackPlan(t *testing.T) {
	w := newWorld(t)
	p := w.plan(w.r1.ID, 0)

	want := []string{tkey(w.notifier), tkey(w.worker), tkey(w.api), tkey(w.coupon), tkey(w.pay), tkey(w.shop), sqlkey(w.sql2), sqlkey(w.sql1)}
	if got := keys(p); !slices.Equal(got, want) {
		t.Fatalf("steps = %v, want %v (services, configs, then SQL, each the reverse of the release)", got, want)
	}
	if p.To != nil || p.Hash == "" || len(p.Warnings) != 0 {
		t.Errorf("to %v, hash %q, warnings %v; want nil, a hash, none", p.To, p.Hash, p.Warnings)
	}
	for _, tc := range []struct {
		key          string
		to           int64 // version ID the step brings back or undoes
		alreadyThere bool
		blocked      bool
		confirm      string
	}{
		{tkey(w.api), w.before[w.api.ID].ID, false, false, ""},
		{tkey(w.worker), w.before[w.worker.ID].ID, false, false, ""},
		{tkey(w.notifier), 0, false, true, ""},
		{tkey(w.shop), w.before[w.shop.ID].ID, false, false, ""},
		{tkey(w.pay), w.before[w.pay.ID].ID, true, false, ""},
		{tkey(w.coupon), 0, false, false, "coupon.yaml"},
		{sqlkey(w.sql2), w.sql2.ID, false, false, ""},
		{sqlkey(w.sql1), w.sql1.ID, false, false, ""},
	} {
		t.Run(tc.key, func(t *testing.T) {
			st := stepOf(t, p, tc.key)
			if tc.to != 0 && st.To.ID != tc.to {
				t.Errorf("to version %d (#%d), want %d", st.To.ID, st.To.Number, tc.to)
			}
			if st.AlreadyThere != tc.alreadyThere || (st.Blocked != "") != tc.blocked || st.Confirm != tc.confirm {
				t.Errorf("already there %v, blocked %q, confirm %q; want %v, %v, %q", st.AlreadyThere, st.Blocked, st.Confirm, tc.alreadyThere, tc.blocked, tc.confirm)
			}
			if st.Runnable() && st.Target.Kind != rewind.KindDatabase {
				cur, err := w.store.LatestVersion(w.ctx, st.Target.ID)
				if err != nil {
					t.Fatal(err)
				}
				if st.Current == nil || st.Current.ID != cur.ID || st.Step.BaseVersionID != cur.ID || st.Step.Expected != cur.Hash {
					t.Errorf("current %v, base %d, expected %q; want version %d, hash %q", st.Current, st.Step.BaseVersionID, st.Step.Expected, cur.ID, cur.Hash)
				}
			}
		})
	}
	// The config the release created: its step deletes what the release made.
	if st := stepOf(t, p, tkey(w.coupon)); st.To.TargetID != w.coupon.ID || st.To.Number != 1 {
		t.Errorf("coupon.yaml step to %+v, want its version 1", st.To)
	}
	// The SQL steps carry the generated rollback SQL of their change.
	for _, v := range []*rewind.Version{w.sql1, w.sql2} {
		st := stepOf(t, p, sqlkey(v))
		q, err := rewind.ParseSQLRequest(st.Step.Payload)
		if err != nil || q.Kind != rewind.SQLKindRollback || q.OfVersion != v.ID || !q.Generated || q.SQL == "" {
			t.Errorf("step %s payload %+v (%v), want generated rollback SQL of version %d", st.Key, q, err, v.ID)
		}
	}
	if st := stepOf(t, p, sqlkey(w.sql1)); st.Rows != 2 {
		t.Errorf("SQL change 1 saved %d rows, want 2", st.Rows)
	}
}

func TestReleaseRollbackRefuses(t *testing.T) {
	w := newWorld(t)
	open := &rewind.Release{WorkflowID: w.wf.ID, Name: "1.4.3 未完成", StartedBy: "ci"}
	if err := w.store.StartRelease(w.ctx, open, rewind.AuditEvent{Actor: "ci", Action: rewind.ActionReleaseStart}); err != nil {
		t.Fatal(err)
	}
	other := &rewind.Workflow{Name: "支付", EnvironmentID: w.env.ID, CreatedBy: "anna", TargetIDs: []int64{w.pay.ID}}
	if err := w.store.SaveWorkflow(w.ctx, other, rewind.AuditEvent{Actor: "anna", Action: rewind.ActionWorkflowChange}); err != nil {
		t.Fatal(err)
	}
	pay := &rewind.Release{WorkflowID: other.ID, Name: "0.9 支付", StartedBy: "ci"}
	if err := w.store.StartRelease(w.ctx, pay, rewind.AuditEvent{Actor: "ci", Action: rewind.ActionReleaseStart}); err != nil {
		t.Fatal(err)
	}
	elsewhere := requests.Actor{User: rewind.User{Username: "token:ci", Role: rewind.RoleOperator}, Token: "ci", Environments: []int64{w.env.ID + 1}}
	for _, tc := range []struct {
		name     string
		actor    requests.Actor
		id, to   int64
		wantCode string
	}{
		{"an open release", otto, open.ID, 0, rewind.ECONFLICT},
		{"to itself", otto, w.r1.ID, w.r1.ID, rewind.EINVALID},
		{"to a later release", otto, w.r1.ID, open.ID, rewind.EINVALID},
		{"to a release of another workflow", otto, w.r1.ID, pay.ID, rewind.EINVALID},
		{"unknown release", otto, w.r1.ID + 100, 0, rewind.ENOTFOUND},
		{"token bound to another environment", elsewhere, w.r1.ID, 0, rewind.ENOTFOUND},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.plans.ReleaseRollback(w.ctx, tc.actor, tc.id, tc.to)
			if got := rewind.ErrorCode(err); got != tc.wantCode {
				t.Errorf("code = %q (%v), want %q", got, err, tc.wantCode)
			}
		})
	}
}

func TestSubmitRefuses(t *testing.T) {
	w := newWorld(t)
	p := w.plan(w.r1.ID, 0)
	confirm := map[string]string{tkey(w.coupon): "coupon.yaml"}
	for _, tc := range []struct {
		name     string
		ch       plans.Choice
		wantCode string
	}{
		{"plan changed since shown", plans.Choice{Keys: []string{tkey(w.api)}, Reason: reason, SeenHash: "x" + p.Hash[1:]}, rewind.ECONFLICT},
		{"unknown key", plans.Choice{Keys: []string{tkey(w.api), "t999999"}, Reason: reason, SeenHash: p.Hash}, rewind.EINVALID},
		{"key twice", plans.Choice{Keys: []string{tkey(w.api), tkey(w.worker), tkey(w.api)}, Reason: reason, SeenHash: p.Hash}, rewind.EINVALID},
		{"already there", plans.Choice{Keys: []string{tkey(w.api), tkey(w.pay)}, Reason: reason, SeenHash: p.Hash}, rewind.EINVALID},
		{"service the release created", plans.Choice{Keys: []string{tkey(w.notifier)}, Reason: reason, SeenHash: p.Hash}, rewind.EINVALID},
		{"config deletion unconfirmed", plans.Choice{Keys: []string{tkey(w.coupon)}, Reason: reason, SeenHash: p.Hash}, rewind.EINVALID},
		{"config deletion mistyped", plans.Choice{Keys: []string{tkey(w.coupon)}, Confirm: map[string]string{tkey(w.coupon): "coupon.yml"}, Reason: reason, SeenHash: p.Hash}, rewind.EINVALID},
		{"nothing ticked", plans.Choice{Reason: reason, SeenHash: p.Hash}, rewind.EINVALID},
		{"no reason", plans.Choice{Keys: []string{tkey(w.api)}, Confirm: confirm, Reason: "  ", SeenHash: p.Hash}, rewind.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.plans.Submit(w.ctx, otto, p, tc.ch)
			if got := rewind.ErrorCode(err); got != tc.wantCode {
				t.Fatalf("code = %q (%v), want %q", got, err, tc.wantCode)
			}
		})
	}
	reqs, err := w.store.Requests(w.ctx, sqlite.RequestFilter{States: []rewind.State{rewind.StatePending, rewind.StateApproved}})
	if err != nil || len(reqs) != 0 {
		t.Errorf("open requests after refusals = %d (%v), want 0", len(reqs), err)
	}

	// A target changed since the plan was shown: the plan built again at
	// submission has another hash, and the one shown is refused.
	w.service(w.api, "1.4.2-hotfix", time.Time{})
	again := w.plan(w.r1.ID, 0)
	if again.Hash == p.Hash {
		t.Fatal("plan hash did not change with the target")
	}
	_, err = w.plans.Submit(w.ctx, otto, again, plans.Choice{Keys: []string{tkey(w.api)}, Reason: reason, SeenHash: p.Hash})
	if got := rewind.ErrorCode(err); got != rewind.ECONFLICT {
		t.Errorf("submit of the plan shown before the change: code = %q (%v), want %q", got, err, rewind.ECONFLICT)
	}
}

func TestSubmit(t *testing.T) {
	w := newWorld(t)
	p := w.plan(w.r1.ID, 0)
	// The requester runs the SQL first, leaves worker out, and deletes coupon.yaml.
	chosen := []string{sqlkey(w.sql2), sqlkey(w.sql1), tkey(w.shop), tkey(w.coupon), tkey(w.api)}
	r, err := w.plans.Submit(w.ctx, otto, p, plans.Choice{Keys: chosen, Confirm: map[string]string{tkey(w.coupon): " coupon.yaml "}, Reason: reason, SeenHash: p.Hash})
	if err != nil {
		t.Fatal(err)
	}
	r, err = w.store.Request(w.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != rewind.RequestRollback || r.ReleaseID != w.r1.ID || r.ToReleaseID != 0 || r.State != rewind.StatePending ||
		r.RequiredApprovals != 1 || r.Requester != "otto" || r.Reason != reason || r.EnvironmentID != w.env.ID {
		t.Errorf("request = kind %s, release %d→%d, %s, %d approvals, by %s, reason %q; want rollback, %d→0, pending, 1, otto, %q",
			r.Kind, r.ReleaseID, r.ToReleaseID, r.State, r.RequiredApprovals, r.Requester, r.Reason, w.r1.ID, reason)
	}
	type step struct {
		target, version, base int64
	}
	var got []step
	for _, st := range r.Steps {
		got = append(got, step{st.TargetID, st.VersionID, st.BaseVersionID})
	}
	latest := func(tg *rewind.Target) int64 {
		v, err := w.store.LatestVersion(w.ctx, tg.ID)
		if err != nil {
			t.Fatal(err)
		}
		return v.ID
	}
	want := []step{
		{w.db.ID, 0, 0},
		{w.db.ID, 0, 0},
		{w.shop.ID, w.before[w.shop.ID].ID, latest(w.shop)},
		{w.coupon.ID, stepOf(t, p, tkey(w.coupon)).To.ID, latest(w.coupon)},
		{w.api.ID, w.before[w.api.ID].ID, latest(w.api)},
	}
	if !slices.Equal(got, want) {
		t.Errorf("steps (target, version, base) = %v, want %v", got, want)
	}
	for i, v := range []*rewind.Version{w.sql2, w.sql1} {
		q, err := rewind.ParseSQLRequest(r.Steps[i].Payload)
		if err != nil || q.OfVersion != v.ID {
			t.Errorf("step %d undoes version %d (%v), want %d", i+1, q.OfVersion, err, v.ID)
		}
	}
	evs, _, err := w.store.Audit(w.ctx, rewind.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var detail string
	for _, ev := range evs {
		if ev.RequestID == r.ID && ev.Action == rewind.ActionRequest {
			detail = ev.Detail
		}
	}
	for _, part := range []string{"roll back release 商城后端/1.4.2 春季大促 (5 steps)", "left out by the requester: shop/deployment/worker", reason} {
		if !strings.Contains(detail, part) {
			t.Errorf("audit detail %q lacks %q", detail, part)
		}
	}

	// While the request is open, a new plan shows its SQL steps blocked,
	// and a plan on its targets is refused.
	p = w.plan(w.r1.ID, 0)
	if st := stepOf(t, p, sqlkey(w.sql2)); !strings.Contains(st.Blocked, fmt.Sprintf("Request #%d, pending", r.ID)) {
		t.Errorf("SQL step while request %d is open: blocked %q", r.ID, st.Blocked)
	}
	_, err = w.plans.Submit(w.ctx, otto, p, plans.Choice{Keys: []string{tkey(w.api)}, Reason: reason, SeenHash: p.Hash})
	if got := rewind.ErrorCode(err); got != rewind.ECONFLICT {
		t.Errorf("second plan on a target of an open request: code %q (%v), want %q", got, err, rewind.ECONFLICT)
	}
}

func TestSubmitTypedSQL(t *testing.T) {
	w := newWorld(t)
	p := w.plan(w.r1.ID, 0)
	typed := `DELETE FROM orders WHERE id = 4`
	r, err := w.plans.Submit(w.ctx, otto, p, plans.Choice{Keys: []string{sqlkey(w.sql2)}, SQL: map[string]string{sqlkey(w.sql2): typed}, Reason: reason, SeenHash: p.Hash})
	if err != nil {
		t.Fatal(err)
	}
	q, err := rewind.ParseSQLRequest(r.Steps[0].Payload)
	if err != nil || q.SQL != typed || q.Generated || q.OfVersion != w.sql2.ID || q.Kind != rewind.SQLKindRollback {
		t.Errorf("payload %+v (%v), want typed rollback SQL of version %d", q, err, w.sql2.ID)
	}
}

func TestRollbackToEarlierRelease(t *testing.T) {
	w := newWorld(t)
	var sql3, sql4 *rewind.Version
	r2 := w.release("1.4.3 修复优惠券", func() {
		w.service(w.api, "1.4.3", time.Time{})
		w.config(w.shop, "order:\n  timeout: 15s\n  提示: 订单超时请重试\n", time.Time{})
		sql3 = w.runSQL(`UPDATE orders SET buyer = '刘洋' WHERE id = 2`, 0)
	})
	r3 := w.release("1.4.4 支付改版", func() {
		w.service(w.api, "1.4.4", time.Time{})
		w.service(w.worker, "1.4.4", time.Time{})
		w.config(w.shop, "order:\n  timeout: 20s\n", time.Time{})
		w.config(w.pay, "pay.channel=unionpay\npay.retry=2\n", time.Time{})
		sql4 = w.runSQL(`DELETE FROM orders WHERE id = 1`, 0)
	})
	// At release 1's end api, worker, shop.yaml and pay.properties were at
	// their version 2; pay.properties was put back by hand (its version 3)
	// after release 1 ended, which a rollback to release 1 undoes too.
	atR1 := map[int64]*rewind.Version{}
	for _, tg := range []*rewind.Target{w.api, w.worker, w.shop, w.pay} {
		v, err := w.store.VersionByNumber(w.ctx, tg.ID, 2)
		if err != nil {
			t.Fatal(err)
		}
		atR1[tg.ID] = v
	}

	p := w.plan(r3.ID, w.r1.ID)
	if p.To == nil || p.To.ID != w.r1.ID || p.Release.Release.ID != r3.ID {
		t.Fatalf("plan of %d to %v, want %d to %d", p.Release.Release.ID, p.To, r3.ID, w.r1.ID)
	}
	want := []string{tkey(w.worker), tkey(w.api), tkey(w.pay), tkey(w.shop), sqlkey(sql4), sqlkey(sql3)}
	if got := keys(p); !slices.Equal(got, want) {
		t.Fatalf("steps = %v, want %v (targets touched after release 1 in the reverse order, services then configs, then their SQL newest first)", got, want)
	}
	for _, tg := range []*rewind.Target{w.api, w.worker, w.shop, w.pay} {
		st := stepOf(t, p, tkey(tg))
		if st.To.ID != atR1[tg.ID].ID || !st.Runnable() {
			t.Errorf("%s back to version %d, runnable %v; want its version at release 1's end, %d", tg.Label(), st.To.Number, st.Runnable(), atR1[tg.ID].Number)
		}
	}

	r, err := w.plans.Submit(w.ctx, otto, p, plans.Choice{Keys: runnable(p), Reason: reason, SeenHash: p.Hash})
	if err != nil {
		t.Fatal(err)
	}
	if r.ReleaseID != r3.ID || r.ToReleaseID != w.r1.ID || len(r.Steps) != 6 {
		t.Errorf("request rolls back %d to %d in %d steps, want %d to %d in 6", r.ReleaseID, r.ToReleaseID, len(r.Steps), r3.ID, w.r1.ID)
	}
	if _, err := w.req.Decide(w.ctx, anna, r.ID, true, "同意回滚到 1.4.2"); err != nil {
		t.Fatal(err)
	}
	w.startRunner()
	w.wait(r.ID, rewind.StateSucceeded)
	for _, tg := range []*rewind.Target{w.api, w.worker, w.shop, w.pay} {
		cur, err := w.store.LatestVersion(w.ctx, tg.ID)
		if err != nil {
			t.Fatal(err)
		}
		if cur.Hash != atR1[tg.ID].Hash {
			t.Errorf("%s holds %q, want its state at release 1's end", tg.Label(), cur.Content)
		}
	}
	wantOrders := []string{"1 张伟 已取消", "2 李娜 已支付", "3 王芳 已取消", "4 赵磊 待支付"}
	if got := w.orders(); !slices.Equal(got, wantOrders) {
		t.Errorf("orders = %v, want %v (as at release 1's end)", got, wantOrders)
	}
	for _, rel := range []*rewind.Release{r2, r3} {
		got, err := w.store.Release(w.ctx, rel.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.RolledBackBy != r.ID {
			t.Errorf("release %s rolled back by %d, want %d", rel.Name, got.RolledBackBy, r.ID)
		}
	}
	if got, _ := w.store.Release(w.ctx, w.r1.ID); got.RolledBackBy != 0 {
		t.Errorf("release 1 rolled back by %d, want 0: it is the one returned to", got.RolledBackBy)
	}
	made, err := w.store.ReleaseByName(w.ctx, w.wf.ID, "rollback of 1.4.4 支付改版 to 1.4.2 春季大促")
	if err != nil {
		t.Fatalf("rollback release: %v", err)
	}
	if made.RollbackOf != r3.ID || made.RequestID != r.ID || made.State != rewind.ReleaseSucceeded || len(made.Items) != 6 {
		t.Errorf("rollback release: of %d, request %d, %s, %d items; want of %d, %d, succeeded, 6", made.RollbackOf, made.RequestID, made.State, len(made.Items), r3.ID, r.ID)
	}
}

func TestApprovalBindsToPlan(t *testing.T) {
	bob := requests.Actor{User: rewind.User{Username: "bob", Role: rewind.RoleApprover}}
	for _, tc := range []struct {
		name     string
		required int
		// decisions after the plan changed, and the state after each
		after []requests.Actor
		want  []rewind.State
	}{
		{"one approval", 1, []requests.Actor{anna}, []rewind.State{rewind.StateApproved}},
		{"two approvals", 2, []requests.Actor{bob, anna}, []rewind.State{rewind.StatePending, rewind.StateApproved}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.env.RequiredApprovals = tc.required
			if err := w.store.SaveEnvironment(w.ctx, w.env); err != nil {
				t.Fatal(err)
			}
			p := w.plan(w.r1.ID, 0)
			r, err := w.plans.Submit(w.ctx, otto, p, plans.Choice{Keys: []string{tkey(w.api), tkey(w.worker)}, Reason: reason, SeenHash: p.Hash})
			if err != nil {
				t.Fatal(err)
			}
			if r.RequiredApprovals != tc.required {
				t.Fatalf("request needs %d approvals, want %d (the environment's policy)", r.RequiredApprovals, tc.required)
			}
			for i := 1; i < tc.required; i++ {
				if r, err = w.req.Decide(w.ctx, anna, r.ID, true, "确认"); err != nil || r.State != rewind.StatePending {
					t.Fatalf("approval %d: %v, %v; want pending", i, r.State, err)
				}
			}
			if tc.required == 1 {
				if r, err = w.req.Decide(w.ctx, anna, r.ID, true, "确认"); err != nil || r.State != rewind.StateApproved {
					t.Fatalf("approval: %v, %v; want approved", r.State, err)
				}
			}
			// The plan changes before it runs: worker first now.
			steps := []rewind.Step{r.Steps[1], r.Steps[0]}
			r, err = w.store.ReplacePlan(w.ctx, r.ID, steps, rewind.AuditEvent{Actor: "otto", Action: rewind.ActionRequest})
			if err != nil {
				t.Fatal(err)
			}
			if r.State != rewind.StatePending || len(r.Approvals) != 1 || r.Steps[0].TargetID != w.worker.ID {
				t.Fatalf("after the new plan: %s, %d approvals recorded, first step on %d; want pending, 1, worker %d", r.State, len(r.Approvals), r.Steps[0].TargetID, w.worker.ID)
			}
			if r.Approvals[0].PlanHash == r.PlanHash {
				t.Errorf("the earlier approval holds the new plan's hash %s", r.PlanHash)
			}
			for i, a := range tc.after {
				r, err = w.req.Decide(w.ctx, a, r.ID, true, "新顺序确认")
				if err != nil || r.State != tc.want[i] {
					t.Fatalf("approval %d of the new plan, by %s: %v, %v; want %s", i+1, a.User.Username, r.State, err, tc.want[i])
				}
			}
		})
	}
}

func TestPlanRuns(t *testing.T) {
	w := newWorld(t)
	p := w.plan(w.r1.ID, 0)
	ch := plans.Choice{Keys: runnable(p), Confirm: map[string]string{tkey(w.coupon): "coupon.yaml"}, Reason: reason, SeenHash: p.Hash}
	r, err := w.plans.Submit(w.ctx, otto, p, ch)
	if err != nil {
		t.Fatal(err)
	}
	w.startRunner()
	if got, err := w.store.Request(w.ctx, r.ID); err != nil || got.State != rewind.StatePending {
		t.Fatalf("plan before approval: %v, %v; want pending", got.State, err)
	}
	if _, err := w.req.Decide(w.ctx, anna, r.ID, true, "同意"); err != nil {
		t.Fatal(err)
	}
	r = w.wait(r.ID, rewind.StateSucceeded, rewind.StateFailed)
	if r.State != rewind.StateSucceeded {
		t.Fatalf("plan %s: %s", r.State, r.Outcome)
	}
	if want := "6 of 6 steps done."; r.Outcome != want {
		t.Errorf("outcome %q, want %q", r.Outcome, want)
	}
	for _, tg := range []*rewind.Target{w.api, w.worker, w.shop} {
		cur, err := w.store.LatestVersion(w.ctx, tg.ID)
		if err != nil {
			t.Fatal(err)
		}
		if cur.Hash != w.before[tg.ID].Hash || cur.Source != rewind.SourceRollback || cur.RequestID != r.ID {
			t.Errorf("%s holds %q (%s, request %d), want %q made by request %d", tg.Label(), cur.Content, cur.Source, cur.RequestID, w.before[tg.ID].Content, r.ID)
		}
	}
	if cur, _ := w.store.LatestVersion(w.ctx, w.coupon.ID); cur.Hash != "" {
		t.Errorf("coupon.yaml holds %q, want deleted", cur.Content)
	}
	wantOrders := []string{"1 张伟 待支付", "2 李娜 已支付", "3 王芳 待支付"}
	if got := w.orders(); !slices.Equal(got, wantOrders) {
		t.Errorf("orders = %v, want %v (as before the release)", got, wantOrders)
	}

	rel, err := w.store.Release(w.ctx, w.r1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rel.RolledBackBy != r.ID {
		t.Errorf("release rolled back by %d, want %d", rel.RolledBackBy, r.ID)
	}
	made, err := w.store.ReleaseByName(w.ctx, w.wf.ID, "rollback of 1.4.2 春季大促")
	if err != nil {
		t.Fatalf("rollback release: %v", err)
	}
	var results []int64
	for _, st := range r.Steps {
		if st.ResultVersionID == 0 {
			t.Errorf("step %d recorded no result version", st.Position)
		}
		results = append(results, st.ResultVersionID)
	}
	slices.Sort(results)
	var items []int64
	for _, it := range made.Items {
		if it.How != rewind.ItemRollback {
			t.Errorf("item %d is %s, want rollback", it.VersionID, it.How)
		}
		items = append(items, it.VersionID)
	}
	if !slices.Equal(items, results) {
		t.Errorf("rollback release items = %v, want the steps' results %v", items, results)
	}
	if made.RollbackOf != w.r1.ID || made.RequestID != r.ID || made.Number != w.r1.Number+1 || made.StartedBy != "otto" {
		t.Errorf("rollback release: of %d, request %d, number %d, by %s; want %d, %d, %d, otto", made.RollbackOf, made.RequestID, made.Number, made.StartedBy, w.r1.ID, r.ID, w.r1.Number+1)
	}
	// A plan finished again after a stop records its release once.
	if err := w.store.PlanSucceeded(w.ctx, r); err != nil {
		t.Fatal(err)
	}
	if all, err := w.store.Releases(w.ctx, w.wf.ID); err != nil || len(all) != 2 {
		t.Errorf("releases after PlanSucceeded again: %d (%v), want 2", len(all), err)
	}
}

func TestAttachedSQLChange(t *testing.T) {
	w := newWorld(t)
	w.startRunner()
	open := &rewind.Release{WorkflowID: w.wf.ID, Name: "1.4.3 补数据", StartedBy: "ci"}
	if err := w.store.StartRelease(w.ctx, open, rewind.AuditEvent{Actor: "ci", Action: rewind.ActionReleaseStart}); err != nil {
		t.Fatal(err)
	}
	payload, err := rewind.SQLRequest{Kind: rewind.SQLKindChange, SQL: `UPDATE orders SET state = '已发货' WHERE id = 2`}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	r, err := w.req.Create(w.ctx, otto, requests.NewRequest{Kind: rewind.RequestChange, ReleaseID: open.ID, Reason: "补发货状态",
		Steps: []requests.NewStep{{Target: w.db, Payload: payload, Detail: "SQL change"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.req.Decide(w.ctx, anna, r.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	r = w.wait(r.ID, rewind.StateSucceeded, rewind.StateFailed)
	if r.State != rewind.StateSucceeded || r.First().ResultVersionID == 0 {
		t.Fatalf("SQL change %s (%s), result version %d", r.State, r.Outcome, r.First().ResultVersionID)
	}
	rel, err := w.store.Release(w.ctx, open.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []rewind.ReleaseItem{{ReleaseID: open.ID, VersionID: r.First().ResultVersionID, TargetID: w.db.ID, How: rewind.ItemAttached}}
	if !slices.Equal(rel.Items, want) {
		t.Errorf("items of the open release = %+v, want %+v", rel.Items, want)
	}
}

func TestUndoFailedPlan(t *testing.T) {
	w := newWorld(t)
	p := w.plan(w.r1.ID, 0)
	chosen := []string{tkey(w.api), tkey(w.worker), tkey(w.shop), sqlkey(w.sql2)}
	r, err := w.plans.Submit(w.ctx, otto, p, plans.Choice{Keys: chosen, Reason: reason, SeenHash: p.Hash})
	if err != nil {
		t.Fatal(err)
	}
	apiFound, workerFound := stepOf(t, p, tkey(w.api)).Current, stepOf(t, p, tkey(w.worker)).Current
	w.sys.failNext(w.shop.ID, "shop.yaml changed since the plan was made.")
	w.startRunner()
	if _, err := w.req.Decide(w.ctx, anna, r.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	r = w.wait(r.ID, rewind.StateFailed, rewind.StateSucceeded)
	if want := "2 of 4 steps done; step 3 failed: shop.yaml changed since the plan was made. Nothing was changed."; r.State != rewind.StateFailed || r.Outcome != want {
		t.Fatalf("plan %s: %q, want failed: %q", r.State, r.Outcome, want)
	}
	var states []rewind.StepState
	for _, st := range r.Steps {
		states = append(states, st.State)
	}
	if want := []rewind.StepState{rewind.StepSucceeded, rewind.StepSucceeded, rewind.StepFailed, rewind.StepWaiting}; !slices.Equal(states, want) {
		t.Fatalf("step states %v, want %v", states, want)
	}

	elsewhere := requests.Actor{User: rewind.User{Username: "token:ci", Role: rewind.RoleOperator}, Token: "ci", Environments: []int64{w.env.ID + 1}}
	if _, _, err := w.plans.Undo(w.ctx, elsewhere, r.ID); rewind.ErrorCode(err) != rewind.ENOTFOUND {
		t.Errorf("undo by a token bound to another environment: %v, want %s", err, rewind.ENOTFOUND)
	}
	up, of, err := w.plans.Undo(w.ctx, otto, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if of.ID != r.ID {
		t.Errorf("undo of request %d, want %d", of.ID, r.ID)
	}
	if got, want := keys(up), []string{tkey(w.worker), tkey(w.api)}; !slices.Equal(got, want) {
		t.Fatalf("undo steps = %v, want %v (the done steps, newest first)", got, want)
	}
	for _, tc := range []struct {
		tg    *rewind.Target
		found *rewind.Version
	}{{w.worker, workerFound}, {w.api, apiFound}} {
		st := stepOf(t, up, tkey(tc.tg))
		if st.To.ID != tc.found.ID || !st.Runnable() {
			t.Errorf("undo of %s to version %d, runnable %v; want the version its step found, %d", tc.tg.Label(), st.To.Number, st.Runnable(), tc.found.Number)
		}
	}
	if _, err := w.plans.SubmitUndo(w.ctx, otto, of, up, plans.Choice{Keys: keys(up), Reason: reason, SeenHash: "stale"}); rewind.ErrorCode(err) != rewind.ECONFLICT {
		t.Errorf("undo with a stale hash: %v, want %s", err, rewind.ECONFLICT)
	}
	if _, err := w.plans.SubmitUndo(w.ctx, otto, of, up, plans.Choice{Keys: []string{tkey(w.shop)}, Reason: reason, SeenHash: up.Hash}); rewind.ErrorCode(err) != rewind.EINVALID {
		t.Errorf("undo of a step that did not run: %v, want %s", err, rewind.EINVALID)
	}
	u, err := w.plans.SubmitUndo(w.ctx, otto, of, up, plans.Choice{Keys: keys(up), Reason: "撤销已完成的回滚步骤", SeenHash: up.Hash})
	if err != nil {
		t.Fatal(err)
	}
	var got [][2]int64
	for _, st := range u.Steps {
		got = append(got, [2]int64{st.TargetID, st.VersionID})
	}
	if want := [][2]int64{{w.worker.ID, workerFound.ID}, {w.api.ID, apiFound.ID}}; !slices.Equal(got, want) {
		t.Errorf("undo request steps (target, version) = %v, want %v", got, want)
	}
	if u.State != rewind.StatePending || u.Kind != rewind.RequestRollback || u.ReleaseID != 0 || u.RequiredApprovals != 1 {
		t.Errorf("undo request %s, kind %s, release %d, %d approvals; want pending, rollback, 0, 1", u.State, u.Kind, u.ReleaseID, u.RequiredApprovals)
	}
	if _, _, err := w.plans.Undo(w.ctx, otto, u.ID); rewind.ErrorCode(err) != rewind.ECONFLICT {
		t.Errorf("undo of a pending plan: %v, want %s", err, rewind.ECONFLICT)
	}
}

func TestResumeFailedPlan(t *testing.T) {
	for _, tc := range []struct {
		name    string
		resume  func(*world, int64) error
		want    rewind.StepState // of the failed step at the end
		shopEnd func(*world) string
	}{
		{"retry", func(w *world, id int64) error { _, err := w.req.Retry(w.ctx, otto, id); return err }, rewind.StepSucceeded,
			func(w *world) string { return w.before[w.shop.ID].Hash }},
		{"skip", func(w *world, id int64) error {
			_, err := w.req.Skip(w.ctx, otto, id, "配置已被他人修改，跳过")
			return err
		}, rewind.StepSkipped,
			func(w *world) string { v, _ := w.store.VersionByNumber(w.ctx, w.shop.ID, 2); return v.Hash }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			p := w.plan(w.r1.ID, 0)
			r, err := w.plans.Submit(w.ctx, otto, p, plans.Choice{Keys: []string{tkey(w.api), tkey(w.shop), sqlkey(w.sql2)}, Reason: reason, SeenHash: p.Hash})
			if err != nil {
				t.Fatal(err)
			}
			w.sys.failNext(w.shop.ID, "Nacos did not answer.")
			w.startRunner()
			if _, err := w.req.Decide(w.ctx, anna, r.ID, true, ""); err != nil {
				t.Fatal(err)
			}
			if r = w.wait(r.ID, rewind.StateFailed, rewind.StateSucceeded); r.State != rewind.StateFailed {
				t.Fatalf("plan %s (%s), want failed", r.State, r.Outcome)
			}
			if err := tc.resume(w, r.ID); err != nil {
				t.Fatal(err)
			}
			r = w.wait(r.ID, rewind.StateFailed, rewind.StateSucceeded)
			if r.State != rewind.StateSucceeded || r.Steps[1].State != tc.want || r.Steps[2].State != rewind.StepSucceeded {
				t.Fatalf("plan %s (%s), steps %s, %s; want succeeded, %s, succeeded", r.State, r.Outcome, r.Steps[1].State, r.Steps[2].State, tc.want)
			}
			if cur, _ := w.store.LatestVersion(w.ctx, w.shop.ID); cur.Hash != tc.shopEnd(w) {
				t.Errorf("shop.yaml holds %q", cur.Content)
			}
			if rel, _ := w.store.Release(w.ctx, w.r1.ID); rel.RolledBackBy != r.ID {
				t.Errorf("release rolled back by %d, want %d", rel.RolledBackBy, r.ID)
			}
			// The rollback's own release says which step left its target as it was.
			made, err := w.store.ReleaseByName(w.ctx, w.wf.ID, "rollback of "+w.r1.Name)
			if err != nil {
				t.Fatal(err)
			}
			if skipped := strings.Contains(made.Note, "step 2") && strings.Contains(made.Note, "配置已被他人修改，跳过"); skipped != (tc.want == rewind.StepSkipped) {
				t.Errorf("rollback release note = %q", made.Note)
			}
		})
	}
}

func TestRollbackOfFailedRelease(t *testing.T) {
	w := newWorld(t)
	r := &rewind.Release{WorkflowID: w.wf.ID, Name: "1.4.3 灰度失败", StartedBy: "ci"}
	if err := w.store.StartRelease(w.ctx, r, rewind.AuditEvent{Actor: "ci", Action: rewind.ActionReleaseStart}); err != nil {
		t.Fatal(err)
	}
	w.service(w.api, "1.4.3", time.Time{})
	failed, err := w.store.FinishRelease(w.ctx, r.ID, rewind.ReleaseFailed, "健康检查失败", nil, rewind.AuditEvent{Actor: "ci", Action: rewind.ActionReleaseFinish})
	if err != nil {
		t.Fatal(err)
	}
	p := w.plan(failed.ID, 0)
	if got, want := runnable(p), []string{tkey(w.api)}; !slices.Equal(got, want) {
		t.Fatalf("runnable steps %v, want %v", got, want)
	}
	req, err := w.plans.Submit(w.ctx, otto, p, plans.Choice{Keys: runnable(p), Reason: reason, SeenHash: p.Hash})
	if err != nil {
		t.Fatal(err)
	}
	w.startRunner()
	if _, err := w.req.Decide(w.ctx, anna, req.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	if req = w.wait(req.ID, rewind.StateSucceeded, rewind.StateFailed); req.State != rewind.StateSucceeded {
		t.Fatalf("plan %s: %s", req.State, req.Outcome)
	}
	if got, _ := w.store.Release(w.ctx, failed.ID); got.RolledBackBy != req.ID {
		t.Errorf("failed release rolled back by %d, want %d", got.RolledBackBy, req.ID)
	}
	views, err := releases.New(w.store).Releases(w.ctx, otto, w.wf.ID)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]releases.State{}
	drifted := map[string]bool{}
	for _, v := range views {
		states[v.Release.Name], drifted[v.Release.Name] = v.Status.State, v.Status.Drifted
	}
	if got := states["1.4.3 灰度失败"]; got != releases.StateRolledBack {
		t.Errorf("failed release shows %s, want %s", got, releases.StateRolledBack)
	}
	if got := states["rollback of 1.4.3 灰度失败"]; got != releases.StateCurrent || drifted["rollback of 1.4.3 灰度失败"] {
		t.Errorf("its rollback shows %s (drifted %v), want %s, not drifted", got, drifted["rollback of 1.4.3 灰度失败"], releases.StateCurrent)
	}
}

func TestSubmitUndoRefusesKeyTwice(t *testing.T) {
	w := newWorld(t)
	p := w.plan(w.r1.ID, 0)
	r, err := w.plans.Submit(w.ctx, otto, p, plans.Choice{Keys: []string{tkey(w.api), tkey(w.shop)}, Reason: reason, SeenHash: p.Hash})
	if err != nil {
		t.Fatal(err)
	}
	w.sys.failNext(w.shop.ID, "Nacos did not answer.")
	w.startRunner()
	if _, err := w.req.Decide(w.ctx, anna, r.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	w.wait(r.ID, rewind.StateFailed)
	up, of, err := w.plans.Undo(w.ctx, otto, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.plans.SubmitUndo(w.ctx, otto, of, up, plans.Choice{Keys: []string{tkey(w.api), tkey(w.api)}, Reason: reason, SeenHash: up.Hash})
	if got := rewind.ErrorCode(err); got != rewind.EINVALID {
		t.Errorf("undo naming a step twice: code %q (%v), want %q", got, err, rewind.EINVALID)
	}
}

func TestRollbackOfRollback(t *testing.T) {
	w := newWorld(t)
	w.startRunner()
	afterR1 := w.orders()
	if r := w.runPlan(w.plan(w.r1.ID, 0), runnable(w.plan(w.r1.ID, 0))...); r.State != rewind.StateSucceeded {
		t.Fatalf("rollback of release 1: %s (%s)", r.State, r.Outcome)
	}
	rb, err := w.store.ReleaseByName(w.ctx, w.wf.ID, "rollback of 1.4.2 春季大促")
	if err != nil {
		t.Fatal(err)
	}
	p := w.plan(rb.ID, 0)
	if got, want := keys(p)[:4], []string{tkey(w.api), tkey(w.worker), tkey(w.shop), tkey(w.coupon)}; !slices.Equal(got, want) {
		t.Fatalf("steps %v, want %v then the SQL rollbacks", keys(p), want)
	}
	// As release 1 left them: version 2 of what it changed, version 1 of
	// coupon.yaml, which it created.
	for _, tc := range []struct {
		tg     *rewind.Target
		number int64
	}{{w.api, 2}, {w.worker, 2}, {w.shop, 2}, {w.coupon, 1}} {
		tg := tc.tg
		st := stepOf(t, p, tkey(tg))
		atR1, err := w.store.VersionByNumber(w.ctx, tg.ID, tc.number)
		if err != nil {
			t.Fatal(err)
		}
		if st.To.ID != atR1.ID || !st.Runnable() || st.Confirm != "" {
			t.Errorf("%s back to version %d (runnable %v, confirm %q), want %d as release 1 left it", tg.Label(), st.To.Number, st.Runnable(), st.Confirm, atR1.Number)
		}
	}
	if n := len(p.Steps); n != 6 {
		t.Fatalf("%d steps, want 6 (4 targets, 2 SQL rollbacks undone)", n)
	}
	if r := w.runPlan(p, runnable(p)...); r.State != rewind.StateSucceeded {
		t.Fatalf("rollback of the rollback: %s (%s)", r.State, r.Outcome)
	}
	if got := w.orders(); !slices.Equal(got, afterR1) {
		t.Errorf("orders = %v, want %v as release 1 left them", got, afterR1)
	}
	if cur, _ := w.store.LatestVersion(w.ctx, w.coupon.ID); !strings.Contains(cur.Content, "春季满减") {
		t.Errorf("coupon.yaml holds %q, want it back", cur.Content)
	}
}

func TestUndoDoneStepsOfEveryKind(t *testing.T) {
	w := newWorld(t)
	w.startRunner()
	if r := w.runPlan(w.plan(w.r1.ID, 0), tkey(w.coupon), tkey(w.api)); r.State != rewind.StateSucceeded {
		t.Fatalf("deleting coupon.yaml and rolling api back: %s (%s)", r.State, r.Outcome)
	}
	rb, err := w.store.ReleaseByName(w.ctx, w.wf.ID, "rollback of 1.4.2 春季大促")
	if err != nil {
		t.Fatal(err)
	}
	// A second plan of release 1 for worker and the SQL; shop.yaml fails.
	p := w.plan(w.r1.ID, 0)
	w.sys.failNext(w.shop.ID, "Nacos did not answer.")
	r := w.runPlan(p, tkey(w.worker), sqlkey(w.sql2), tkey(w.shop))
	if r.State != rewind.StateFailed || r.Steps[2].State != rewind.StepFailed {
		t.Fatalf("plan %s (%s), want failed at step 3", r.State, r.Outcome)
	}
	if got, want := w.orders(), []string{"1 张伟 已取消", "2 李娜 已支付", "3 王芳 已取消"}; !slices.Equal(got, want) {
		t.Fatalf("orders after undoing SQL change 2: %v, want %v", got, want)
	}
	up, of, err := w.plans.Undo(w.ctx, otto, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	sqlResult := r.Steps[1].ResultVersionID
	if got, want := keys(up), []string{"sql" + strconv.FormatInt(sqlResult, 10), tkey(w.worker)}; !slices.Equal(got, want) {
		t.Fatalf("undo steps %v, want %v (done steps, newest first)", got, want)
	}
	u, err := w.plans.SubmitUndo(w.ctx, otto, of, up, plans.Choice{Keys: keys(up), Reason: "撤销", SeenHash: up.Hash})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.req.Decide(w.ctx, anna, u.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	if u = w.wait(u.ID, rewind.StateSucceeded, rewind.StateFailed); u.State != rewind.StateSucceeded {
		t.Fatalf("undo %s (%s)", u.State, u.Outcome)
	}
	if got, want := w.orders(), []string{"1 张伟 已取消", "2 李娜 已支付", "3 王芳 已取消", "4 赵磊 待支付"}; !slices.Equal(got, want) {
		t.Errorf("orders after the undo: %v, want %v", got, want)
	}
	if cur, _ := w.store.LatestVersion(w.ctx, w.worker.ID); !strings.Contains(cur.Content, ":1.4.2-g") {
		t.Errorf("worker after the undo holds %q, want 1.4.2 again", cur.Content)
	}
	if got, _ := w.store.Release(w.ctx, w.r1.ID); got.RolledBackBy != rb.RequestID {
		t.Errorf("release 1 rolled back by %d, want %d (the undo is no release rollback)", got.RolledBackBy, rb.RequestID)
	}

	// The undo of a step that brought a deleted config back deletes it,
	// with its typed data ID: roll the first rollback back, coupon.yaml
	// first; api fails.
	p = w.plan(rb.ID, 0)
	w.sys.failNext(w.api.ID, "The workload is paused.")
	r = w.runPlan(p, tkey(w.coupon), tkey(w.api))
	if r.State != rewind.StateFailed {
		t.Fatalf("plan %s (%s), want failed", r.State, r.Outcome)
	}
	up, of, err = w.plans.Undo(w.ctx, otto, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st := stepOf(t, up, tkey(w.coupon)); st.Confirm != "coupon.yaml" || !st.Runnable() {
		t.Fatalf("undo of bringing coupon.yaml back: confirm %q, runnable %v; want a deletion confirmed by its data ID", st.Confirm, st.Runnable())
	}
	if _, err := w.plans.SubmitUndo(w.ctx, otto, of, up, plans.Choice{Keys: keys(up), Reason: "撤销", SeenHash: up.Hash}); rewind.ErrorCode(err) != rewind.EINVALID {
		t.Errorf("undo deleting coupon.yaml without its data ID: %v, want %s", err, rewind.EINVALID)
	}
	if _, err := w.plans.SubmitUndo(w.ctx, otto, of, up, plans.Choice{Keys: keys(up), Confirm: map[string]string{tkey(w.coupon): "coupon.yaml"}, Reason: "撤销", SeenHash: up.Hash}); err != nil {
		t.Errorf("undo with the data ID: %v", err)
	}
}

func TestRollbackToEarlierReleaseAcrossARollback(t *testing.T) {
	w := newWorld(t)
	w.startRunner()
	afterR1 := w.orders()
	var sql3, sql4 *rewind.Version
	r2 := w.release("1.4.3 修复优惠券", func() {
		w.service(w.api, "1.4.3", time.Time{})
		sql3 = w.runSQL(`UPDATE orders SET buyer = '刘洋' WHERE id = 2`, 0)
	})
	if r := w.runPlan(w.plan(r2.ID, 0), tkey(w.api), sqlkey(sql3)); r.State != rewind.StateSucceeded {
		t.Fatalf("rollback of 1.4.3: %s (%s)", r.State, r.Outcome)
	}
	r4 := w.release("1.4.4 支付改版", func() {
		w.service(w.worker, "1.4.4", time.Time{})
		sql4 = w.runSQL(`DELETE FROM orders WHERE id = 1`, 0)
	})
	// Release 1.4.3 and its rollback cancel out: a rollback to 1.4.2 undoes
	// only 1.4.4.
	p := w.plan(r4.ID, w.r1.ID)
	if got, want := runnable(p), []string{tkey(w.worker), sqlkey(sql4)}; !slices.Equal(got, want) {
		t.Errorf("runnable steps %v (all %v), want %v", got, keys(p), want)
	}
	if want := fmt.Sprintf("SQL change version %d was undone by version", sql3.Number); len(p.Warnings) != 1 || !strings.HasPrefix(p.Warnings[0], want) {
		t.Errorf("warnings %q, want one starting %q", p.Warnings, want)
	}
	if st := stepOf(t, p, tkey(w.api)); !st.AlreadyThere {
		t.Errorf("api: already there %v, want true (its rollback brought it back)", st.AlreadyThere)
	}
	if r := w.runPlan(p, runnable(p)...); r.State != rewind.StateSucceeded {
		t.Fatalf("rollback to 1.4.2: %s (%s)", r.State, r.Outcome)
	}
	if got := w.orders(); !slices.Equal(got, afterR1) {
		t.Errorf("orders = %v, want %v as release 1.4.2 left them", got, afterR1)
	}
}

func TestRestartMidPlan(t *testing.T) {
	w := newWorld(t)
	p := w.plan(w.r1.ID, 0)
	r, err := w.plans.Submit(w.ctx, otto, p, plans.Choice{Keys: []string{tkey(w.api), tkey(w.worker)}, Reason: reason, SeenHash: p.Hash})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.req.Decide(w.ctx, anna, r.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	// A Rewind that stopped right after changing api, before recording
	// the end of step 1.
	if r, err = w.store.Move(w.ctx, r.ID, []rewind.State{rewind.StateApproved}, rewind.StateRunning, "Started.", nil); err != nil {
		t.Fatal(err)
	}
	st, err := w.store.MoveStep(w.ctx, r.Steps[0].ID, []rewind.StepState{rewind.StepWaiting}, rewind.StepRunning, "Started.", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.sys.Execute(w.ctx, r, st, w.api, w.before[w.api.ID], nil); err != nil {
		t.Fatal(err)
	}
	w.startRunner()
	r = w.wait(r.ID, rewind.StateSucceeded, rewind.StateFailed)
	if r.State != rewind.StateSucceeded {
		t.Fatalf("plan after the restart: %s (%s)", r.State, r.Outcome)
	}
	vs, _, err := w.store.Versions(w.ctx, w.api.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	made := 0
	for _, v := range vs {
		if v.RequestID == r.ID {
			made++
		}
	}
	if made != 1 || !strings.HasPrefix(r.Steps[0].Outcome, "Checked after Rewind stopped") {
		t.Errorf("api changed %d times by the plan, step 1 %q; want once, checked after the stop", made, r.Steps[0].Outcome)
	}
	if rel, _ := w.store.Release(w.ctx, w.r1.ID); rel.RolledBackBy != r.ID {
		t.Errorf("release rolled back by %d, want %d", rel.RolledBackBy, r.ID)
	}
}

func TestRestartAfterLastStep(t *testing.T) {
	w := newWorld(t)
	p := w.plan(w.r1.ID, 0)
	r, err := w.plans.Submit(w.ctx, otto, p, plans.Choice{Keys: []string{tkey(w.api)}, Reason: reason, SeenHash: p.Hash})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.req.Decide(w.ctx, anna, r.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	// A Rewind that stopped after its last step ended and the release was
	// recorded, before the plan's end was.
	if r, err = w.store.Move(w.ctx, r.ID, []rewind.State{rewind.StateApproved}, rewind.StateRunning, "Started.", nil); err != nil {
		t.Fatal(err)
	}
	st, err := w.store.MoveStep(w.ctx, r.Steps[0].ID, []rewind.StepState{rewind.StepWaiting}, rewind.StepRunning, "Started.", nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := w.sys.Execute(w.ctx, r, st, w.api, w.before[w.api.ID], nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.store.MoveStep(w.ctx, st.ID, []rewind.StepState{rewind.StepRunning}, rewind.StepSucceeded, out, nil); err != nil {
		t.Fatal(err)
	}
	if r, err = w.store.Request(w.ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.store.PlanSucceeded(w.ctx, r); err != nil {
		t.Fatal(err)
	}
	w.startRunner()
	if r = w.wait(r.ID, rewind.StateSucceeded, rewind.StateFailed); r.State != rewind.StateSucceeded {
		t.Fatalf("plan after the restart: %s (%s)", r.State, r.Outcome)
	}
	all, err := w.store.Releases(w.ctx, w.wf.ID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sum := range all {
		names = append(names, sum.Release.Name)
	}
	if want := []string{"rollback of 1.4.2 春季大促", "1.4.2 春季大促"}; !slices.Equal(names, want) {
		t.Errorf("releases %v, want %v (the rollback recorded once)", names, want)
	}
}
