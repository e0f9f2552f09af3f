package rewind

import "context"

// Executor carries out the steps of requests for one kind of target.
type Executor interface {
	// Execute runs step s of request r: it brings target t back to version
	// v (v is nil for SQL, whose statements are in s.Payload). It returns
	// the outcome in words; a non-nil error means the step failed, and the
	// outcome then says what state the target is in. progress reports
	// intermediate states.
	Execute(ctx context.Context, r *Request, s *Step, t *Target, v *Version, progress func(string)) (outcome string, err error)
	// Reconcile decides the end of a step found running when Rewind
	// starts, from the target's actual state. It returns StepSucceeded or
	// StepFailed and the outcome in words, or StepRunning when the change
	// is still rolling out (see Follower). An error means the target could
	// not be read; the caller tries again later.
	Reconcile(ctx context.Context, r *Request, s *Step, t *Target, v *Version) (StepState, string, error)
}

// Follower is an Executor that can follow a change still rolling out after
// Reconcile, to its end, like the end of Execute.
type Follower interface {
	Follow(ctx context.Context, r *Request, s *Step, t *Target, v *Version, progress func(string)) (outcome string, err error)
}
