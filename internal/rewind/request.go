package rewind

import (
	"strings"
	"time"
	"unicode/utf8"
)

// MaxTextLen is how many characters a reason or a comment may have.
const MaxTextLen = 2000

// State is where a rollback request is in its lifecycle.
type State string

// The states of the lifecycle: pending → approved → running → succeeded | failed,
// or pending → rejected | cancelled.
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

// Final reports whether no further step follows s.
func (s State) Final() bool { return len(transitions[s]) == 0 }

// RollbackRequest is a request to bring a target back to a version, or for a
// database to run rollback SQL.
type RollbackRequest struct {
	ID        int64
	TargetID  int64
	VersionID int64 // the version to bring back; 0 for SQL
	// BaseVersionID is the current version the requester saw when asking.
	BaseVersionID int64
	State         State
	Requester     string
	Reason        string
	// Expected is what the requester saw of the live target: a Kubernetes
	// resourceVersion, a Nacos md5. Execution is refused if it changed.
	Expected          string
	RequiredApprovals int
	Approvals         []Approval
	// Outcome says what happened and what state the target is in, in words.
	Outcome string
	// ResultVersionID is the version the rollback made, once recorded.
	ResultVersionID int64
	// Payload holds kind-specific data, such as rollback SQL.
	Payload    string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
}

// Approval is one approver's yes or no on a rollback request.
type Approval struct {
	ID        int64
	RequestID int64
	Approver  string
	Approve   bool
	Comment   string
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

// Approvals counts the yes votes on r.
func (r *RollbackRequest) approvalCount() int {
	n := 0
	for _, a := range r.Approvals {
		if a.Approve {
			n++
		}
	}
	return n
}

// Decide applies an approver's decision to a pending request and returns the
// state the request moves to (which may stay pending while more approvals are
// needed). It does not change r.
func (r *RollbackRequest) Decide(u User, approve bool, comment string) (State, error) {
	if !u.Role.Allows(RoleApprover) {
		return "", Errorf(EFORBIDDEN, "Only an approver or admin can approve or reject a rollback request.")
	}
	if r.State != StatePending {
		return "", Errorf(ECONFLICT, "This request is %s; it no longer takes approvals.", r.State)
	}
	if u.Username == r.Requester {
		return "", Errorf(EFORBIDDEN, "You cannot approve or reject your own request.")
	}
	for _, a := range r.Approvals {
		if a.Approver == u.Username {
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
func (r *RollbackRequest) CanCancel(u User) error {
	if r.State != StatePending && r.State != StateApproved {
		return Errorf(ECONFLICT, "This request is %s; it can no longer be cancelled.", r.State)
	}
	if u.Username != r.Requester && u.Role != RoleAdmin {
		return Errorf(EFORBIDDEN, "Only the requester or an admin can cancel a request.")
	}
	return nil
}
