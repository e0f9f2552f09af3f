// Package rollback moves rollback requests through their lifecycle: it takes
// approved requests, runs them with the executor of their target's kind,
// records the outcome, and reconciles requests left running by a stop.
package rollback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/sqlite"
)

// Store is what the runner needs of the history store.
type Store interface {
	Requests(ctx context.Context, f sqlite.RequestFilter) ([]*rewind.RollbackRequest, error)
	Request(ctx context.Context, id int64) (*rewind.RollbackRequest, error)
	Move(ctx context.Context, id int64, from []rewind.State, next rewind.State, outcome string, ev *rewind.AuditEvent) (*rewind.RollbackRequest, error)
	SetOutcome(ctx context.Context, id int64, outcome string) error
	Target(ctx context.Context, id int64) (*rewind.Target, error)
	Version(ctx context.Context, id int64) (*rewind.Version, error)
	Environment(ctx context.Context, id int64) (*rewind.Environment, error)
}

// Runner executes approved rollback requests, one goroutine per request.
type Runner struct {
	store     Store
	executors map[rewind.TargetKind]rewind.Executor
	log       *slog.Logger
	wake      chan struct{}
	wg        sync.WaitGroup
	mu        sync.Mutex
	running   map[int64]bool
	started   time.Time // requests started before this are not followed by this runner
}

// NewRunner returns a runner using the given executors by target kind.
func NewRunner(store Store, executors map[rewind.TargetKind]rewind.Executor, log *slog.Logger) *Runner {
	return &Runner{store: store, executors: executors, log: log, wake: make(chan struct{}, 1), running: map[int64]bool{}}
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
	r.started = time.Now().UTC()
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

func (r *Runner) startApproved(ctx context.Context) {
	reqs, err := r.store.Requests(ctx, sqlite.RequestFilter{States: []rewind.State{rewind.StateApproved}})
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error("list approved requests", "err", err)
		}
		return
	}
	for i := len(reqs) - 1; i >= 0; i-- { // oldest first
		req := reqs[i]
		t, err := r.store.Target(ctx, req.TargetID)
		if err != nil {
			r.log.Error("load target", "request", req.ID, "err", err)
			continue
		}
		if _, ok := r.executors[t.Kind]; !ok {
			continue // this kind is not served by this Rewind
		}
		ev := r.event(ctx, t, rewind.ActionExecute, "started")
		claimed, err := r.store.Move(ctx, req.ID, []rewind.State{rewind.StateApproved}, rewind.StateRunning, "Started.", &ev)
		if err != nil {
			continue // another worker or a cancel got there first
		}
		r.start(ctx, claimed, t)
	}
}

func (r *Runner) start(ctx context.Context, req *rewind.RollbackRequest, t *rewind.Target) {
	r.goTrack(req.ID, func() { r.execute(ctx, req, t) })
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

// execute runs one claimed request and records its end.
func (r *Runner) execute(ctx context.Context, req *rewind.RollbackRequest, t *rewind.Target) {
	var v *rewind.Version
	if req.VersionID != 0 {
		var err error
		if v, err = r.store.Version(ctx, req.VersionID); err != nil {
			r.finish(ctx, req, t, fmt.Errorf("load target version: %w", err), "Nothing was changed: the target version could not be read.")
			return
		}
	}
	progress := r.progress(ctx, req.ID)
	outcome, err := r.executors[t.Kind].Execute(ctx, req, t, v, progress)
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// Rewind is stopping: keep the request running and say so; the next
		// start reconciles it with the target's actual state.
		progress("Rewind stopped while following this rollback; it will be checked again at the next start. " + outcome)
		r.log.Info("rollback interrupted by shutdown", "request", req.ID)
		return
	}
	r.finish(ctx, req, t, err, outcome)
}

func (r *Runner) finish(ctx context.Context, req *rewind.RollbackRequest, t *rewind.Target, err error, outcome string) {
	ctx = context.WithoutCancel(ctx)
	state, result := rewind.StateSucceeded, "succeeded"
	if err != nil {
		state, result = rewind.StateFailed, "failed"
		if outcome == "" {
			outcome = rewind.ErrorMessage(err)
		} else if msg := rewind.ErrorMessage(err); rewind.ErrorCode(err) != rewind.EINTERNAL && msg != outcome {
			outcome = msg + " " + outcome
		}
		r.log.Warn("rollback failed", "request", req.ID, "err", err)
	}
	ev := r.event(ctx, t, rewind.ActionResult, result)
	ev.Detail = outcome
	if _, err := r.store.Move(ctx, req.ID, []rewind.State{rewind.StateRunning}, state, outcome, &ev); err != nil {
		r.log.Error("record rollback result", "request", req.ID, "err", err)
	}
}

// reconcile settles, each in the background, the running requests that this
// runner does not follow: those left by a stop, or whose target could not be
// read in an earlier round.
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
		t, err := r.store.Target(ctx, req.TargetID)
		if err != nil {
			continue
		}
		ex, ok := r.executors[t.Kind]
		if !ok {
			continue
		}
		r.goTrack(req.ID, func() {
			var v *rewind.Version
			if req.VersionID != 0 {
				v, _ = r.store.Version(ctx, req.VersionID)
			}
			state, outcome, err := ex.Reconcile(ctx, req, t, v)
			if err != nil {
				// The target cannot be read now; the next round tries again.
				r.log.Warn("reconcile rollback", "request", req.ID, "err", err)
				return
			}
			var ferr error
			if state == rewind.StateRunning {
				f, ok := ex.(rewind.Follower)
				if !ok {
					return
				}
				outcome, ferr = f.Follow(ctx, req, t, v, r.progress(ctx, req.ID))
				if ctx.Err() != nil {
					return // stopping again; the next start checks once more
				}
			} else if state != rewind.StateSucceeded {
				ferr = errors.New(outcome)
			}
			r.finish(ctx, req, t, ferr, "Checked after Rewind stopped during the rollback: "+outcome)
		})
	}
}

// progress returns a function that records the progress of request id.
func (r *Runner) progress(ctx context.Context, id int64) func(string) {
	return func(s string) {
		if err := r.store.SetOutcome(context.WithoutCancel(ctx), id, s); err != nil {
			r.log.Warn("record progress", "request", id, "err", err)
		}
	}
}

// event builds an audit event about target t by the system.
func (r *Runner) event(ctx context.Context, t *rewind.Target, action, outcome string) rewind.AuditEvent {
	ev := rewind.AuditEvent{Actor: "rewind", Action: action, TargetKind: t.Kind, Target: t.Label(), Outcome: outcome}
	if env, err := r.store.Environment(ctx, t.EnvironmentID); err == nil {
		ev.Environment = env.Name
	}
	return ev
}
