package templates

import (
	"github.com/rewindhq/rewind/internal/diff"
	"github.com/rewindhq/rewind/internal/rewind"
)

// PlanView is the plan of a rollback that spans several targets, before it
// is asked for: a release's rollback, or the undoing of a failed plan.
type PlanView struct {
	CSRF   string
	Title  string
	Action string // where the form posts
	Hash   string // the plan as shown
	// Release, Workflow and Earlier are set for a release's rollback:
	// Earlier are the releases it may return to instead; To the chosen one.
	Release  *rewind.Release
	Workflow *rewind.Workflow
	Earlier  []*rewind.Release
	To       int64
	// Of is, for an undoing plan, the failed request whose steps it undoes.
	Of        int64
	Env       string
	Approvals int
	Steps     []PlanStepRow
	Warnings  []string
	Reason    string
	Error     string
}

// PlanStepRow is one step of a plan with what the requester needs to judge it.
type PlanStepRow struct {
	Key        string
	Target     *rewind.Target
	TargetPath string
	Plan       *rewind.StepPlan
	Diff       *diff.Result
	Images     []rewind.ImageChange
	// RollbackSQL is, for SQL, the start of the generated rollback SQL.
	RollbackSQL string
	// Ticked, Order, SQL and Confirmed are the requester's choice.
	Ticked    bool
	Order     int
	SQL       string
	Confirmed string
}

// Runnable reports whether the step may be ticked.
func (r PlanStepRow) Runnable() bool {
	return !r.Plan.AlreadyThere && (r.Plan.Blocked == "" || r.Plan.NeedsSQL)
}

// runnableCount counts the steps that will run as the plan is shown.
func runnableCount(v PlanView) int {
	n := 0
	for _, st := range v.Steps {
		if st.Ticked {
			n++
		}
	}
	return n
}
