// Package requests holds Rewind's use cases for requests: creating a rollback
// request or SQL change, deciding on it, and cancelling it. Each use case owns
// its rule, its transaction and its audit event, so that the pages, the API
// and the CLI (through the API) share one copy of them.
//
// A request acts today on one target. The plans of issue 9 (ordered steps,
// one approval) grow from NewRequest: it becomes a list of steps under one
// reason, and Create stays the one door through which requests are made.
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
	Request(ctx context.Context, id int64) (*rewind.RollbackRequest, error)
	Target(ctx context.Context, id int64) (*rewind.Target, error)
	Environment(ctx context.Context, id int64) (*rewind.Environment, error)
	CreateRequest(ctx context.Context, r *rewind.RollbackRequest, ev rewind.AuditEvent) error
	Decide(ctx context.Context, id int64, u rewind.User, approve bool, comment string, ev rewind.AuditEvent) (*rewind.RollbackRequest, error)
	Move(ctx context.Context, id int64, from []rewind.State, next rewind.State, outcome string, ev *rewind.AuditEvent) (*rewind.RollbackRequest, error)
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

// Sees reports whether the actor may read what belongs to environment env:
// a token bound to environments sees only those.
func (a Actor) Sees(env int64) bool {
	return len(a.Environments) == 0 || slices.Contains(a.Environments, env)
}

// may checks that the actor may write in environment env with role min.
func (a Actor) may(min rewind.Role, env int64) error {
	if a.ReadOnly {
		return rewind.Errorf(rewind.EFORBIDDEN, "This token is read-only.")
	}
	if !a.User.Role.Allows(min) {
		return rewind.Errorf(rewind.EFORBIDDEN, "This needs the %s role; you are %s.", min, a.User.Role)
	}
	if !a.Sees(env) {
		return rewind.Errorf(rewind.EFORBIDDEN, "This token may not act in this environment.")
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

// NewRequest is what a requester asks for: bring Target to version To (nil
// for SQL), having seen Base and, of the live target, Expected.
type NewRequest struct {
	Target   *rewind.Target
	To       *rewind.Version // nil for a SQL change or SQL rollback
	Base     *rewind.Version // the current version the requester saw; may be nil
	Reason   string
	Expected string // a resourceVersion or md5 the execution insists on
	Payload  string // kind-specific data, such as the SQL
	// Detail says for the audit trail what is asked, without secrets; the
	// reason is appended to it.
	Detail string
}

// Create stores a new request under the environment's policy, audits it
// and wakes the runner. It checks the role, the reason and the policy.
func (s *Service) Create(ctx context.Context, a Actor, n NewRequest) (*rewind.RollbackRequest, error) {
	if n.Target == nil {
		return nil, rewind.Errorf(rewind.EINVALID, "Choose the target.")
	}
	if err := a.may(rewind.RoleOperator, n.Target.EnvironmentID); err != nil {
		return nil, err
	}
	reason, err := rewind.ValidateReason(n.Reason)
	if err != nil {
		return nil, err
	}
	env, err := s.store.Environment(ctx, n.Target.EnvironmentID)
	if err != nil {
		return nil, fmt.Errorf("request on %s: %w", n.Target.Label(), err)
	}
	r := &rewind.RollbackRequest{TargetID: n.Target.ID, Requester: a.User.Username, Reason: reason, Expected: n.Expected,
		RequiredApprovals: env.RequiredApprovals, Payload: n.Payload}
	if n.To != nil {
		r.VersionID = n.To.ID
	}
	if n.Base != nil {
		r.BaseVersionID = n.Base.ID
	}
	detail := n.Detail
	if detail == "" && n.To != nil {
		detail = "to version " + strconv.FormatInt(n.To.Number, 10)
	}
	ev := rewind.AuditEvent{Actor: a.Name(), Action: rewind.ActionRequest, Environment: env.Name, TargetKind: n.Target.Kind,
		Target: n.Target.Label(), Outcome: "ok", Detail: detail + ": " + reason}
	if err := s.store.CreateRequest(ctx, r, ev); err != nil {
		return nil, fmt.Errorf("request on %s: %w", n.Target.Label(), err)
	}
	s.runner.Wake()
	return r, nil
}

// Decide records an approval or a rejection of request id. The requester
// never decides their own request; a rejection needs a comment.
func (s *Service) Decide(ctx context.Context, a Actor, id int64, approve bool, comment string) (*rewind.RollbackRequest, error) {
	comment = strings.TrimSpace(comment)
	r, t, env, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := a.may(rewind.RoleApprover, t.EnvironmentID); err != nil {
		return nil, err
	}
	if _, err := r.Decide(a.User, approve, comment); err != nil {
		return nil, err
	}
	action, outcome := rewind.ActionApprove, "approved"
	if !approve {
		action, outcome = rewind.ActionReject, "rejected"
	}
	ev := rewind.AuditEvent{Actor: a.Name(), Action: action, Environment: env, TargetKind: t.Kind, Target: t.Label(), Outcome: outcome, Detail: comment}
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
func (s *Service) Cancel(ctx context.Context, a Actor, id int64) (*rewind.RollbackRequest, error) {
	r, t, env, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := a.may(rewind.RoleOperator, t.EnvironmentID); err != nil {
		return nil, err
	}
	if err := r.CanCancel(a.User); err != nil {
		return nil, err
	}
	ev := rewind.AuditEvent{Actor: a.Name(), Action: rewind.ActionCancel, Environment: env, TargetKind: t.Kind, Target: t.Label(), Outcome: "cancelled"}
	r, err = s.store.Move(ctx, id, []rewind.State{rewind.StatePending, rewind.StateApproved}, rewind.StateCancelled, "Cancelled by "+a.Name()+".", &ev)
	if err != nil {
		return nil, fmt.Errorf("cancel request %d: %w", id, err)
	}
	return r, nil
}

func (s *Service) load(ctx context.Context, id int64) (*rewind.RollbackRequest, *rewind.Target, string, error) {
	r, err := s.store.Request(ctx, id)
	if err != nil {
		return nil, nil, "", err
	}
	t, err := s.store.Target(ctx, r.TargetID)
	if err != nil {
		return nil, nil, "", fmt.Errorf("request %d: %w", id, err)
	}
	env := ""
	if e, err := s.store.Environment(ctx, t.EnvironmentID); err == nil {
		env = e.Name
	}
	return r, t, env, nil
}
