package rewind

import "time"

// Audit actions.
const (
	ActionLogin          = "login"
	ActionLoginFailed    = "login.failed"
	ActionLogout         = "logout"
	ActionRequest        = "rollback.request"
	ActionApprove        = "rollback.approve"
	ActionReject         = "rollback.reject"
	ActionCancel         = "rollback.cancel"
	ActionExecute        = "rollback.execute"
	ActionResult         = "rollback.result"
	ActionRetry          = "rollback.retry"
	ActionSkip           = "rollback.skip"
	ActionReplan         = "rollback.replan"
	ActionUserChange     = "user.change"
	ActionUserDisable    = "user.disable"
	ActionSettingsChange = "settings.change"
	ActionReveal         = "secret.reveal"

	ActionWorkflowChange = "workflow.change"
	ActionWorkflowDelete = "workflow.delete"
	ActionReleaseStart   = "release.start"
	ActionReleaseFinish  = "release.finish"
	ActionReleaseFail    = "release.fail"
	ActionReleaseBlock   = "release.block"
	ActionReleaseUnblock = "release.unblock"
)

// AuditEvent is an append-only record of who did what, when, to which target,
// with the outcome. It never holds a secret.
type AuditEvent struct {
	ID          int64
	At          time.Time
	Actor       string
	Action      string
	Environment string
	TargetKind  TargetKind
	Target      string // the target's label
	RequestID   int64
	Outcome     string // "ok", "denied", "failed", ...
	Detail      string
}

// AuditFilter selects audit events; zero fields match everything.
type AuditFilter struct {
	Actor       string
	Environment string
	// Environments, when not nil, keeps the events of these environments
	// only (none when empty; events of no environment are left out): those
	// the reader sees.
	Environments []string
	Target       string // matches part of the target label
	From, To     time.Time
	Offset       int
	Limit        int
}

// Audit actions of releases that a plan records.
const (
	ActionReleaseRolledBack = "release.rolled_back"
)
