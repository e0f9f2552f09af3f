// Package plans builds the plans of rollbacks that span several targets:
// rolling a release back (to the state before it, or to an earlier release
// of its workflow) and undoing the done steps of a failed plan. Each step is
// planned by the planner of its target's kind, next to its executor; this
// package orders the steps, applies the requester's choices and submits the
// plan through the request use cases, so that pages and API share it.
package plans

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rewindhq/rewind/internal/dbchange"
	"github.com/rewindhq/rewind/internal/releases"
	"github.com/rewindhq/rewind/internal/requests"
	"github.com/rewindhq/rewind/internal/rewind"
)

// Store is what plans need of the history store.
type Store interface {
	Target(ctx context.Context, id int64) (*rewind.Target, error)
	Version(ctx context.Context, id int64) (*rewind.Version, error)
	LatestVersion(ctx context.Context, targetID int64) (*rewind.Version, error)
	VersionAt(ctx context.Context, targetID int64, at time.Time) (*rewind.Version, error)
	Request(ctx context.Context, id int64) (*rewind.Request, error)
	Release(ctx context.Context, id int64) (*rewind.Release, error)
	Releases(ctx context.Context, workflow int64) ([]rewind.ReleaseSummary, error)
	VersionsBefore(ctx context.Context, release int64) (map[int64]*rewind.Version, error)
}

// Service builds and submits plans.
type Service struct {
	store    Store
	planners map[rewind.TargetKind]rewind.Planner
	releases *releases.Service
	requests *requests.Service
}

// New returns the plan use cases over store, planning each kind of target
// with its planner (a kind without one cannot be planned here).
func New(store Store, planners map[rewind.TargetKind]rewind.Planner, rel *releases.Service, req *requests.Service) *Service {
	return &Service{store: store, planners: planners, releases: rel, requests: req}
}

// Plan is a plan as the requester sees it before submitting it: every step
// the rollback needs, in the default order, including those that need no
// run (already there) and those that cannot run (blocked).
type Plan struct {
	Release  *releases.ReleaseDetail
	To       *rewind.Release // the earlier release to return to; nil for the state before Release
	Steps    []Step
	Warnings []string
	// Hash fingerprints the steps as planned (targets, versions, what was
	// seen); a submitted plan must match the plan built again at submission.
	Hash string
}

// Step is one planned step.
type Step struct {
	// Key names the step within the plan: "t<target ID>" for a service or
	// config, "sql<version ID>" for the undoing of a SQL change.
	Key    string
	Target *rewind.Target
	*rewind.StepPlan
}

// Runnable reports whether the step can be part of the submitted plan.
func (s Step) Runnable() bool { return !s.AlreadyThere && s.Blocked == "" }

// ReleaseRollback plans bringing every target release id touched back to its
// state before the release, or, when to is not 0, to its state at the end of
// that earlier release of the same workflow. It changes nothing.
func (s *Service) ReleaseRollback(ctx context.Context, a requests.Actor, id, to int64) (*Plan, error) {
	d, err := s.releases.Release(ctx, a, id)
	if err != nil {
		return nil, err
	}
	if d.Release.State == rewind.ReleaseOpen {
		return nil, rewind.Errorf(rewind.ECONFLICT, "Release %s is still open; finish or fail it before rolling it back.", d.Release.Name)
	}
	p := &Plan{Release: d}
	spans := []*rewind.Release{d.Release}
	if to != 0 {
		if p.To, spans, err = s.span(ctx, d, to); err != nil {
			return nil, err
		}
	}
	// For each service and config, the state before the earliest release
	// of the span that touched it, or to an earlier release its state at
	// that release's end (changes made between it and the next release
	// are undone too); every SQL change of the span, undone newest first.
	goals := map[int64]rewind.Goal{}
	var order []int64
	var changes []*rewind.Version
	for _, r := range spans {
		before, err := s.store.VersionsBefore(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		for _, it := range r.Items {
			t, err := s.store.Target(ctx, it.TargetID)
			if err != nil {
				return nil, err
			}
			if t.Kind == rewind.KindDatabase {
				v, err := s.store.Version(ctx, it.VersionID)
				if err != nil {
					return nil, err
				}
				changes = append(changes, v)
				continue
			}
			if _, ok := goals[t.ID]; ok {
				continue
			}
			order = append(order, t.ID)
			b := before[t.ID]
			if p.To != nil && p.To.FinishedAt != nil {
				if b, err = s.store.VersionAt(ctx, t.ID, *p.To.FinishedAt); rewind.ErrorCode(err) == rewind.ENOTFOUND {
					b = nil
				} else if err != nil {
					return nil, err
				}
			}
			if b != nil {
				goals[t.ID] = rewind.Goal{To: b}
			} else if v, err := s.store.Version(ctx, it.VersionID); err == nil {
				goals[t.ID] = rewind.Goal{To: v, Absent: true}
			} else {
				return nil, err
			}
		}
	}
	for i := len(order) - 1; i >= 0; i-- { // the last target the release changed first
		id := order[i]
		t, err := s.store.Target(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := s.add(ctx, p, "t"+strconv.FormatInt(id, 10), t, goals[id]); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(changes, func(x, y *rewind.Version) int { return cmp.Compare(y.ID, x.ID) })
	changes = withoutUndone(p, changes)
	for _, v := range changes {
		t, err := s.store.Target(ctx, v.TargetID)
		if err != nil {
			return nil, err
		}
		if err := s.add(ctx, p, "sql"+strconv.FormatInt(v.ID, 10), t, rewind.Goal{To: v}); err != nil {
			return nil, err
		}
	}
	sortSteps(p.Steps)
	p.Hash = hashOf(p.Steps)
	return p, nil
}

// withoutUndone drops, of SQL changes sorted newest first, each rollback
// whose change is among them, with that change: a span that holds a
// release and its rollback holds both, and together they changed nothing
// (undoing the rollback alone would run the change again). It says so in
// p's warnings.
func withoutUndone(p *Plan, changes []*rewind.Version) []*rewind.Version {
	in := map[int64]*rewind.Version{}
	for _, v := range changes {
		in[v.ID] = v
	}
	drop := map[int64]bool{}
	for _, v := range changes {
		of, err := strconv.ParseInt(v.Meta["of_version"], 10, 64)
		if err != nil || v.Meta["kind"] != rewind.SQLKindRollback || in[of] == nil || drop[v.ID] || drop[of] {
			continue
		}
		drop[v.ID], drop[of] = true, true
		p.Warnings = append(p.Warnings, fmt.Sprintf("SQL change version %d was undone by version %d within these releases: neither needs a step.", in[of].Number, v.Number))
	}
	out := changes[:0]
	for _, v := range changes {
		if !drop[v.ID] {
			out = append(out, v)
		}
	}
	return out
}

// span returns release to of d's workflow and the releases after it up to
// d's, earliest first: the releases a rollback to it undoes.
func (s *Service) span(ctx context.Context, d *releases.ReleaseDetail, to int64) (*rewind.Release, []*rewind.Release, error) {
	target, err := s.store.Release(ctx, to)
	if err != nil {
		return nil, nil, err
	}
	if target.WorkflowID != d.Release.WorkflowID || target.Number >= d.Release.Number {
		return nil, nil, rewind.Errorf(rewind.EINVALID, "Choose an earlier release of workflow %s to return to.", d.Workflow.Name)
	}
	all, err := s.store.Releases(ctx, d.Release.WorkflowID)
	if err != nil {
		return nil, nil, err
	}
	var out []*rewind.Release
	for _, sum := range all {
		if n := sum.Release.Number; n > target.Number && n <= d.Release.Number {
			r, err := s.store.Release(ctx, sum.Release.ID)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, r)
		}
	}
	// Earliest first, so that each target's goal is the state before the
	// earliest release of the span that touched it.
	slices.SortFunc(out, func(x, y *rewind.Release) int { return cmp.Compare(x.Number, y.Number) })
	return target, out, nil
}

// add plans the step of key on target t towards g and appends it to p.
func (s *Service) add(ctx context.Context, p *Plan, key string, t *rewind.Target, g rewind.Goal) error {
	pl, ok := s.planners[t.Kind]
	if !ok {
		p.Warnings = append(p.Warnings, fmt.Sprintf("%s %s cannot be planned by this Rewind: its kind is not served here.", t.Kind, t.Label()))
		return nil
	}
	sp, err := pl.PlanStep(ctx, t, g)
	if err != nil {
		return fmt.Errorf("plan step on %s: %w", t.Label(), err)
	}
	if t.Kind != rewind.KindDatabase {
		if cur, err := s.store.LatestVersion(ctx, t.ID); err == nil {
			sp.Current = cur
			sp.Step.BaseVersionID = cur.ID
		}
	}
	p.Steps = append(p.Steps, Step{Key: key, Target: t, StepPlan: sp})
	return nil
}

// sortSteps puts steps in the default order, the reverse of a release:
// services, then configs, then SQL, each kind already newest first.
func sortSteps(steps []Step) {
	rank := map[rewind.TargetKind]int{rewind.KindService: 0, rewind.KindConfig: 1, rewind.KindDatabase: 2}
	slices.SortStableFunc(steps, func(x, y Step) int { return cmp.Compare(rank[x.Target.Kind], rank[y.Target.Kind]) })
}

// hashOf fingerprints planned steps: what each would do and what it saw.
func hashOf(steps []Step) string {
	h := sha256.New()
	for _, st := range steps {
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00%q\x00%q\x00%t\x00%q\n", st.Key, st.Step.VersionID, st.Step.BaseVersionID, st.Step.Expected,
			st.Step.Payload, st.AlreadyThere, st.Blocked)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Choice is what the requester decides on a plan: the steps to run, in
// order (keys; a step left out is unticked), rollback SQL typed for SQL
// steps, the data IDs typed to confirm deletions, and the reason.
type Choice struct {
	Keys     []string
	SQL      map[string]string // by key: typed rollback SQL instead of the generated one
	Confirm  map[string]string // by key: the typed confirmation
	Reason   string
	SeenHash string // Plan.Hash of the plan the requester saw
}

// Submit asks for plan p as the requester chose it. The plan is the one the
// requester saw (SeenHash), or nothing is asked: any change of a target
// since then sends the requester back to the plan.
func (s *Service) Submit(ctx context.Context, a requests.Actor, p *Plan, ch Choice) (*rewind.Request, error) {
	n, err := chosen(p, ch)
	if err != nil {
		return nil, err
	}
	return s.requests.Create(ctx, a, n)
}

// Of makes p the plan of request id as it stands: a step blocked only
// because request id itself already does it is not blocked.
func (p *Plan) Of(id int64) {
	for i := range p.Steps {
		if st := p.Steps[i].StepPlan; st.OpenRequest == id {
			st.Blocked, st.OpenRequest = "", 0
		}
	}
	p.Hash = hashOf(p.Steps)
}

// Replan gives request id, a release's rollback not yet running, the plan p
// (made the plan of id by Of) as the requester now chose it. Its approvals then no longer count: it
// needs approving again.
func (s *Service) Replan(ctx context.Context, a requests.Actor, id int64, p *Plan, ch Choice) (*rewind.Request, error) {
	r, err := s.store.Request(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.ReleaseID != p.Release.Release.ID || r.Kind != rewind.RequestRollback {
		return nil, rewind.Errorf(rewind.EINVALID, "Request #%d does not roll back release %s.", id, p.Release.Release.Name)
	}
	n, err := chosen(p, ch)
	if err != nil {
		return nil, err
	}
	n.Detail = "plan changed: " + n.Detail
	return s.requests.Replan(ctx, a, id, n)
}

// chosen is the request the requester's choice ch makes of plan p.
func chosen(p *Plan, ch Choice) (requests.NewRequest, error) {
	if ch.SeenHash != p.Hash {
		return requests.NewRequest{}, rewind.Errorf(rewind.ECONFLICT, "The targets changed since the plan was shown; check the plan again, then submit.")
	}
	byKey := map[string]Step{}
	for _, st := range p.Steps {
		byKey[st.Key] = st
	}
	seen := map[string]bool{}
	n := requests.NewRequest{Kind: rewind.RequestRollback, Reason: ch.Reason}
	if p.Release != nil {
		n.ReleaseID = p.Release.Release.ID
	}
	if p.To != nil {
		n.ToReleaseID = p.To.ID
	}
	var untouched []string
	for _, key := range ch.Keys {
		st, ok := byKey[key]
		if !ok || seen[key] {
			return requests.NewRequest{}, rewind.Errorf(rewind.EINVALID, "The plan has no step %q, or names it twice.", key)
		}
		seen[key] = true
		step := st.Step
		typed := strings.TrimSpace(ch.SQL[key])
		switch {
		case st.AlreadyThere:
			return requests.NewRequest{}, rewind.Errorf(rewind.EINVALID, "%s needs no step: it is already there.", st.Target.Label())
		case typed != "" && st.Target.Kind == rewind.KindDatabase:
			var err error
			if step, err = dbchange.WithSQL(st.StepPlan, typed); err != nil {
				return requests.NewRequest{}, err
			}
			if st.Blocked != "" && !st.NeedsSQL {
				return requests.NewRequest{}, rewind.Errorf(rewind.EINVALID, "Step on %s cannot run: %s", st.Target.Label(), st.Blocked)
			}
		case st.Blocked != "":
			return requests.NewRequest{}, rewind.Errorf(rewind.EINVALID, "Step on %s cannot run: %s Untick it.", st.Target.Label(), st.Blocked)
		}
		if st.Confirm != "" && strings.TrimSpace(ch.Confirm[key]) != st.Confirm {
			return requests.NewRequest{}, rewind.Errorf(rewind.EINVALID, "Type the data ID %s to confirm its deletion.", st.Confirm)
		}
		n.Steps = append(n.Steps, requests.NewStep{Target: st.Target, To: st.To, Base: st.Current, Expected: step.Expected, Payload: step.Payload, Detail: step.Detail})
		if st.Target.Kind == rewind.KindDatabase {
			n.Steps[len(n.Steps)-1].To, n.Steps[len(n.Steps)-1].Base = nil, nil
		}
	}
	for _, st := range p.Steps {
		if st.Runnable() && !seen[st.Key] {
			untouched = append(untouched, st.Target.Label())
		}
	}
	if len(n.Steps) == 0 {
		return requests.NewRequest{}, rewind.Errorf(rewind.EINVALID, "Tick at least one step: the plan has nothing to do.")
	}
	if p.Release != nil {
		rel := p.Release.Workflow.Name + "/" + p.Release.Release.Name
		n.Detail = fmt.Sprintf("roll back release %s (%d steps)", rel, len(n.Steps))
		if p.To != nil {
			n.Detail = fmt.Sprintf("roll back release %s to %s (%d steps)", rel, p.To.Name, len(n.Steps))
		}
	}
	if len(untouched) > 0 {
		n.Detail += "; left out by the requester: " + strings.Join(untouched, ", ")
	}
	return n, nil
}

// Undo plans a new rollback that undoes the done steps of failed plan id,
// newest first: each service and config back to the version its step found,
// each SQL step undone with the rollback generated from its saved rows.
func (s *Service) Undo(ctx context.Context, a requests.Actor, id int64) (*Plan, *rewind.Request, error) {
	r, err := s.store.Request(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if !a.Sees(r.EnvironmentID) {
		return nil, nil, rewind.Errorf(rewind.ENOTFOUND, "Request not found.")
	}
	if r.State != rewind.StateFailed {
		return nil, nil, rewind.Errorf(rewind.ECONFLICT, "Request #%d is %s; only the done steps of a failed plan can be undone.", r.ID, r.State)
	}
	p := &Plan{}
	for i := len(r.Steps) - 1; i >= 0; i-- {
		st := r.Steps[i]
		if st.State != rewind.StepSucceeded {
			continue
		}
		t, err := s.store.Target(ctx, st.TargetID)
		if err != nil {
			return nil, nil, err
		}
		key := "t" + strconv.FormatInt(t.ID, 10)
		var g rewind.Goal
		switch {
		case t.Kind == rewind.KindDatabase && st.ResultVersionID != 0:
			key = "sql" + strconv.FormatInt(st.ResultVersionID, 10)
			if g.To, err = s.store.Version(ctx, st.ResultVersionID); err != nil {
				return nil, nil, err
			}
		case t.Kind != rewind.KindDatabase && st.BaseVersionID != 0:
			if g.To, err = s.store.Version(ctx, st.BaseVersionID); err != nil {
				return nil, nil, err
			}
		default:
			p.Warnings = append(p.Warnings, fmt.Sprintf("Step %d on %s recorded nothing to go back to; undo it by hand.", st.Position, t.Label()))
			continue
		}
		if err := s.add(ctx, p, key, t, g); err != nil {
			return nil, nil, err
		}
	}
	p.Hash = hashOf(p.Steps)
	return p, r, nil
}

// SubmitUndo asks for plan p, built by Undo for failed request of, as the
// requester chose it; the new request needs approving like any other.
func (s *Service) SubmitUndo(ctx context.Context, a requests.Actor, of *rewind.Request, p *Plan, ch Choice) (*rewind.Request, error) {
	n, err := chosen(p, ch)
	if err != nil {
		return nil, err
	}
	n.Detail = fmt.Sprintf("undo the done steps of request #%d (%d steps)", of.ID, len(n.Steps))
	return s.requests.Create(ctx, a, n)
}
