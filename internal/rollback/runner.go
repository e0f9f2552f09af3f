// Package rollback moves requests through their lifecycle: it takes approved
// requests and runs their plans step by step, each step with the executor of
// its target's kind, records every step's outcome, stops a plan at its first
// failed step, and reconciles plans left running by a stop.
package rollback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/rewindhq/rewind/internal/metrics"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/sqlite"
)

// Store is what the runner needs of the history store.
type Store interface {
	Requests(ctx context.Context, f sqlite.RequestFilter) ([]*rewind.Request, error)
	Request(ctx context.Context, id int64) (*rewind.Request, error)
	Move(ctx context.Context, id int64, from []rewind.State, next rewind.State, outcome string, ev *rewind.AuditEvent) (*rewind.Request, error)
	MoveStep(ctx context.Context, id int64, from []rewind.StepState, next rewind.StepState, outcome string, ev *rewind.AuditEvent) (*rewind.Step, error)
	SetOutcome(ctx context.Context, id int64, outcome string) error
	SetStepOutcome(ctx context.Context, id int64, outcome string) error
	Target(ctx context.Context, id int64) (*rewind.Target, error)
	Version(ctx context.Context, id int64) (*rewind.Version, error)
	Environment(ctx context.Context, id int64) (*rewind.Environment, error)
	// StepEnded and PlanSucceeded record what a step's end and a plan's
	// success mean for releases (an attached SQL change's item, a release
	// rolled back).
	StepEnded(ctx context.Context, r *rewind.Request, s *rewind.Step) error
	PlanSucceeded(ctx context.Context, r *rewind.Request) error
}

// Runner executes approved requests, one goroutine per request, the steps
// of a plan one after the other.
type Runner struct {
	store     Store
	executors map[rewind.TargetKind]rewind.Executor
	log       *slog.Logger
	wake      chan struct{}
	wg        sync.WaitGroup
	mu        sync.Mutex
	running   map[int64]bool
	started   time.Time // when it was made: requests started before are not followed by this runner
}

// NewRunner returns a runner using the given executors by target kind.
func NewRunner(store Store, executors map[rewind.TargetKind]rewind.Executor, log *slog.Logger) *Runner {
	return &Runner{store: store, executors: executors, log: log, wake: make(chan struct{}, 1), running: map[int64]bool{},
		started: time.Now().UTC()}
}

// Wake tells the runner that a request may have become approved.
func (r *Runner) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run reconciles requests left running, then executes approved requests until
// ctx ends; it then waits for running executions to record their state.
func (r *Runner) Run(ctx context.Context) {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		r.reconcile(ctx) // requests running but not followed here: left by a stop, or not readable before
		r.startApproved(ctx)
		select {
		case <-ctx.Done():
			r.wg.Wait()
			return
		case <-r.wake:
		case <-tick.C:
		}
	}
}

// plan is a request with the targets of its steps, by step position.
type plan struct {
	req     *rewind.Request
	targets []*rewind.Target
}

// load reads the targets of req's steps; ok is false when one cannot be
// read or its kind is not served by this Rewind.
func (r *Runner) load(ctx context.Context, req *rewind.Request) (*plan, bool) {
	p := &plan{req: req}
	for _, st := range req.Steps {
		t, err := r.store.Target(ctx, st.TargetID)
		if err != nil {
			r.log.Error("load target", "request", req.ID, "step", st.Position, "err", err)
			return nil, false
		}
		if _, ok := r.executors[t.Kind]; !ok {
			return nil, false // this kind is not served by this Rewind
		}
		p.targets = append(p.targets, t)
	}
	return p, len(p.targets) > 0
}

func (r *Runner) startApproved(ctx context.Context) {
	reqs, err := r.store.Requests(ctx, sqlite.RequestFilter{States: []rewind.State{rewind.StateApproved}})
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error("list approved requests", "err", err)
		}
		return
	}
	for i := len(reqs) - 1; i >= 0; i-- { // oldest first
		p, ok := r.load(ctx, reqs[i])
		if !ok {
			continue
		}
		claimed, err := r.store.Move(ctx, p.req.ID, []rewind.State{rewind.StateApproved}, rewind.StateRunning, "Started.", r.planEvent(ctx, p, rewind.ActionExecute, "started", ""))
		if err != nil {
			continue // another worker or a cancel got there first
		}
		p.req = claimed
		kind, env := r.labels(ctx, p)
		metrics.RequestStarted(claimed, kind, env)
		r.goTrack(claimed.ID, func() { r.runPlan(ctx, p) })
	}
}

// goTrack runs fn in a goroutine that Run waits for, once per request at a time.
func (r *Runner) goTrack(id int64, fn func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running[id] {
		return
	}
	r.running[id] = true
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() { r.mu.Lock(); delete(r.running, id); r.mu.Unlock() }()
		fn()
	}()
}

// runPlan runs the waiting steps of a claimed plan in order and records its
// end: the first failed step stops it. Steps that already ended (before a
// retry, a skip or a restart) are not run again.
func (r *Runner) runPlan(ctx context.Context, p *plan) {
	for i := range p.req.Steps {
		st := &p.req.Steps[i]
		if st.State != rewind.StepWaiting {
			continue
		}
		ended, err := r.runStep(ctx, p, i)
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			// Rewind is stopping: the step stays running and says so; the
			// next start reconciles it with the target's actual state.
			return
		}
		if ended != nil {
			*st = *ended
		}
		if err != nil {
			r.finishPlan(ctx, p)
			return
		}
	}
	r.finishPlan(ctx, p)
}

// runStep starts step i, executes it and records its end. It returns the
// step as recorded, and an error when the step failed or could not start.
func (r *Runner) runStep(ctx context.Context, p *plan, i int) (*rewind.Step, error) {
	st, t := &p.req.Steps[i], p.targets[i]
	ev := r.event(ctx, p.req, t, rewind.ActionExecute, "started")
	ev.Detail = stepName(p.req, st)
	started, err := r.store.MoveStep(ctx, st.ID, []rewind.StepState{rewind.StepWaiting}, rewind.StepRunning, "Started.", &ev)
	if err != nil {
		r.log.Error("start step", "request", p.req.ID, "step", st.Position, "err", err)
		return nil, err
	}
	var v *rewind.Version
	if st.VersionID != 0 {
		if v, err = r.store.Version(ctx, st.VersionID); err != nil {
			return r.endStep(ctx, p, i, started, fmt.Errorf("load target version: %w", err), "Nothing was changed: the target version could not be read.")
		}
	}
	progress := r.progress(ctx, p.req, started)
	outcome, err := r.executors[t.Kind].Execute(ctx, p.req, started, t, v, progress)
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		progress("Rewind stopped while following this step; it will be checked again at the next start. " + outcome)
		r.log.Info("step interrupted by shutdown", "request", p.req.ID, "step", st.Position)
		return nil, err
	}
	return r.endStep(ctx, p, i, started, err, outcome)
}

// endStep records the end of running step st (index i of the plan).
func (r *Runner) endStep(ctx context.Context, p *plan, i int, st *rewind.Step, err error, outcome string) (*rewind.Step, error) {
	ctx = context.WithoutCancel(ctx)
	state, result := rewind.StepSucceeded, "succeeded"
	if err != nil {
		state, result = rewind.StepFailed, "failed"
		if outcome == "" {
			outcome = rewind.ErrorMessage(err)
		} else if msg := rewind.ErrorMessage(err); rewind.ErrorCode(err) != rewind.EINTERNAL && msg != outcome {
			outcome = msg + " " + outcome
		}
		r.log.Warn("step failed", "request", p.req.ID, "step", st.Position, "err", err)
	}
	ev := r.event(ctx, p.req, p.targets[i], rewind.ActionResult, result)
	ev.Detail = outcome
	ended, merr := r.store.MoveStep(ctx, st.ID, []rewind.StepState{rewind.StepRunning}, state, outcome, &ev)
	if merr != nil {
		r.log.Error("record step result", "request", p.req.ID, "step", st.Position, "err", merr)
		ended = st
		ended.State, ended.Outcome = state, outcome
	}
	if herr := r.store.StepEnded(ctx, p.req, ended); herr != nil {
		r.log.Error("record step for its release", "request", p.req.ID, "step", st.Position, "err", herr)
	}
	return ended, err
}

// finishPlan records the end of a plan whose steps all ended or one failed.
func (r *Runner) finishPlan(ctx context.Context, p *plan) {
	ctx = context.WithoutCancel(ctx)
	req, err := r.store.Request(ctx, p.req.ID)
	if err != nil {
		r.log.Error("reload request", "request", p.req.ID, "err", err)
		return
	}
	state, result, outcome := rewind.StateSucceeded, "succeeded", Summary(req)
	switch {
	case req.Failed() != nil:
		state, result = rewind.StateFailed, "failed"
	case req.Done() < len(req.Steps):
		// A step could not be started (the store refused): the plan is
		// neither done nor failed; it stays running for the next start.
		r.log.Error("plan stopped with steps not run", "request", req.ID, "done", req.Done(), "steps", len(req.Steps))
		return
	}
	// What the plan means for its release is recorded before the plan is:
	// a stop in between leaves the plan running, and the next start
	// finishes it again (PlanSucceeded records once), so that a succeeded
	// plan never lacks its release's record.
	if state == rewind.StateSucceeded {
		if err := r.store.PlanSucceeded(ctx, req); err != nil {
			r.log.Error("record plan for its release", "request", req.ID, "err", err)
		}
	}
	ended, err := r.store.Move(ctx, req.ID, []rewind.State{rewind.StateRunning}, state, outcome, r.planEvent(ctx, p, rewind.ActionResult, result, outcome))
	if err != nil {
		r.log.Error("record plan result", "request", req.ID, "err", err)
		return
	}
	kind, env := r.labels(ctx, p)
	metrics.RequestEnded(ended, kind, env, state)
}

// labels returns the metric labels of plan p: its kind and its environment.
func (r *Runner) labels(ctx context.Context, p *plan) (kind, env string) {
	kinds := make([]rewind.TargetKind, len(p.targets))
	for i, t := range p.targets {
		kinds[i] = t.Kind
	}
	if e, err := r.store.Environment(ctx, p.req.EnvironmentID); err == nil {
		env = e.Name
	}
	return metrics.RequestKind(p.req, kinds), env
}

// Summary says in words where a plan stands: for one step its outcome; for
// more, how many are done and, if one failed, which and why.
func Summary(req *rewind.Request) string {
	if len(req.Steps) == 1 {
		st := req.First()
		if st.State == rewind.StepSkipped {
			return "Skipped: " + st.Note
		}
		return st.Outcome
	}
	done := req.Done()
	s := fmt.Sprintf("%d of %d steps done", done, len(req.Steps))
	if skipped := countState(req, rewind.StepSkipped); skipped > 0 {
		s += fmt.Sprintf(" (%d skipped)", skipped)
	}
	if f := req.Failed(); f != nil {
		return s + fmt.Sprintf("; step %d failed: %s", f.Position, f.Outcome)
	}
	return s + "."
}

func countState(req *rewind.Request, state rewind.StepState) int {
	n := 0
	for _, st := range req.Steps {
		if st.State == state {
			n++
		}
	}
	return n
}

// reconcile settles, each in the background, the running plans that this
// runner does not follow: those left by a stop, or whose target could not be
// read in an earlier round. A step found running is checked against its
// target's actual state, never run again; the plan then goes on.
func (r *Runner) reconcile(ctx context.Context) {
	reqs, err := r.store.Requests(ctx, sqlite.RequestFilter{States: []rewind.State{rewind.StateRunning}})
	if err != nil {
		r.log.Error("list running requests", "err", err)
		return
	}
	for _, req := range reqs {
		if req.StartedAt != nil && req.StartedAt.After(r.started) {
			continue // started by this runner (or a live peer), which follows it
		}
		p, ok := r.load(ctx, req)
		if !ok {
			continue
		}
		r.goTrack(req.ID, func() {
			for i := range p.req.Steps {
				if p.req.Steps[i].State != rewind.StepRunning {
					continue
				}
				ended, err := r.reconcileStep(ctx, p, i)
				if err != nil {
					return // unreadable now, or stopping again: the next round tries again
				}
				p.req.Steps[i] = *ended
				if ended.State == rewind.StepFailed {
					r.finishPlan(ctx, p)
					return
				}
			}
			r.runPlan(ctx, p)
		})
	}
}

// reconcileStep decides the end of step i, found running at a start.
func (r *Runner) reconcileStep(ctx context.Context, p *plan, i int) (*rewind.Step, error) {
	st, t := &p.req.Steps[i], p.targets[i]
	ex := r.executors[t.Kind]
	var v *rewind.Version
	if st.VersionID != 0 {
		v, _ = r.store.Version(ctx, st.VersionID)
	}
	state, outcome, err := ex.Reconcile(ctx, p.req, st, t, v)
	if err != nil {
		r.log.Warn("reconcile step", "request", p.req.ID, "step", st.Position, "err", err)
		return nil, err
	}
	var ferr error
	switch state {
	case rewind.StepRunning:
		f, ok := ex.(rewind.Follower)
		if !ok {
			return nil, errors.New("still running")
		}
		outcome, ferr = f.Follow(ctx, p.req, st, t, v, r.progress(ctx, p.req, st))
		if ctx.Err() != nil {
			return nil, ctx.Err() // stopping again; the next start checks once more
		}
	case rewind.StepSucceeded:
	default:
		ferr = errors.New(outcome)
	}
	ended, err := r.endStep(ctx, p, i, st, ferr, "Checked after Rewind stopped during this step: "+outcome)
	if ended == nil {
		return nil, err
	}
	return ended, nil
}

// progress returns a function that records the progress of step st, on the
// step and, in words that name the step, on its request.
func (r *Runner) progress(ctx context.Context, req *rewind.Request, st *rewind.Step) func(string) {
	return func(s string) {
		ctx := context.WithoutCancel(ctx)
		if err := r.store.SetStepOutcome(ctx, st.ID, s); err != nil {
			r.log.Warn("record progress", "request", req.ID, "step", st.Position, "err", err)
		}
		if len(req.Steps) > 1 {
			s = fmt.Sprintf("Step %d of %d: %s", st.Position, len(req.Steps), s)
		}
		if err := r.store.SetOutcome(ctx, req.ID, s); err != nil {
			r.log.Warn("record progress", "request", req.ID, "err", err)
		}
	}
}

// stepName names a step for the audit trail.
func stepName(req *rewind.Request, st *rewind.Step) string {
	name := fmt.Sprintf("step %d of %d", st.Position, len(req.Steps))
	if st.Detail != "" {
		name += ": " + st.Detail
	}
	return name
}

// event builds an audit event by the system about step work on target t of
// request req.
func (r *Runner) event(ctx context.Context, req *rewind.Request, t *rewind.Target, action, outcome string) rewind.AuditEvent {
	ev := rewind.AuditEvent{Actor: "rewind", Action: action, Outcome: outcome, RequestID: req.ID, TargetKind: t.Kind, Target: t.Label()}
	if env, err := r.store.Environment(ctx, req.EnvironmentID); err == nil {
		ev.Environment = env.Name
	}
	return ev
}

// planEvent is the audit event of a plan's start or end; a plan of one step
// has none, its step's events say it all.
func (r *Runner) planEvent(ctx context.Context, p *plan, action, outcome, detail string) *rewind.AuditEvent {
	if len(p.req.Steps) < 2 {
		return nil
	}
	ev := rewind.AuditEvent{Actor: "rewind", Action: action, Outcome: outcome, RequestID: p.req.ID, Detail: detail,
		Target: fmt.Sprintf("plan of %d steps", len(p.req.Steps))}
	if env, err := r.store.Environment(ctx, p.req.EnvironmentID); err == nil {
		ev.Environment = env.Name
	}
	return &ev
}
