package rewind

import "time"

// Audit action of the retention that removes old versions.
const ActionRetention = "retention.prune"

// Retention says which old versions of one kind of target an admin lets
// Rewind remove. Versions are kept forever unless a retention is set. A
// version is removed only when it is older than KeepDays (if set) AND not
// among the newest KeepVersions of its target (if set), and never when a
// request or a release refers to it, when a release's rollback would return
// to it, or when it is its target's newest version.
type Retention struct {
	KeepDays     int // 0: age does not matter
	KeepVersions int // 0: how many are kept does not matter
}

// Set reports whether the retention removes anything at all.
func (r Retention) Set() bool { return r.KeepDays > 0 || r.KeepVersions > 0 }

// Cutoff is the time before which a version is old enough to be removed.
func (r Retention) Cutoff(now time.Time) time.Time {
	if r.KeepDays <= 0 {
		return now
	}
	return now.AddDate(0, 0, -r.KeepDays)
}

// RetentionKinds lists the kinds of target a retention may be set for. A
// database's versions are SQL changes, each part of a request, so none
// could ever be removed.
var RetentionKinds = []TargetKind{KindService, KindConfig}

// VersionCount is how many versions of one kind of target, from one
// source, the store holds.
type VersionCount struct {
	Kind   TargetKind
	Source Source
	Count  int64
}

// RequestCount is how many requests of one type and kind (the one kind of
// all their targets, "release" for a release's rollback, or "mixed") one
// environment has in one state.
type RequestCount struct {
	Type        RequestKind
	Kind        string
	Environment string
	State       State
	Count       int64
}
