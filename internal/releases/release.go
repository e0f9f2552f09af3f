package releases

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/rewindhq/rewind/internal/rewind"
)

// State is where a release stands in its workflow's version list.
type State string

// The states of the version list (docs/releases.md).
const (
	StateOpen       State = "open"        // its pipeline runs (TimedOut past the timeout)
	StateFailed     State = "failed"      // the pipeline said so
	StateRolledBack State = "rolled back" // a plan rolled it back
	StateCurrent    State = "current"     // the newest succeeded release not rolled back
	StateSuperseded State = "superseded"  // an older succeeded release
)

// Status is a release's state in its workflow's version list, with the
// marks that go with it.
type Status struct {
	State    State
	TimedOut bool // open past its workflow's release timeout
	Rollback bool // made by a rollback plan ("a rollback")
	Drifted  bool // current, and a workflow target changed since
	Blocked  bool // its name is blocked
	Stable   bool // the newest succeeded pipeline release, not rolled back nor blocked
}

// Labels are the words the pages show for st, state first.
func (st Status) Labels() []string {
	first := string(st.State)
	if st.TimedOut {
		first = "open, timed out"
	}
	out := []string{first}
	for _, m := range []struct {
		on   bool
		word string
	}{{st.Rollback, "a rollback"}, {st.Drifted, "drifted"}, {st.Blocked, "blocked"}, {st.Stable, "stable"}} {
		if m.on {
			out = append(out, m.word)
		}
	}
	return out
}

// String joins the labels: "current · drifted · stable".
func (st Status) String() string { return strings.Join(st.Labels(), " · ") }

// ReleaseView is a release in its workflow's version list.
type ReleaseView struct {
	Release *rewind.Release
	Counts  rewind.ItemCounts
	Status  Status
}

// Releases lists a workflow's releases newest first, each with its item
// counts and status.
func (s *Service) Releases(ctx context.Context, a Actor, workflow int64) ([]ReleaseView, error) {
	w, _, err := s.workflow(ctx, a, workflow)
	if err != nil {
		return nil, err
	}
	return s.releaseViews(ctx, w)
}

func (s *Service) releaseViews(ctx context.Context, w *rewind.Workflow) ([]ReleaseView, error) {
	sums, err := s.store.Releases(ctx, w.ID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]ReleaseView, len(sums))
	current, stable := -1, false
	for i, sum := range sums {
		r := sum.Release
		st := Status{Rollback: r.RollbackOf != 0, Blocked: r.Blocked()}
		rolledBack := false
		if r.RolledBackBy != 0 {
			state, err := s.store.RequestState(ctx, r.RolledBackBy)
			if err != nil && rewind.ErrorCode(err) != rewind.ENOTFOUND {
				return nil, err
			}
			rolledBack = state == rewind.StateSucceeded
		}
		switch {
		case r.State == rewind.ReleaseOpen:
			st.State, st.TimedOut = StateOpen, r.TimedOut(w.ReleaseTimeout, now)
		case rolledBack: // a failed release too, once a plan rolled it back
			st.State = StateRolledBack
		case r.State == rewind.ReleaseFailed:
			st.State = StateFailed
		case current < 0:
			st.State, current = StateCurrent, i
		default:
			st.State = StateSuperseded
		}
		if !stable && r.State == rewind.ReleaseSucceeded && r.RollbackOf == 0 && !rolledBack && !st.Blocked {
			st.Stable, stable = true, true
		}
		out[i] = ReleaseView{Release: r, Counts: sum.Counts, Status: st}
	}
	if current >= 0 {
		drifted, err := s.drifted(ctx, w, out, current)
		if err != nil {
			return nil, err
		}
		out[current].Status.Drifted = drifted
	}
	return out, nil
}

// drifted reports whether a workflow target changed since the current
// release views[current]: an unreleased change after it, or the items of a
// failed release after it.
func (s *Service) drifted(ctx context.Context, w *rewind.Workflow, views []ReleaseView, current int) (bool, error) {
	cur := views[current].Release
	for _, v := range views[:current] {
		if v.Status.State == StateFailed && v.Counts.Total() > 0 {
			return true, nil
		}
	}
	newest, _, err := s.store.UnreleasedChanges(ctx, w.ID, 0, 1)
	if err != nil {
		return false, err
	}
	return len(newest) > 0 && cur.FinishedAt != nil && newest[0].CreatedAt.After(*cur.FinishedAt), nil
}

// Item is one item of a release, with what it needs to be shown: its
// target, its version, and the target's version before the release (nil
// when the release created the target).
type Item struct {
	Target  *rewind.Target
	Version *rewind.Version
	Before  *rewind.Version
	How     rewind.ItemHow
}

// ReleaseDetail is one release with its workflow, status and items.
type ReleaseDetail struct {
	ReleaseView
	Workflow    *rewind.Workflow
	Environment *rewind.Environment
	// Items are ordered by kind (services, configs, SQL), then target and version.
	Items []Item
}

// Release returns release id with its items, if a sees its workflow.
func (s *Service) Release(ctx context.Context, a Actor, id int64) (*ReleaseDetail, error) {
	r, err := s.store.Release(ctx, id)
	if err != nil {
		return nil, err
	}
	w, env, err := s.workflowOf(ctx, a, r)
	if err != nil {
		return nil, err
	}
	views, err := s.releaseViews(ctx, w)
	if err != nil {
		return nil, err
	}
	d := &ReleaseDetail{Workflow: w, Environment: env}
	for _, v := range views {
		if v.Release.ID == id {
			d.ReleaseView = v
		}
	}
	d.Release = r // with its items
	before, err := s.store.VersionsBefore(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, it := range r.Items {
		t, err := s.store.Target(ctx, it.TargetID)
		if err != nil {
			return nil, err
		}
		v, err := s.store.Version(ctx, it.VersionID)
		if err != nil {
			return nil, err
		}
		d.Items = append(d.Items, Item{Target: t, Version: v, Before: before[t.ID], How: it.How})
	}
	rank := map[rewind.TargetKind]int{rewind.KindService: 0, rewind.KindConfig: 1, rewind.KindDatabase: 2}
	slices.SortStableFunc(d.Items, func(x, y Item) int {
		return cmp.Or(cmp.Compare(rank[x.Target.Kind], rank[y.Target.Kind]), cmp.Compare(x.Target.Label(), y.Target.Label()),
			cmp.Compare(x.Version.Number, y.Version.Number))
	})
	return d, nil
}

// workflowOf returns the workflow of release r and its environment, if a
// sees it; a release of a deleted workflow is not found.
func (s *Service) workflowOf(ctx context.Context, a Actor, r *rewind.Release) (*rewind.Workflow, *rewind.Environment, error) {
	w, env, err := s.workflow(ctx, a, r.WorkflowID)
	if rewind.ErrorCode(err) == rewind.ENOTFOUND {
		return nil, nil, rewind.Errorf(rewind.ENOTFOUND, "Release not found.")
	}
	return w, env, err
}

// Ref names a workflow (by ID, or by name and optionally environment) and
// optionally one of its releases by name, as a pipeline does.
type Ref struct {
	WorkflowID  int64
	Workflow    string
	Environment string
	Release     string
}

// FindWorkflow returns the workflow ref names among those a sees. Without
// an environment the name must be unique among them.
func (s *Service) FindWorkflow(ctx context.Context, a Actor, ref Ref) (*rewind.Workflow, error) {
	if ref.WorkflowID != 0 {
		w, _, err := s.workflow(ctx, a, ref.WorkflowID)
		return w, err
	}
	name, err := rewind.ValidateName("workflow", ref.Workflow)
	if err != nil {
		return nil, err
	}
	if ref.Environment != "" {
		env, err := s.store.EnvironmentByName(ctx, ref.Environment)
		if rewind.ErrorCode(err) == rewind.ENOTFOUND || err == nil && !a.Sees(env.ID) {
			return nil, rewind.Errorf(rewind.ENOTFOUND, "No environment named %q.", ref.Environment)
		} else if err != nil {
			return nil, err
		}
		w, err := s.store.WorkflowByName(ctx, env.ID, name)
		if rewind.ErrorCode(err) == rewind.ENOTFOUND {
			return nil, rewind.Errorf(rewind.ENOTFOUND, "No workflow named %q in %s.", name, env.Name)
		}
		return w, err
	}
	ws, err := s.Workflows(ctx, a, WorkflowFilter{Name: name})
	if err != nil {
		return nil, err
	}
	switch len(ws) {
	case 0:
		return nil, rewind.Errorf(rewind.ENOTFOUND, "No workflow named %q.", name)
	case 1:
		return ws[0].Workflow, nil
	}
	var envs []string
	for _, w := range ws {
		envs = append(envs, w.Environment.Name)
	}
	return nil, rewind.Errorf(rewind.EINVALID, "Workflow %q exists in %s; name the environment.", name, strings.Join(envs, " and "))
}

// releaseRef returns the workflow ref names and its release name, checked.
func (s *Service) releaseRef(ctx context.Context, a Actor, ref Ref) (*rewind.Workflow, string, error) {
	w, err := s.FindWorkflow(ctx, a, ref)
	if err != nil {
		return nil, "", err
	}
	name, err := rewind.ValidateName("release", ref.Release)
	return w, name, err
}

// FindRelease returns the newest release named ref.Release of the workflow
// ref names.
func (s *Service) FindRelease(ctx context.Context, a Actor, ref Ref) (*rewind.Release, error) {
	w, name, err := s.releaseRef(ctx, a, ref)
	if err != nil {
		return nil, err
	}
	r, err := s.store.ReleaseByName(ctx, w.ID, name)
	if rewind.ErrorCode(err) == rewind.ENOTFOUND {
		return nil, rewind.Errorf(rewind.ENOTFOUND, "Workflow %s has no release named %q.", w.Name, name)
	}
	return r, err
}

// NewRelease is what a pipeline gives when a release starts.
type NewRelease struct {
	Ref    // the workflow
	Name   string
	Commit string
	URL    string
}

// Start records the start of a release of a workflow; operators and admins
// (and pipelines with their tokens) may. One release of a workflow is open
// at a time, unless the open one is past its timeout.
func (s *Service) Start(ctx context.Context, a Actor, n NewRelease) (*rewind.Release, error) {
	name, err := rewind.ValidateName("release", n.Name)
	if err != nil {
		return nil, err
	}
	commit, err := ValidateCommit(n.Commit)
	if err != nil {
		return nil, err
	}
	link, err := ValidateURL(n.URL)
	if err != nil {
		return nil, err
	}
	w, err := s.FindWorkflow(ctx, a, n.Ref)
	if err != nil {
		return nil, err
	}
	if err := a.May(rewind.RoleOperator, w.EnvironmentID); err != nil {
		return nil, err
	}
	env, err := s.store.Environment(ctx, w.EnvironmentID)
	if err != nil {
		return nil, err
	}
	r := &rewind.Release{WorkflowID: w.ID, Name: name, Commit: commit, URL: link, StartedBy: a.Name()}
	detail := "started"
	if commit != "" {
		detail += "; commit " + commit
	}
	if link != "" {
		detail += "; " + link
	}
	ev := rewind.AuditEvent{Actor: a.Name(), Action: rewind.ActionReleaseStart, Environment: env.Name, Target: w.Name + " " + name, Outcome: "ok", Detail: detail}
	if err := s.store.StartRelease(ctx, r, ev); err != nil {
		return nil, err
	}
	return r, nil
}

// ItemRef names a version by its target and number, as a pipeline does
// (TARGET_ID@VERSION).
type ItemRef struct {
	TargetID int64
	Version  int64
}

// ParseItemRef reads "TARGET_ID@VERSION".
func ParseItemRef(s string) (ItemRef, error) {
	var r ItemRef
	t, v, ok := strings.Cut(strings.TrimSpace(s), "@")
	if _, err := fmt.Sscan(t, &r.TargetID); !ok || err != nil || r.TargetID < 1 {
		return r, rewind.Errorf(rewind.EINVALID, "An item is written TARGET_ID@VERSION, such as 12@7; %q is not.", s)
	}
	if _, err := fmt.Sscan(v, &r.Version); err != nil || r.Version < 1 {
		return r, rewind.Errorf(rewind.EINVALID, "An item is written TARGET_ID@VERSION, such as 12@7; %q is not.", s)
	}
	return r, nil
}

// Finish records that release id's pipeline succeeded; named versions
// become its items, then the versions observed in its window.
func (s *Service) Finish(ctx context.Context, a Actor, id int64, named []ItemRef) (*rewind.Release, error) {
	return s.end(ctx, a, id, rewind.ReleaseSucceeded, "", named)
}

// Fail records that release id's pipeline failed, with note; its items are
// observed as at a finish.
func (s *Service) Fail(ctx context.Context, a Actor, id int64, note string, named []ItemRef) (*rewind.Release, error) {
	return s.end(ctx, a, id, rewind.ReleaseFailed, note, named)
}

func (s *Service) end(ctx context.Context, a Actor, id int64, state rewind.ReleaseState, note string, named []ItemRef) (*rewind.Release, error) {
	note, err := validateText("note", note)
	if err != nil {
		return nil, err
	}
	r, w, env, err := s.writable(ctx, a, id)
	if err != nil {
		return nil, err
	}
	var versions []int64
	var names []string
	for _, it := range named {
		if !slices.Contains(w.TargetIDs, it.TargetID) {
			return nil, rewind.Errorf(rewind.EINVALID, "Target %d is not one of workflow %s's targets.", it.TargetID, w.Name)
		}
		v, err := s.store.VersionByNumber(ctx, it.TargetID, it.Version)
		if rewind.ErrorCode(err) == rewind.ENOTFOUND {
			return nil, rewind.Errorf(rewind.EINVALID, "Target %d has no version %d.", it.TargetID, it.Version)
		} else if err != nil {
			return nil, err
		}
		versions = append(versions, v.ID)
		names = append(names, fmt.Sprintf("%d@%d", it.TargetID, it.Version))
	}
	action, outcome := rewind.ActionReleaseFinish, "succeeded"
	if state == rewind.ReleaseFailed {
		action, outcome = rewind.ActionReleaseFail, "failed"
	}
	detail := outcome
	if len(names) > 0 {
		detail += "; named items " + strings.Join(names, ", ")
	}
	if note != "" {
		detail += ": " + note
	}
	ev := rewind.AuditEvent{Actor: a.Name(), Action: action, Environment: env.Name, Target: w.Name + " " + r.Name, Outcome: outcome, Detail: detail}
	return s.store.FinishRelease(ctx, id, state, note, versions, ev)
}

// writable loads release id, its workflow and environment, and checks that
// a may act on it.
func (s *Service) writable(ctx context.Context, a Actor, id int64) (*rewind.Release, *rewind.Workflow, *rewind.Environment, error) {
	r, err := s.store.Release(ctx, id)
	if err != nil {
		return nil, nil, nil, err
	}
	w, env, err := s.workflowOf(ctx, a, r)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := a.May(rewind.RoleOperator, w.EnvironmentID); err != nil {
		return nil, nil, nil, err
	}
	return r, w, env, nil
}

func blockReason(what, reason string) (string, error) {
	if strings.TrimSpace(reason) == "" {
		return "", rewind.Errorf(rewind.EINVALID, "Give a reason for the %s.", what)
	}
	return validateText("reason", reason)
}

// Block blocks release id's name, so that Check refuses it until someone
// unblocks it.
func (s *Service) Block(ctx context.Context, a Actor, id int64, reason string) (*rewind.Release, error) {
	reason, err := blockReason("block", reason)
	if err != nil {
		return nil, err
	}
	r, w, env, err := s.writable(ctx, a, id)
	if err != nil {
		return nil, err
	}
	ev := rewind.AuditEvent{Actor: a.Name(), Action: rewind.ActionReleaseBlock, Environment: env.Name, Target: w.Name + " " + r.Name, Outcome: "blocked", Detail: reason}
	return s.store.BlockRelease(ctx, id, a.Name(), reason, ev)
}

// Unblock lifts the block of release id, with a reason kept in the audit trail.
func (s *Service) Unblock(ctx context.Context, a Actor, id int64, reason string) (*rewind.Release, error) {
	reason, err := blockReason("unblock", reason)
	if err != nil {
		return nil, err
	}
	r, w, env, err := s.writable(ctx, a, id)
	if err != nil {
		return nil, err
	}
	ev := rewind.AuditEvent{Actor: a.Name(), Action: rewind.ActionReleaseUnblock, Environment: env.Name, Target: w.Name + " " + r.Name, Outcome: "unblocked",
		Detail: reason + " (blocked by " + r.BlockedBy + ": " + r.BlockReason + ")"}
	return s.store.UnblockRelease(ctx, id, ev)
}

// CheckResult says whether a release name may go out.
type CheckResult struct {
	Workflow *rewind.Workflow
	// Blocked is the release whose block refuses the name; nil when none.
	Blocked *rewind.Release
}

// Check reports whether release name ref.Release of the workflow ref names
// is blocked: CI refuses it then. A name without a release is not blocked.
func (s *Service) Check(ctx context.Context, a Actor, ref Ref) (*CheckResult, error) {
	w, name, err := s.releaseRef(ctx, a, ref)
	if err != nil {
		return nil, err
	}
	b, err := s.store.BlockedRelease(ctx, w.ID, name)
	if err != nil {
		return nil, err
	}
	return &CheckResult{Workflow: w, Blocked: b}, nil
}

// OpenRelease is a release open now, with its workflow.
type OpenRelease struct {
	Release  *rewind.Release
	Workflow *rewind.Workflow
}

// OpenReleasesFor lists the open releases (within their timeout) of the
// workflows holding target, newest first: those a SQL change on it may be
// attached to.
func (s *Service) OpenReleasesFor(ctx context.Context, a Actor, target int64) ([]OpenRelease, error) {
	t, err := s.store.Target(ctx, target)
	if err != nil {
		return nil, err
	}
	if !a.Sees(t.EnvironmentID) {
		return nil, rewind.Errorf(rewind.ENOTFOUND, "Target not found.")
	}
	rs, err := s.store.OpenReleasesFor(ctx, target)
	if err != nil {
		return nil, err
	}
	out := make([]OpenRelease, 0, len(rs))
	for _, r := range rs {
		w, err := s.store.Workflow(ctx, r.WorkflowID)
		if err != nil {
			return nil, err
		}
		out = append(out, OpenRelease{Release: r, Workflow: w})
	}
	return out, nil
}

// Attach makes version v (of a SQL change submitted with release id) an
// item of that release. The release must hold v's target.
func (s *Service) Attach(ctx context.Context, releaseID int64, v *rewind.Version) error {
	r, err := s.store.Release(ctx, releaseID)
	if err != nil {
		return err
	}
	w, err := s.store.Workflow(ctx, r.WorkflowID)
	if err != nil {
		return fmt.Errorf("release %d: %w", releaseID, err)
	}
	if !slices.Contains(w.TargetIDs, v.TargetID) {
		return rewind.Errorf(rewind.EINVALID, "Workflow %s does not hold this target; its release %s cannot take the change.", w.Name, r.Name)
	}
	return s.store.AddReleaseItem(ctx, releaseID, v.ID, rewind.ItemAttached)
}

// Recorded is told of each new version of target t that a watcher
// recorded, with the release its pod template names (annotation
// rewind.dev/release, "WORKFLOW/NAME"; empty when none). A named release
// of a workflow of t's environment that holds t gets it (how annotation);
// else a finished release whose window holds its time, when it was
// recorded late. A version made by a Rewind rollback joins none. It returns the release's ID, or 0: the version stays an
// unreleased change, or an open release observes it.
func (s *Service) Recorded(ctx context.Context, t *rewind.Target, v *rewind.Version, annotation string) (int64, error) {
	if v.Source == rewind.SourceRollback {
		// A rollback to an annotated template names the release rolled
		// back to, not one this version belongs to; the plan records it.
		return 0, nil
	}
	if id, err := s.store.ReleaseOfVersion(ctx, v.ID); err != nil || id != 0 {
		return id, err
	}
	if wf, name, ok := rewind.ParseReleaseRef(annotation); ok {
		w, err := s.store.WorkflowByName(ctx, t.EnvironmentID, wf)
		switch {
		case rewind.ErrorCode(err) == rewind.ENOTFOUND:
		case err != nil:
			return 0, err
		case slices.Contains(w.TargetIDs, t.ID):
			r, err := s.store.ReleaseByName(ctx, w.ID, name)
			if rewind.ErrorCode(err) == rewind.ENOTFOUND {
				break
			} else if err != nil {
				return 0, err
			}
			if err := s.store.AddReleaseItem(ctx, r.ID, v.ID, rewind.ItemAnnotation); err != nil {
				return 0, err
			}
			return r.ID, nil
		}
	}
	return s.store.AttachLate(ctx, v)
}
