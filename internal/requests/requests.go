// Package requests holds Rewind's use cases for requests: creating a rollback
// request or SQL change, deciding on it, and cancelling it. Each use case owns
// its rule, its transaction and its audit event, so that the pages, the API
// and the CLI (through the API) share one copy of them.
//
// A request is a plan of ordered steps under one reason and one approval;
// Create is the one door through which requests are made.
package requests

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/rewindhq/rewind/internal/rewind"
)

// Store is what the use cases need of the history store. The SQLite store
// implements it; each write runs in one transaction with its audit event.
type Store interface {
	Request(ctx context.Context, id int64) (*rewind.Request, error)
	Target(ctx context.Context, id int64) (*rewind.Target, error)
	Environment(ctx context.Context, id int64) (*rewind.Environment, error)
	CreateRequest(ctx context.Context, r *rewind.Request, ev rewind.AuditEvent) error
	Decide(ctx context.Context, id int64, u rewind.User, approve bool, comment string, ev rewind.AuditEvent) (*rewind.Request, error)
	Move(ctx context.Context, id int64, from []rewind.State, next rewind.State, outcome string, ev *rewind.AuditEvent) (*rewind.Request, error)
	Resume(ctx context.Context, id, stepID int64, skip bool, note string, ev rewind.AuditEvent) (*rewind.Request, error)
	ReplacePlan(ctx context.Context, id int64, steps []rewind.Step, ev rewind.AuditEvent) (*rewind.Request, error)
}

// Runner is told when a request may have become approved.
type Runner interface{ Wake() }

// Actor is who acts: a logged-in user, or a user (or pipeline) through an
// API token.
type Actor struct {
	User rewind.User
	// Token is the name of the API token used, empty for a browser session.
	Token string
	// ReadOnly is true for a token that may only read.
	ReadOnly bool
	// Environments, when not empty, are the only environments (by ID) the
	// actor may act in: a service token bound to environments.
	Environments []int64
}

// Name is how the actor appears in the audit trail: the username, or for a
// token "token:NAME (USER)", or "token:NAME" for a service token.
func (a Actor) Name() string {
	if a.Token == "" {
		return a.User.Username
	}
	if a.User.Username == "token:"+a.Token {
		return a.User.Username
	}
	return "token:" + a.Token + " (" + a.User.Username + ")"
}

// RoleIn returns the actor's role in environment env: the user's (or
// service token's) role there, none outside a token's environments, at most
// viewer for a read-only token.
func (a Actor) RoleIn(env int64) rewind.Role {
	if len(a.Environments) > 0 && !slices.Contains(a.Environments, env) {
		return rewind.RoleNone
	}
	r := a.User.RoleIn(env)
	if a.ReadOnly && r.Valid() {
		return rewind.RoleViewer
	}
	return r
}

// Sees reports whether the actor may read what belongs to environment env.
func (a Actor) Sees(env int64) bool { return a.RoleIn(env).Valid() }

// Reaches reports whether the actor has at least role min in some
// environment: whether a page or API route that needs min may be useful to
// them at all. What they may do to one target is May's to say.
func (a Actor) Reaches(min rewind.Role) bool {
	if a.ReadOnly && min != rewind.RoleViewer {
		return false
	}
	if len(a.Environments) == 0 {
		return a.User.Reaches(min)
	}
	for _, env := range a.Environments {
		if a.RoleIn(env).Allows(min) {
			return true
		}
	}
	return false
}

// May checks that the actor may act in environment env with role min.
func (a Actor) May(min rewind.Role, env int64) error {
	if a.ReadOnly && min != rewind.RoleViewer {
		return rewind.Errorf(rewind.EFORBIDDEN, "This token is read-only.")
	}
	r := a.RoleIn(env)
	switch {
	case !r.Valid() && len(a.Environments) > 0:
		return rewind.Errorf(rewind.EFORBIDDEN, "This token may not act in this environment.")
	case !r.Valid():
		return rewind.Errorf(rewind.EFORBIDDEN, "You have no role in this environment.")
	case !r.Allows(min):
		return rewind.Errorf(rewind.EFORBIDDEN, "This needs the %s role in this environment; you are %s there.", min, r)
	}
	return nil
}

// Service runs the request use cases.
type Service struct {
	store  Store
	runner Runner
}

// New returns the request use cases over store, waking runner when a
// request may be ready to run.
func New(store Store, runner Runner) *Service { return &Service{store: store, runner: runner} }

// NewRequest is what a requester asks for: a plan of Steps under one
// Reason, in the environment of the steps' targets.
type NewRequest struct {
	Kind   rewind.RequestKind // RequestRollback when empty
	Steps  []NewStep
	Reason string
	// ReleaseID is, for a SQL change, the release it belongs to; for a
	// rollback, the release it rolls back, to the state before it or to
	// ToReleaseID.
	ReleaseID, ToReleaseID int64
	// Detail says for the audit trail what is asked, without secrets; the
	// reason is appended to it. A one-step plan defaults to its step's.
	Detail string
}

// NewStep is one step asked for: bring Target to version To (nil for SQL),
// having seen Base and, of the live target, Expected.
type NewStep struct {
	Target   *rewind.Target
	To       *rewind.Version // nil for a SQL change or SQL rollback
	Base     *rewind.Version // the current version the requester saw; may be nil
	Expected string          // a resourceVersion or md5 the execution insists on
	Payload  string          // kind-specific data, such as the SQL
	Detail   string          // what the step does, in words, without secrets
}

// step is the stored form of n.
func (n NewStep) step() rewind.Step {
	st := rewind.Step{TargetID: n.Target.ID, Expected: n.Expected, Payload: n.Payload, Detail: n.Detail}
	if n.To != nil {
		st.VersionID = n.To.ID
		if st.Detail == "" {
			st.Detail = "to version " + strconv.FormatInt(n.To.Number, 10)
		}
	}
	if n.Base != nil {
		st.BaseVersionID = n.Base.ID
	}
	return st
}

// Create stores a new request under the environment's policy, audits it
// and wakes the runner. It checks the role, the reason, that every step's
// target is in one environment, and the policy.
func (s *Service) Create(ctx context.Context, a Actor, n NewRequest) (*rewind.Request, error) {
	if len(n.Steps) == 0 {
		return nil, rewind.Errorf(rewind.EINVALID, "The plan has no steps: there is nothing to do.")
	}
	first := n.Steps[0].Target
	for i, st := range n.Steps {
		if st.Target == nil {
			return nil, rewind.Errorf(rewind.EINVALID, "Choose the target of step %d.", i+1)
		}
		if st.Target.EnvironmentID != first.EnvironmentID {
			return nil, rewind.Errorf(rewind.EINVALID, "Every step of a plan acts in one environment; step %d does not.", i+1)
		}
	}
	if err := a.May(rewind.RoleOperator, first.EnvironmentID); err != nil {
		return nil, err
	}
	reason, err := rewind.ValidateReason(n.Reason)
	if err != nil {
		return nil, err
	}
	env, err := s.store.Environment(ctx, first.EnvironmentID)
	if err != nil {
		return nil, fmt.Errorf("request on %s: %w", first.Label(), err)
	}
	kind := n.Kind
	if kind == "" {
		kind = rewind.RequestRollback
	}
	r := &rewind.Request{Kind: kind, EnvironmentID: env.ID, ReleaseID: n.ReleaseID, ToReleaseID: n.ToReleaseID,
		Requester: a.User.Username, Reason: reason, RequiredApprovals: env.RequiredApprovals}
	for _, st := range n.Steps {
		r.Steps = append(r.Steps, st.step())
	}
	detail := n.Detail
	if detail == "" && len(r.Steps) == 1 {
		detail = r.Steps[0].Detail
	}
	ev := rewind.AuditEvent{Actor: a.Name(), Action: rewind.ActionRequest, Environment: env.Name, Outcome: "ok", Detail: detail + ": " + reason}
	ev.TargetKind, ev.Target = planTarget(n.Steps)
	if err := s.store.CreateRequest(ctx, r, ev); err != nil {
		return nil, fmt.Errorf("request on %s: %w", ev.Target, err)
	}
	s.runner.Wake()
	return r, nil
}

// planTarget names what a plan acts on in the audit trail: its target, or
// "plan of N steps".
func planTarget(steps []NewStep) (rewind.TargetKind, string) {
	if len(steps) == 1 {
		return steps[0].Target.Kind, steps[0].Target.Label()
	}
	return "", fmt.Sprintf("plan of %d steps", len(steps))
}

// Decide records an approval or a rejection of request id. The requester
// never decides their own request; a rejection needs a comment. An approval
// binds to the plan as it is now.
func (s *Service) Decide(ctx context.Context, a Actor, id int64, approve bool, comment string) (*rewind.Request, error) {
	comment = strings.TrimSpace(comment)
	r, ev, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := a.May(rewind.RoleApprover, r.EnvironmentID); err != nil {
		return nil, err
	}
	if _, err := r.Decide(a.User, approve, comment); err != nil {
		return nil, err
	}
	ev.Actor, ev.Action, ev.Outcome, ev.Detail = a.Name(), rewind.ActionApprove, "approved", comment
	if !approve {
		ev.Action, ev.Outcome = rewind.ActionReject, "rejected"
	}
	r, err = s.store.Decide(ctx, id, a.User, approve, comment, ev)
	if err != nil {
		return nil, fmt.Errorf("decide request %d: %w", id, err)
	}
	if r.State == rewind.StateApproved {
		s.runner.Wake()
	}
	return r, nil
}

// Cancel withdraws request id before it runs; only its requester or an
// admin may.
func (s *Service) Cancel(ctx context.Context, a Actor, id int64) (*rewind.Request, error) {
	r, ev, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := a.May(rewind.RoleOperator, r.EnvironmentID); err != nil {
		return nil, err
	}
	if err := r.CanCancel(a.User); err != nil {
		return nil, err
	}
	ev.Actor, ev.Action, ev.Outcome = a.Name(), rewind.ActionCancel, "cancelled"
	r, err = s.store.Move(ctx, id, []rewind.State{rewind.StatePending, rewind.StateApproved}, rewind.StateCancelled, "Cancelled by "+a.Name()+".", &ev)
	if err != nil {
		return nil, fmt.Errorf("cancel request %d: %w", id, err)
	}
	return r, nil
}

// Retry runs the failed step of a failed plan again, then the steps after
// it. The plan is the one approved, so it needs no new approval; the
// executor checks again that the target is as the plan expects.
func (s *Service) Retry(ctx context.Context, a Actor, id int64) (*rewind.Request, error) {
	return s.resume(ctx, a, id, false, "")
}

// Skip marks the failed step of a failed plan skipped, with the reason,
// and goes on with the steps after it.
func (s *Service) Skip(ctx context.Context, a Actor, id int64, reason string) (*rewind.Request, error) {
	reason, err := rewind.ValidateReason(reason)
	if err != nil {
		return nil, rewind.Errorf(rewind.EINVALID, "Say why the step is skipped.")
	}
	return s.resume(ctx, a, id, true, reason)
}

func (s *Service) resume(ctx context.Context, a Actor, id int64, skip bool, note string) (*rewind.Request, error) {
	r, ev, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := a.May(rewind.RoleOperator, r.EnvironmentID); err != nil {
		return nil, err
	}
	if err := r.CanResume(a.User); err != nil {
		return nil, err
	}
	failed := r.Failed()
	ev.Actor, ev.Action, ev.Outcome = a.Name(), rewind.ActionRetry, "ok"
	ev.Detail = fmt.Sprintf("Step %d of %d run again.", failed.Position, len(r.Steps))
	if skip {
		ev.Action, ev.Detail = rewind.ActionSkip, fmt.Sprintf("Step %d of %d skipped: %s", failed.Position, len(r.Steps), note)
	}
	r, err = s.store.Resume(ctx, id, failed.ID, skip, note, ev)
	if err != nil {
		return nil, fmt.Errorf("resume request %d: %w", id, err)
	}
	s.runner.Wake()
	return r, nil
}

// Replan gives request id, not yet running, the plan of n's steps, with
// n.Detail saying what changed. Only its requester (or an admin) may; the
// approvals given stay recorded but count only for the plan they saw, so
// a request that needs approval is pending again.
func (s *Service) Replan(ctx context.Context, a Actor, id int64, n NewRequest) (*rewind.Request, error) {
	r, ev, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := a.May(rewind.RoleOperator, r.EnvironmentID); err != nil {
		return nil, err
	}
	if err := r.CanCancel(a.User); err != nil {
		return nil, rewind.Errorf(rewind.ErrorCode(err), "%s", strings.Replace(rewind.ErrorMessage(err), "cancel a request", "change a plan", 1))
	}
	if len(n.Steps) == 0 {
		return nil, rewind.Errorf(rewind.EINVALID, "Tick at least one step: the plan has nothing to do.")
	}
	var steps []rewind.Step
	for _, st := range n.Steps {
		if st.Target == nil || st.Target.EnvironmentID != r.EnvironmentID {
			return nil, rewind.Errorf(rewind.EINVALID, "Every step of a plan acts in the request's environment.")
		}
		steps = append(steps, st.step())
	}
	if rewind.PlanHash(renumber(steps)) == r.PlanHash {
		return r, nil // the same plan: nothing changes, the approvals hold
	}
	ev.Actor, ev.Action, ev.Outcome, ev.Detail = a.Name(), rewind.ActionReplan, "ok", n.Detail
	r, err = s.store.ReplacePlan(ctx, id, steps, ev)
	if err != nil {
		return nil, fmt.Errorf("change the plan of request %d: %w", id, err)
	}
	s.runner.Wake()
	return r, nil
}

// renumber gives steps their positions, as the store will.
func renumber(steps []rewind.Step) []rewind.Step {
	for i := range steps {
		steps[i].Position = i + 1
	}
	return steps
}

// load reads request id and the audit event that names what it acts on:
// its target, or for a plan of several steps the plan.
func (s *Service) load(ctx context.Context, id int64) (*rewind.Request, rewind.AuditEvent, error) {
	r, err := s.store.Request(ctx, id)
	if err != nil {
		return nil, rewind.AuditEvent{}, err
	}
	ev := rewind.AuditEvent{Target: fmt.Sprintf("plan of %d steps", len(r.Steps))}
	if len(r.Steps) == 1 {
		t, err := s.store.Target(ctx, r.First().TargetID)
		if err != nil {
			return nil, ev, fmt.Errorf("request %d: %w", id, err)
		}
		ev.TargetKind, ev.Target = t.Kind, t.Label()
	}
	if e, err := s.store.Environment(ctx, r.EnvironmentID); err == nil {
		ev.Environment = e.Name
	}
	return r, ev, nil
}
