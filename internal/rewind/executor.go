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
	// starts, from the target's actual state; when the change is still rolling
	// out it follows it to its end first. It returns StateSucceeded or
	// StateFailed and the outcome in words.
	Reconcile(ctx context.Context, r *RollbackRequest, t *Target, v *Version) (State, string, error)
}
