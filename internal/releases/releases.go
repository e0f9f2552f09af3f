// Package releases holds Rewind's use cases for workflows and releases:
// defining a workflow, recording a release from a pipeline (start, finish,
// fail), attaching versions to it, blocking its name, and reading a
// workflow's version list with each release's status. Each write owns its
// rule, its transaction and its audit event, so that the pages, the API and
// the CLI (through the API) share one copy of them.
package releases

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rewindhq/rewind/internal/requests"
	"github.com/rewindhq/rewind/internal/rewind"
)

// Store is what the use cases need of the history store. The SQLite store
// implements it; each write runs in one transaction with its audit event.
type Store interface {
	Environment(ctx context.Context, id int64) (*rewind.Environment, error)
	EnvironmentByName(ctx context.Context, name string) (*rewind.Environment, error)
	Environments(ctx context.Context) ([]*rewind.Environment, error)
	Target(ctx context.Context, id int64) (*rewind.Target, error)
	Version(ctx context.Context, id int64) (*rewind.Version, error)
	VersionByNumber(ctx context.Context, targetID, number int64) (*rewind.Version, error)

	SaveWorkflow(ctx context.Context, w *rewind.Workflow, ev rewind.AuditEvent) error
	DeleteWorkflow(ctx context.Context, id int64, ev rewind.AuditEvent) error
	Workflow(ctx context.Context, id int64) (*rewind.Workflow, error)
	WorkflowByName(ctx context.Context, env int64, name string) (*rewind.Workflow, error)
	Workflows(ctx context.Context, env int64) ([]*rewind.Workflow, error)

	StartRelease(ctx context.Context, r *rewind.Release, ev rewind.AuditEvent) error
	FinishRelease(ctx context.Context, id int64, state rewind.ReleaseState, note string, named []int64, ev rewind.AuditEvent) (*rewind.Release, error)
	Release(ctx context.Context, id int64) (*rewind.Release, error)
	ReleaseByName(ctx context.Context, wf int64, name string) (*rewind.Release, error)
	BlockedRelease(ctx context.Context, wf int64, name string) (*rewind.Release, error)
	Releases(ctx context.Context, wf int64) ([]rewind.ReleaseSummary, error)
	BlockRelease(ctx context.Context, id int64, by, reason string, ev rewind.AuditEvent) (*rewind.Release, error)
	UnblockRelease(ctx context.Context, id int64, ev rewind.AuditEvent) (*rewind.Release, error)
	AddReleaseItem(ctx context.Context, releaseID, versionID int64, how rewind.ItemHow) error
	ReleaseOfVersion(ctx context.Context, versionID int64) (int64, error)
	AttachLate(ctx context.Context, v *rewind.Version) (int64, error)
	OpenReleasesFor(ctx context.Context, target int64) ([]*rewind.Release, error)
	UnreleasedChanges(ctx context.Context, wf int64, offset, limit int) ([]*rewind.Version, int, error)
	VersionsBefore(ctx context.Context, id int64) (map[int64]*rewind.Version, error)
	RequestState(ctx context.Context, id int64) (rewind.State, error)
}

// Service runs the workflow and release use cases.
type Service struct {
	store Store
	now   func() time.Time
}

// New returns the workflow and release use cases over store.
func New(store Store) *Service {
	return &Service{store: store, now: func() time.Time { return time.Now().UTC() }}
}

// Actor is who acts, as for requests.
type Actor = requests.Actor

// Bounds of what a pipeline gives.
const (
	MaxCommitLen = 64
	MaxURLLen    = 2000
	MinTimeout   = time.Minute
	MaxTimeout   = 7 * 24 * time.Hour
)

// ValidateCommit checks a commit: hexadecimal, at most MaxCommitLen
// characters; empty is allowed. It returns it in lower case.
func ValidateCommit(c string) (string, error) {
	c = strings.ToLower(strings.TrimSpace(c))
	if len(c) > MaxCommitLen {
		return "", rewind.Errorf(rewind.EINVALID, "A commit has at most %d hex digits; this one has %d characters.", MaxCommitLen, len(c))
	}
	for _, r := range c {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return "", rewind.Errorf(rewind.EINVALID, "A commit is written in hex digits (0-9, a-f), such as 9f3c2e1.")
		}
	}
	return c, nil
}

// ValidateURL checks a pipeline link: http or https, at most MaxURLLen
// characters; empty is allowed.
func ValidateURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if len(s) > MaxURLLen {
		return "", rewind.Errorf(rewind.EINVALID, "A link has at most %d characters.", MaxURLLen)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", rewind.Errorf(rewind.EINVALID, "The link is an http or https URL, such as https://ci.example.com/runs/42.")
	}
	return s, nil
}

func validateText(what, s string) (string, error) {
	s = strings.TrimSpace(s)
	if n := utf8.RuneCountInString(s); n > rewind.MaxTextLen {
		return "", rewind.Errorf(rewind.EINVALID, "A %s has at most %d characters; this one has %d.", what, rewind.MaxTextLen, n)
	}
	return s, nil
}

// ---- workflows

// WorkflowInput is a workflow as an operator defines it; ID 0 makes a new one.
type WorkflowInput struct {
	ID             int64
	Name           string
	EnvironmentID  int64
	Description    string
	ReleaseTimeout time.Duration // 0: DefaultReleaseTimeout
	TargetIDs      []int64
}

// SaveWorkflow creates or updates a workflow; operators and admins may. Its
// targets must be of its environment, which does not change.
func (s *Service) SaveWorkflow(ctx context.Context, a Actor, in WorkflowInput) (*rewind.Workflow, error) {
	name, err := rewind.ValidateName("workflow", in.Name)
	if err != nil {
		return nil, err
	}
	desc, err := validateText("description", in.Description)
	if err != nil {
		return nil, err
	}
	timeout := in.ReleaseTimeout
	if timeout == 0 {
		timeout = rewind.DefaultReleaseTimeout
	}
	if timeout < MinTimeout || timeout > MaxTimeout {
		return nil, rewind.Errorf(rewind.EINVALID, "A release timeout lies between %s and %s.", MinTimeout, MaxTimeout)
	}
	w := &rewind.Workflow{ID: in.ID, Name: name, EnvironmentID: in.EnvironmentID, Description: desc, ReleaseTimeout: timeout, CreatedBy: a.Name()}
	action := "created"
	if in.ID != 0 {
		old, err := s.store.Workflow(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		if !a.Sees(old.EnvironmentID) {
			return nil, rewind.Errorf(rewind.ENOTFOUND, "Workflow not found.")
		}
		if in.EnvironmentID != 0 && in.EnvironmentID != old.EnvironmentID {
			return nil, rewind.Errorf(rewind.EINVALID, "A workflow's environment does not change; make a new workflow instead.")
		}
		w.EnvironmentID, w.CreatedBy, w.CreatedAt, action = old.EnvironmentID, old.CreatedBy, old.CreatedAt, "changed"
	}
	if w.EnvironmentID == 0 {
		return nil, rewind.Errorf(rewind.EINVALID, "Choose the workflow's environment.")
	}
	if err := a.May(rewind.RoleOperator, w.EnvironmentID); err != nil {
		return nil, err
	}
	env, err := s.store.Environment(ctx, w.EnvironmentID)
	if rewind.ErrorCode(err) == rewind.ENOTFOUND {
		return nil, rewind.Errorf(rewind.EINVALID, "No environment with ID %d.", w.EnvironmentID)
	} else if err != nil {
		return nil, err
	}
	if len(in.TargetIDs) == 0 {
		return nil, rewind.Errorf(rewind.EINVALID, "Choose the targets the workflow releases.")
	}
	var labels []string
	for _, id := range in.TargetIDs {
		if slices.Contains(w.TargetIDs, id) {
			continue
		}
		t, err := s.store.Target(ctx, id)
		if rewind.ErrorCode(err) == rewind.ENOTFOUND {
			return nil, rewind.Errorf(rewind.EINVALID, "No target with ID %d.", id)
		} else if err != nil {
			return nil, err
		}
		if t.EnvironmentID != env.ID {
			return nil, rewind.Errorf(rewind.EINVALID, "Target %d (%s) is not in %s, the workflow's environment.", id, t.Label(), env.Name)
		}
		w.TargetIDs = append(w.TargetIDs, id)
		labels = append(labels, string(t.Kind)+" "+t.Label())
	}
	ev := rewind.AuditEvent{Actor: a.Name(), Action: rewind.ActionWorkflowChange, Environment: env.Name, Target: "workflow " + name, Outcome: "ok",
		Detail: fmt.Sprintf("%s; release timeout %s; targets: %s", action, timeout, strings.Join(labels, ", "))}
	if err := s.store.SaveWorkflow(ctx, w, ev); err != nil {
		return nil, err
	}
	return w, nil
}

// DeleteWorkflow removes a workflow from the lists; its releases stay on record.
func (s *Service) DeleteWorkflow(ctx context.Context, a Actor, id int64) error {
	w, env, err := s.workflow(ctx, a, id)
	if err != nil {
		return err
	}
	if err := a.May(rewind.RoleOperator, w.EnvironmentID); err != nil {
		return err
	}
	ev := rewind.AuditEvent{Actor: a.Name(), Action: rewind.ActionWorkflowDelete, Environment: env.Name, Target: "workflow " + w.Name, Outcome: "ok"}
	return s.store.DeleteWorkflow(ctx, id, ev)
}

// workflow returns workflow id and its environment, if a sees it.
func (s *Service) workflow(ctx context.Context, a Actor, id int64) (*rewind.Workflow, *rewind.Environment, error) {
	w, err := s.store.Workflow(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if !a.Sees(w.EnvironmentID) {
		return nil, nil, rewind.Errorf(rewind.ENOTFOUND, "Workflow not found.")
	}
	env, err := s.store.Environment(ctx, w.EnvironmentID)
	if err != nil {
		return nil, nil, fmt.Errorf("workflow %s: %w", w.Name, err)
	}
	return w, env, nil
}

// WorkflowFilter selects workflows; zero fields match all.
type WorkflowFilter struct {
	EnvironmentID int64
	Name          string
}

// Health says how a workflow stands, from its releases.
type Health string

// The health of a workflow.
const (
	HealthNone       Health = "no releases"
	HealthOK         Health = "ok"
	HealthReleasing  Health = "releasing"   // a release is open
	HealthTimedOut   Health = "timed out"   // a release is open past its timeout
	HealthFailed     Health = "failed"      // the newest release failed
	HealthDrifted    Health = "drifted"     // a target changed since the current release
	HealthBlocked    Health = "blocked"     // the current release is blocked
	HealthRolledBack Health = "rolled back" // no release is current: all rolled back
)

// WorkflowSummary is a workflow in the list of its environment.
type WorkflowSummary struct {
	Workflow    *rewind.Workflow
	Environment *rewind.Environment
	Targets     []*rewind.Target
	// Current, Stable and Open are nil when the workflow has none.
	Current, Stable, Open *ReleaseView
	Unreleased            int // how many unreleased changes
	Health                Health
}

// Workflows lists the workflows a sees, by environment and name, each with
// its current, stable and open release, unreleased changes and health.
func (s *Service) Workflows(ctx context.Context, a Actor, f WorkflowFilter) ([]WorkflowSummary, error) {
	ws, err := s.store.Workflows(ctx, f.EnvironmentID)
	if err != nil {
		return nil, err
	}
	var out []WorkflowSummary
	for _, w := range ws {
		if !a.Sees(w.EnvironmentID) || (f.Name != "" && w.Name != f.Name) {
			continue
		}
		sum, err := s.summary(ctx, w)
		if err != nil {
			return nil, err
		}
		out = append(out, *sum)
	}
	return out, nil
}

// Workflow returns one workflow with its summary.
func (s *Service) Workflow(ctx context.Context, a Actor, id int64) (*WorkflowSummary, error) {
	w, _, err := s.workflow(ctx, a, id)
	if err != nil {
		return nil, err
	}
	return s.summary(ctx, w)
}

func (s *Service) summary(ctx context.Context, w *rewind.Workflow) (*WorkflowSummary, error) {
	env, err := s.store.Environment(ctx, w.EnvironmentID)
	if err != nil {
		return nil, fmt.Errorf("workflow %s: %w", w.Name, err)
	}
	sum := &WorkflowSummary{Workflow: w, Environment: env}
	for _, id := range w.TargetIDs {
		t, err := s.store.Target(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("workflow %s: %w", w.Name, err)
		}
		sum.Targets = append(sum.Targets, t)
	}
	views, err := s.releaseViews(ctx, w)
	if err != nil {
		return nil, err
	}
	if _, sum.Unreleased, err = s.store.UnreleasedChanges(ctx, w.ID, 0, 1); err != nil {
		return nil, err
	}
	for i := range views {
		v := &views[i]
		switch {
		case v.Status.State == StateOpen && sum.Open == nil:
			sum.Open = v
		case v.Status.State == StateCurrent:
			sum.Current = v
		}
		if v.Status.Stable {
			sum.Stable = v
		}
	}
	sum.Health = health(views, sum)
	return sum, nil
}

func health(views []ReleaseView, sum *WorkflowSummary) Health {
	switch {
	case len(views) == 0:
		return HealthNone
	case sum.Open != nil && sum.Open.Status.TimedOut:
		return HealthTimedOut
	case sum.Open != nil:
		return HealthReleasing
	case views[0].Status.State == StateFailed:
		return HealthFailed
	case sum.Current == nil:
		return HealthRolledBack
	case sum.Current.Status.Drifted:
		return HealthDrifted
	case sum.Current.Status.Blocked:
		return HealthBlocked
	}
	return HealthOK
}

// Change is an unreleased change: a version of a workflow's target made
// outside any release.
type Change struct {
	Target  *rewind.Target
	Version *rewind.Version
}

// Unreleased returns one page of a workflow's unreleased changes, newest
// first, and how many there are.
func (s *Service) Unreleased(ctx context.Context, a Actor, workflow int64, offset, limit int) ([]Change, int, error) {
	if _, _, err := s.workflow(ctx, a, workflow); err != nil {
		return nil, 0, err
	}
	vs, total, err := s.store.UnreleasedChanges(ctx, workflow, offset, limit)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Change, 0, len(vs))
	for _, v := range vs {
		t, err := s.store.Target(ctx, v.TargetID)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, Change{Target: t, Version: v})
	}
	return out, total, nil
}
