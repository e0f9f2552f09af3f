package rewind

import "context"

// Planner says, for one kind of target, what a step would do before anyone
// asks for it: the step to store, what the target holds now, and the
// pre-flight checks. It reads the target and changes nothing. Each kind's
// planner lives next to its executor.
type Planner interface {
	PlanStep(ctx context.Context, t *Target, g Goal) (*StepPlan, error)
}

// Goal is what a step is to achieve on its target.
type Goal struct {
	// To is the version to bring back; for a database, the SQL change to
	// undo (the step runs its rollback SQL).
	To *Version
	// Absent says the target did not exist before: the step removes it (a
	// config is deleted; a workload is never deleted by Rewind). To is then
	// the version that created it.
	Absent bool
}

// StepPlan is one planned step and what the requester needs to judge it.
type StepPlan struct {
	// Step is ready to store: target, version, what was seen (Expected),
	// payload and detail.
	Step Step
	// Current is the recorded version the target holds now; To the version
	// the step brings back (for SQL, the change it undoes).
	Current, To *Version
	// Checks are the pre-flight checks, each passed or not.
	Checks []Check
	// AlreadyThere says the target already holds the version: no step.
	AlreadyThere bool
	// Blocked says why the step cannot run; "" when it can.
	Blocked string
	// Warnings are facts the requester must see, such as a config the
	// release created, whose rollback deletes it.
	Warnings []string
	// Confirm is what the requester must type to allow the step, such as
	// the data ID of a config the step deletes; "" for none.
	Confirm string
	// Rows is, for SQL, how many saved rows the rollback restores.
	Rows int
	// NeedsSQL says a SQL step can run only with rollback SQL the requester
	// types: Rewind generated none (Blocked says why).
	NeedsSQL bool
	// OpenRequest is the open request that already does this step, which
	// blocks it (unless that request's own plan is being changed).
	OpenRequest int64
}

// Check is one pre-flight check of a step.
type Check struct {
	Name    string // what is checked, such as "reachable"
	OK      bool
	Message string
}

// Failed returns the first check that did not pass, or nil.
func (p *StepPlan) Failed() *Check {
	for i := range p.Checks {
		if !p.Checks[i].OK {
			return &p.Checks[i]
		}
	}
	return nil
}
