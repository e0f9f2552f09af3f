package rewind

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxTextLen is how many characters a reason or a comment may have.
const MaxTextLen = 2000

// State is where a rollback request is in its lifecycle.
type State string

// The states of the lifecycle: pending → approved → running → succeeded | failed,
// or pending → rejected | cancelled. A failed plan goes back to approved (its
// approval holds: the plan is unchanged) when its requester retries or skips
// the failed step.
const (
	StatePending   State = "pending"
	StateApproved  State = "approved"
	StateRunning   State = "running"
	StateSucceeded State = "succeeded"
	StateFailed    State = "failed"
	StateRejected  State = "rejected"
	StateCancelled State = "cancelled"
)

var transitions = map[State][]State{
	StatePending:  {StateApproved, StateRejected, StateCancelled},
	StateApproved: {StateRunning, StateCancelled},
	StateRunning:  {StateSucceeded, StateFailed},
	StateFailed:   {StateApproved},
}

// CanMoveTo reports whether the lifecycle allows going from s to next.
func (s State) CanMoveTo(next State) bool {
	for _, n := range transitions[s] {
		if n == next {
			return true
		}
	}
	return false
}

// Final reports whether the request has ended in s: nothing more runs
// unless its requester resumes a failed plan.
func (s State) Final() bool { return s == StateFailed || len(transitions[s]) == 0 }

// RequestKind says whether a request rolls back or changes: a rollback (of
// targets, or of a release) or a SQL change.
type RequestKind string

// The kinds of request.
const (
	RequestRollback RequestKind = "rollback"
	RequestChange   RequestKind = "change"
)

// Request is anything that waits for approval and then acts on targets: a
// rollback request or a SQL change. What it does is its plan, the ordered
// Steps, each on one target; a single-target request is a plan of one step.
type Request struct {
	ID            int64
	Kind          RequestKind
	EnvironmentID int64
	// ReleaseID is, for a SQL change, the release it belongs to; for a
	// rollback, the release it rolls back. ToReleaseID is the earlier
	// release such a rollback returns to (0: the state before ReleaseID).
	ReleaseID         int64
	ToReleaseID       int64
	State             State
	Requester         string
	Reason            string
	RequiredApprovals int
	// PlanHash fingerprints the steps; an approval counts only for the plan
	// it saw (Approval.PlanHash), so any change to the plan needs approving again.
	PlanHash  string
	Approvals []Approval
	Steps     []Step
	// Outcome says what happened and what state the targets are in, in words.
	Outcome    string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
}

// StepState is where one step of a plan is.
type StepState string

// The states of a step: waiting → running → succeeded | failed, or skipped.
const (
	StepWaiting   StepState = "waiting"
	StepRunning   StepState = "running"
	StepSucceeded StepState = "succeeded"
	StepFailed    StepState = "failed"
	StepSkipped   StepState = "skipped"
)

// Step is one step of a plan: bring TargetID to version VersionID (0 for SQL,
// whose statements are in Payload).
type Step struct {
	ID        int64
	RequestID int64
	Position  int // from 1, the order in which steps run
	TargetID  int64
	VersionID int64 // the version to bring back; 0 for SQL
	// BaseVersionID is the current version the requester saw when asking.
	BaseVersionID int64
	// Expected is what the requester saw of the live target: a Kubernetes
	// resourceVersion, a Nacos md5. Execution is refused if it changed.
	Expected string
	// Payload holds kind-specific data, such as the SQL or a config restore.
	Payload string
	// Detail says what the step does, in words, without secrets.
	Detail  string
	State   StepState
	Outcome string
	// Note is why the step was skipped.
	Note string
	// ResultVersionID is the version the step made, once recorded.
	ResultVersionID int64
	// Attempts counts the runs of the step (a retry adds one).
	Attempts   int
	StartedAt  *time.Time
	FinishedAt *time.Time
}

// First is the first step of the plan: the whole plan of a single-target
// request. A request always has at least one step.
func (r *Request) First() *Step {
	if len(r.Steps) == 0 {
		return &Step{}
	}
	return &r.Steps[0]
}

// Done counts the steps that succeeded or were skipped.
func (r *Request) Done() int {
	n := 0
	for _, s := range r.Steps {
		if s.State == StepSucceeded || s.State == StepSkipped {
			n++
		}
	}
	return n
}

// Failed returns the step that failed, or nil.
func (r *Request) Failed() *Step {
	for i := range r.Steps {
		if r.Steps[i].State == StepFailed {
			return &r.Steps[i]
		}
	}
	return nil
}

// PlanHash fingerprints steps: their targets, versions, what was seen and
// what they carry, in order. Two plans with the same hash do the same.
func PlanHash(steps []Step) string {
	h := sha256.New()
	for _, s := range steps {
		fmt.Fprintf(h, "%d\x00%d\x00%d\x00%d\x00%q\x00%q\n", s.Position, s.TargetID, s.VersionID, s.BaseVersionID, s.Expected, s.Payload)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Approval is one approver's yes or no on a rollback request.
type Approval struct {
	ID        int64
	RequestID int64
	Approver  string
	Approve   bool
	Comment   string
	// PlanHash is the plan the approver saw.
	PlanHash  string
	CreatedAt time.Time
}

// ValidateReason checks the reason given for a rollback request.
func ValidateReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return "", Errorf(EINVALID, "Give a reason for the rollback.")
	}
	if utf8.RuneCountInString(reason) > MaxTextLen {
		return "", Errorf(EINVALID, "A reason has at most %d characters; this one has %d.", MaxTextLen, utf8.RuneCountInString(reason))
	}
	return reason, nil
}

// approvalCount counts the yes votes on r's plan as it is now.
func (r *Request) approvalCount() int {
	n := 0
	for _, a := range r.Approvals {
		if a.Approve && a.PlanHash == r.PlanHash {
			n++
		}
	}
	return n
}

// Decide applies an approver's decision to a pending request and returns the
// state the request moves to (which may stay pending while more approvals are
// needed). It does not change r.
func (r *Request) Decide(u User, approve bool, comment string) (State, error) {
	if !u.RoleIn(r.EnvironmentID).Allows(RoleApprover) {
		return "", Errorf(EFORBIDDEN, "Only an approver or admin in this environment can approve or reject a request.")
	}
	if r.State != StatePending {
		return "", Errorf(ECONFLICT, "This request is %s; it no longer takes approvals.", r.State)
	}
	if u.Username == r.Requester {
		return "", Errorf(EFORBIDDEN, "You cannot approve or reject your own request.")
	}
	for _, a := range r.Approvals {
		if a.Approver == u.Username && a.PlanHash == r.PlanHash {
			return "", Errorf(ECONFLICT, "You have already decided on this request.")
		}
	}
	if utf8.RuneCountInString(comment) > MaxTextLen {
		return "", Errorf(EINVALID, "A comment has at most %d characters; this one has %d.", MaxTextLen, utf8.RuneCountInString(comment))
	}
	if !approve {
		if strings.TrimSpace(comment) == "" {
			return "", Errorf(EINVALID, "Say why you reject the request.")
		}
		return StateRejected, nil
	}
	if r.approvalCount()+1 >= r.RequiredApprovals {
		return StateApproved, nil
	}
	return StatePending, nil
}

// CanCancel reports whether user u may cancel r now.
func (r *Request) CanCancel(u User) error {
	if r.State != StatePending && r.State != StateApproved {
		return Errorf(ECONFLICT, "This request is %s; it can no longer be cancelled.", r.State)
	}
	if u.Username != r.Requester && u.RoleIn(r.EnvironmentID) != RoleAdmin {
		return Errorf(EFORBIDDEN, "Only the requester or an admin can cancel a request.")
	}
	return nil
}

// CanResume reports whether user u may retry or skip the failed step of r now.
func (r *Request) CanResume(u User) error {
	if r.State != StateFailed || r.Failed() == nil {
		return Errorf(ECONFLICT, "This request is %s; only a plan stopped at a failed step can go on.", r.State)
	}
	if u.Username != r.Requester && u.RoleIn(r.EnvironmentID) != RoleAdmin {
		return Errorf(EFORBIDDEN, "Only the requester or an admin can retry or skip a step.")
	}
	return nil
}
