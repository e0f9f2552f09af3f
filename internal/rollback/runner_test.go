package rollback

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/postgres/pgtest"
	"github.com/rewindhq/rewind/internal/requests"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/secret"
	"github.com/rewindhq/rewind/internal/sqlite"
)

// scripted is an executor whose results the test decides; it stands for a
// target system, whose real adapters have their own integration tests.
type scripted struct {
	calls     atomic.Int32
	follows   atomic.Int32
	block     chan struct{} // when set, Execute waits for it or for ctx
	err       error
	reconcile rewind.StepState
	// failOn makes Execute fail for these targets.
	failOn map[int64]bool
	mu     sync.Mutex
	order  []int64 // the targets executed, in order
}

func (s *scripted) Execute(ctx context.Context, r *rewind.Request, st *rewind.Step, t *rewind.Target, v *rewind.Version, progress func(string)) (string, error) {
	s.calls.Add(1)
	s.mu.Lock()
	s.order = append(s.order, t.ID)
	fail := s.failOn[t.ID]
	s.mu.Unlock()
	if fail {
		return "config changed since the plan was made", rewind.Errorf(rewind.ECONFLICT, "Conflict.")
	}
	progress("halfway")
	if s.block != nil {
		select {
		case <-s.block:
		case <-ctx.Done():
			return "interrupted", fmt.Errorf("follow: %w", ctx.Err())
		}
	}
	if s.err != nil {
		return "target left at the old version", s.err
	}
	return "done", nil
}

func (s *scripted) Reconcile(ctx context.Context, r *rewind.Request, st *rewind.Step, t *rewind.Target, v *rewind.Version) (rewind.StepState, string, error) {
	return s.reconcile, "found " + string(s.reconcile), nil
}

func (s *scripted) Follow(ctx context.Context, r *rewind.Request, st *rewind.Step, t *rewind.Target, v *rewind.Version, progress func(string)) (string, error) {
	s.follows.Add(1)
	return "followed to the end", nil
}

func setup(t *testing.T) (*sqlite.Store, *rewind.Target, *rewind.Version) {
	t.Helper()
	box, _ := secret.NewBox(make([]byte, 32))
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "r.db"), box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx := context.Background()
	env := &rewind.Environment{Name: "dev"}
	if err := store.SaveEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	tg := &rewind.Target{Kind: rewind.KindService, EnvironmentID: env.ID, OwnerID: 1, Namespace: "ns", Workload: "Deployment", Name: "web"}
	if _, err := store.EnsureTarget(ctx, tg); err != nil {
		t.Fatal(err)
	}
	v, _, err := store.RecordVersion(ctx, &rewind.Version{TargetID: tg.ID, Content: "a", Hash: "a", Source: rewind.SourceObserved})
	if err != nil {
		t.Fatal(err)
	}
	return store, tg, v
}

func request(t *testing.T, store *sqlite.Store, tg *rewind.Target, v *rewind.Version) *rewind.Request {
	t.Helper()
	r := &rewind.Request{Requester: "otto", Reason: "bad", Steps: []rewind.Step{{TargetID: tg.ID, VersionID: v.ID}}}
	if err := store.CreateRequest(context.Background(), r, rewind.AuditEvent{Actor: "otto", Action: rewind.ActionRequest}); err != nil {
		t.Fatal(err)
	}
	return r
}

func waitState(t *testing.T, store *sqlite.Store, id int64, want rewind.State) *rewind.Request {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := store.Request(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if r.State == want {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("request %d is %s (%q), want %s", id, r.State, r.Outcome, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestRunnerExecutesOnceAndRecords(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		want        rewind.State
		wantOutcome string
	}{
		{"success", nil, rewind.StateSucceeded, "done"},
		{"failure", rewind.Errorf(rewind.ECONFLICT, "Someone changed it."), rewind.StateFailed, "Someone changed it. target left at the old version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, tg, v := setup(t)
			ex := &scripted{err: tt.err}
			ctx, cancel := context.WithCancel(context.Background())
			runners := []*Runner{NewRunner(store, map[rewind.TargetKind]rewind.Executor{rewind.KindService: ex}, quiet),
				NewRunner(store, map[rewind.TargetKind]rewind.Executor{rewind.KindService: ex}, quiet)}
			var wg sync.WaitGroup
			for _, rn := range runners {
				wg.Add(1)
				go func() { defer wg.Done(); rn.Run(ctx) }()
				<-rn.Ready()
			}
			// Two runners at once (two leaders, which the lease prevents):
			// both race for the request; it runs once.
			r := request(t, store, tg, v)
			for _, rn := range runners {
				rn.Wake()
			}
			got := waitState(t, store, r.ID, tt.want)
			cancel()
			wg.Wait()
			if n := ex.calls.Load(); n != 1 {
				t.Errorf("executed %d times, want 1", n)
			}
			if got.Outcome != tt.wantOutcome || got.FinishedAt == nil {
				t.Errorf("outcome %q finished %v, want %q", got.Outcome, got.FinishedAt, tt.wantOutcome)
			}
			events, _, _ := store.Audit(context.Background(), rewind.AuditFilter{})
			if len(events) != 3 || events[0].Action != rewind.ActionResult || events[1].Action != rewind.ActionExecute {
				t.Errorf("audit = %+v", events)
			}
		})
	}
}

func TestRunnerShutdownLeavesRunningThenReconciles(t *testing.T) {
	store, tg, v := setup(t)
	ex := &scripted{block: make(chan struct{})}
	r := request(t, store, tg, v)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	rn := NewRunner(store, map[rewind.TargetKind]rewind.Executor{rewind.KindService: ex}, quiet)
	go func() { defer close(done); rn.Run(ctx) }()
	waitState(t, store, r.ID, rewind.StateRunning)
	// Stop only once the step runs: a step still waiting at a stop is
	// simply run by the next start.
	for deadline := time.Now().Add(10 * time.Second); ex.calls.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the step never started")
		}
	}
	cancel()
	<-done
	got, _ := store.Request(context.Background(), r.ID)
	if got.State != rewind.StateRunning || got.FinishedAt != nil {
		t.Fatalf("after shutdown: %s, want running", got.State)
	}

	// The next start finds it running; the executor says the rollout is
	// still going, so the runner follows it to its end.
	ex2 := &scripted{reconcile: rewind.StepRunning}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go NewRunner(store, map[rewind.TargetKind]rewind.Executor{rewind.KindService: ex2}, quiet).Run(ctx2)
	got = waitState(t, store, r.ID, rewind.StateSucceeded)
	if ex2.calls.Load() != 0 || ex2.follows.Load() != 1 {
		t.Errorf("after restart: %d executions, %d follows; want 0 and 1", ex2.calls.Load(), ex2.follows.Load())
	}
	if got.Outcome != "Checked after Rewind stopped during this step: followed to the end" {
		t.Errorf("outcome = %q", got.Outcome)
	}
}

func TestRunnerReconcilesFailure(t *testing.T) {
	store, tg, v := setup(t)
	r := request(t, store, tg, v)
	if _, err := store.Move(context.Background(), r.ID, []rewind.State{rewind.StateApproved}, rewind.StateRunning, "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := store.MoveStep(context.Background(), r.First().ID, []rewind.StepState{rewind.StepWaiting}, rewind.StepRunning, "", nil); err != nil {
		t.Fatal(err)
	}
	ex := &scripted{reconcile: rewind.StepFailed}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go NewRunner(store, map[rewind.TargetKind]rewind.Executor{rewind.KindService: ex}, quiet).Run(ctx)
	got := waitState(t, store, r.ID, rewind.StateFailed)
	if got.Outcome != "Checked after Rewind stopped during this step: found failed" {
		t.Errorf("outcome = %q", got.Outcome)
	}
}

// planFixture is a store with three service targets and a plan of one
// step on each, created by otto and approved (the environment needs none).
func planFixture(t *testing.T) (*sqlite.Store, []*rewind.Target, *rewind.Request) {
	t.Helper()
	store, first, v := setup(t)
	ctx := context.Background()
	targets := []*rewind.Target{first}
	steps := []rewind.Step{{TargetID: first.ID, VersionID: v.ID, Detail: "shop/api"}}
	for _, name := range []string{"worker", "gateway"} {
		tg := &rewind.Target{Kind: rewind.KindService, EnvironmentID: first.EnvironmentID, OwnerID: 1, Namespace: "ns", Workload: "Deployment", Name: name}
		if _, err := store.EnsureTarget(ctx, tg); err != nil {
			t.Fatal(err)
		}
		tv, _, err := store.RecordVersion(ctx, &rewind.Version{TargetID: tg.ID, Content: name, Hash: name, Source: rewind.SourceObserved})
		if err != nil {
			t.Fatal(err)
		}
		targets = append(targets, tg)
		steps = append(steps, rewind.Step{TargetID: tg.ID, VersionID: tv.ID, Detail: "shop/" + name})
	}
	r := &rewind.Request{Requester: "otto", Reason: "release 1.4.2 broke checkout", Steps: steps}
	if err := store.CreateRequest(ctx, r, rewind.AuditEvent{Actor: "otto", Action: rewind.ActionRequest}); err != nil {
		t.Fatal(err)
	}
	return store, targets, r
}

func run(t *testing.T, store *sqlite.Store, ex rewind.Executor) *Runner {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rn := NewRunner(store, map[rewind.TargetKind]rewind.Executor{rewind.KindService: ex}, quiet)
	done := make(chan struct{})
	go func() { defer close(done); rn.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return rn
}

func stepStates(r *rewind.Request) string {
	var s []string
	for _, st := range r.Steps {
		s = append(s, string(st.State))
	}
	return fmt.Sprint(s)
}

func TestPlanStopsAtFailedStepThenRetryFinishes(t *testing.T) {
	store, targets, r := planFixture(t)
	ex := &scripted{failOn: map[int64]bool{targets[1].ID: true}}
	rn := run(t, store, ex)
	got := waitState(t, store, r.ID, rewind.StateFailed)
	if s := stepStates(got); s != "[succeeded failed waiting]" {
		t.Fatalf("steps = %s", s)
	}
	if want := "1 of 3 steps done; step 2 failed: Conflict. config changed since the plan was made"; got.Outcome != want {
		t.Errorf("outcome = %q, want %q", got.Outcome, want)
	}

	svc := requests.New(store, rn)
	anna := requests.Actor{User: rewind.User{Username: "anna", Role: rewind.RoleOperator}}
	if _, err := svc.Retry(context.Background(), anna, r.ID); rewind.ErrorCode(err) != rewind.EFORBIDDEN {
		t.Errorf("retry by another operator: %v, want forbidden", err)
	}
	ex.mu.Lock()
	ex.failOn = nil // the conflict is fixed
	ex.mu.Unlock()
	otto := requests.Actor{User: rewind.User{Username: "otto", Role: rewind.RoleOperator}}
	if _, err := svc.Retry(context.Background(), otto, r.ID); err != nil {
		t.Fatal(err)
	}
	got = waitState(t, store, r.ID, rewind.StateSucceeded)
	if s := stepStates(got); s != "[succeeded succeeded succeeded]" || got.Outcome != "3 of 3 steps done." {
		t.Errorf("after retry: steps %s, outcome %q", s, got.Outcome)
	}
	if got.Steps[1].Attempts != 2 || got.Steps[0].Attempts != 1 {
		t.Errorf("attempts = %d, %d; want 1 and 2", got.Steps[0].Attempts, got.Steps[1].Attempts)
	}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if want := fmt.Sprint([]int64{targets[0].ID, targets[1].ID, targets[1].ID, targets[2].ID}); fmt.Sprint(ex.order) != want {
		t.Errorf("executed targets %v, want %s: a done step ran again or the order broke", ex.order, want)
	}
}

func TestPlanSkipGoesOn(t *testing.T) {
	store, targets, r := planFixture(t)
	ex := &scripted{failOn: map[int64]bool{targets[1].ID: true}}
	rn := run(t, store, ex)
	waitState(t, store, r.ID, rewind.StateFailed)
	svc := requests.New(store, rn)
	otto := requests.Actor{User: rewind.User{Username: "otto", Role: rewind.RoleOperator}}
	if _, err := svc.Skip(context.Background(), otto, r.ID, " "); rewind.ErrorCode(err) != rewind.EINVALID {
		t.Errorf("skip without a reason: %v", err)
	}
	if _, err := svc.Skip(context.Background(), otto, r.ID, "worker was fixed by hand / 已手工修复"); err != nil {
		t.Fatal(err)
	}
	got := waitState(t, store, r.ID, rewind.StateSucceeded)
	if s := stepStates(got); s != "[succeeded skipped succeeded]" || got.Outcome != "3 of 3 steps done (1 skipped)." {
		t.Errorf("after skip: steps %s, outcome %q", s, got.Outcome)
	}
	if got.Steps[1].Note != "worker was fixed by hand / 已手工修复" {
		t.Errorf("skip note = %q", got.Steps[1].Note)
	}
	if n := ex.calls.Load(); n != 3 {
		t.Errorf("%d executions, want 3", n)
	}
}

// A stop in the middle of step 2: the next start checks step 2 against the
// target instead of running it again, then runs step 3; step 1 never runs twice.
func TestPlanRestartMidPlan(t *testing.T) {
	store, targets, r := planFixture(t)
	ex := &scripted{block: make(chan struct{}), failOn: map[int64]bool{}}
	first := &blockOn{scripted: ex, target: targets[1].ID}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		NewRunner(store, map[rewind.TargetKind]rewind.Executor{rewind.KindService: first}, quiet).Run(ctx)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _ := store.Request(context.Background(), r.ID)
		if got.Steps[1].State == rewind.StepRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("step 2 never started: %s", stepStates(got))
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	mid, _ := store.Request(context.Background(), r.ID)
	if mid.State != rewind.StateRunning || stepStates(mid) != "[succeeded running waiting]" {
		t.Fatalf("after the stop: %s %s", mid.State, stepStates(mid))
	}

	ex2 := &scripted{reconcile: rewind.StepSucceeded}
	run(t, store, ex2)
	got := waitState(t, store, r.ID, rewind.StateSucceeded)
	if s := stepStates(got); s != "[succeeded succeeded succeeded]" {
		t.Errorf("steps = %s", s)
	}
	if fmt.Sprint(ex2.order) != fmt.Sprint([]int64{targets[2].ID}) {
		t.Errorf("after the restart executed %v, want only step 3's target", ex2.order)
	}
	if !strings.HasPrefix(got.Steps[1].Outcome, "Checked after Rewind stopped during this step") {
		t.Errorf("step 2 outcome = %q", got.Steps[1].Outcome)
	}
}

// blockOn runs like scripted but blocks only on one target.
type blockOn struct {
	*scripted
	target int64
}

func (b *blockOn) Execute(ctx context.Context, r *rewind.Request, st *rewind.Step, t *rewind.Target, v *rewind.Version, progress func(string)) (string, error) {
	if t.ID != b.target {
		return "done", nil
	}
	return b.scripted.Execute(ctx, r, st, t, v, progress)
}

// counting is an executor that counts how often each step is executed.
type counting struct {
	mu   sync.Mutex
	runs map[int64]int // by step ID
}

func (c *counting) Execute(ctx context.Context, r *rewind.Request, st *rewind.Step, t *rewind.Target, v *rewind.Version, progress func(string)) (string, error) {
	c.mu.Lock()
	c.runs[st.ID]++
	c.mu.Unlock()
	time.Sleep(time.Millisecond) // a little work, so that the runners overlap
	return "done", nil
}

func (c *counting) Reconcile(ctx context.Context, r *rewind.Request, st *rewind.Step, t *rewind.Target, v *rewind.Version) (rewind.StepState, string, error) {
	return rewind.StepSucceeded, "found at its version", nil
}

// TestTwoRunnersOnPostgresExecuteEachStepOnce runs two runners, each on
// its own connection to one PostgreSQL store (two leaders at once, which the
// lease prevents), over 20 plans of three steps: the claims are conditional
// updates, so every step is executed once and every plan succeeds. Then two
// new runners both inherit 20 plans left running by a leader that died in
// their first step: both reconcile them, and each later step is still
// executed once (the step's claim, not only the plan's, is conditional).
func TestTwoRunnersOnPostgresExecuteEachStepOnce(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewStore(t)
	box, _ := secret.NewBox(make([]byte, 32))
	var stores []*sqlite.Store
	for range 2 {
		s, err := sqlite.Open(ctx, url, box)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	store := stores[0]
	env := &rewind.Environment{Name: "prod"}
	if err := store.SaveEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	plans := func(round int) []*rewind.Request {
		var out []*rewind.Request
		for i := range 20 {
			var steps []rewind.Step
			for j := range 3 {
				tg := &rewind.Target{Kind: rewind.KindService, EnvironmentID: env.ID, OwnerID: 1, Namespace: "shop",
					Workload: "Deployment", Name: fmt.Sprintf("svc-%d-%02d-%d", round, i, j)}
				if _, err := store.EnsureTarget(ctx, tg); err != nil {
					t.Fatal(err)
				}
				v, _, err := store.RecordVersion(ctx, &rewind.Version{TargetID: tg.ID, Content: "a", Hash: "a", Source: rewind.SourceObserved})
				if err != nil {
					t.Fatal(err)
				}
				steps = append(steps, rewind.Step{TargetID: tg.ID, VersionID: v.ID})
			}
			r := &rewind.Request{Requester: "otto", Reason: "bad release", Steps: steps}
			if err := store.CreateRequest(ctx, r, rewind.AuditEvent{Actor: "otto", Action: rewind.ActionRequest}); err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		return out
	}
	run := func(ex *counting, reqs []*rewind.Request) {
		runCtx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for _, s := range stores {
			rn := NewRunner(s, map[rewind.TargetKind]rewind.Executor{rewind.KindService: ex}, quiet)
			wg.Go(func() { rn.Run(runCtx) })
			<-rn.Ready()
			rn.Wake()
		}
		for _, r := range reqs {
			waitState(t, store, r.ID, rewind.StateSucceeded)
		}
		cancel()
		wg.Wait()
	}
	once := func(ex *counting, want int) {
		t.Helper()
		ex.mu.Lock()
		defer ex.mu.Unlock()
		if len(ex.runs) != want {
			t.Errorf("%d steps executed, want %d", len(ex.runs), want)
		}
		for id, n := range ex.runs {
			if n != 1 {
				t.Errorf("step %d executed %d times", id, n)
			}
		}
	}

	// Two runners at once over new plans.
	first := &counting{runs: map[int64]int{}}
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var runners []*Runner
	for _, s := range stores {
		rn := NewRunner(s, map[rewind.TargetKind]rewind.Executor{rewind.KindService: first}, quiet)
		runners = append(runners, rn)
		wg.Go(func() { rn.Run(runCtx) })
		<-rn.Ready()
	}
	reqs := plans(1)
	for _, rn := range runners {
		rn.Wake()
	}
	for _, r := range reqs {
		waitState(t, store, r.ID, rewind.StateSucceeded)
	}
	cancel()
	wg.Wait()
	once(first, 60)

	// Plans left running in their first step by a leader that died.
	left := plans(2)
	for _, r := range left {
		if _, err := store.Move(ctx, r.ID, []rewind.State{rewind.StateApproved}, rewind.StateRunning, "Started.", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := store.MoveStep(ctx, r.Steps[0].ID, []rewind.StepState{rewind.StepWaiting}, rewind.StepRunning, "Started.", nil); err != nil {
			t.Fatal(err)
		}
	}
	second := &counting{runs: map[int64]int{}}
	run(second, left)
	once(second, 40) // steps 2 and 3 of each; step 1 was reconciled, not run again
	for _, r := range left {
		if n := second.runs[r.Steps[0].ID]; n != 0 {
			t.Errorf("request %d: its first step, found running, was executed again", r.ID)
		}
	}
}
