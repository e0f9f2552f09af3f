package rewind

import "context"

// Executor carries out rollback requests for one kind of target.
type Executor interface {
	// Execute brings target t back to version v for request r (v is nil for
	// SQL, whose rollback is in r.Payload). It returns the outcome in words;
	// a non-nil error means the rollback failed, and the outcome then says
	// what state the target is in. progress reports intermediate states.
	Execute(ctx context.Context, r *RollbackRequest, t *Target, v *Version, progress func(string)) (outcome string, err error)
	// Reconcile decides the end of a request found running when Rewind
	// starts, from the target's actual state. It returns StateSucceeded or
	// StateFailed and the outcome in words, or StateRunning when the change
	// is still rolling out (see Follower). An error means the target could
	// not be read; the caller tries again later.
	Reconcile(ctx context.Context, r *RollbackRequest, t *Target, v *Version) (State, string, error)
}

// Follower is an Executor that can follow a change still rolling out after
// Reconcile, to its end, like the end of Execute.
type Follower interface {
	Follow(ctx context.Context, r *RollbackRequest, t *Target, v *Version, progress func(string)) (outcome string, err error)
}
