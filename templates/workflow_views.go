package templates

import (
	"time"

	"github.com/rewindhq/rewind/internal/diff"
	"github.com/rewindhq/rewind/internal/rewind"
)

// WorkflowsView lists the workflows of every environment.
type WorkflowsView struct {
	Groups []WorkflowGroup
	// CanEdit shows the link to define a workflow (operators and admins).
	CanEdit bool
}

// WorkflowGroup is the workflows of one environment.
type WorkflowGroup struct {
	Env  string
	Rows []WorkflowRow
}

// WorkflowRow is one workflow in the workflows list.
type WorkflowRow struct {
	ID          int64
	Name        string
	Description string
	// Current is the release the targets are in now; nil before the first.
	Current *ReleaseRef
	// Open is the release running now, if any.
	Open *ReleaseRef
	// Health is how the workflow stands: "drifted", "open", "blocked",
	// "stable", "failed", ...; "" when no release is recorded yet.
	Health     string
	Unreleased int
	Targets    int
}

// ReleaseRef names a release from another page.
type ReleaseRef struct {
	ID     int64
	Number int64
	Name   string
	At     time.Time
}

// WorkflowView is a workflow's version list: its releases, newest first.
type WorkflowView struct {
	W        *rewind.Workflow
	Env      string
	Targets  []TargetRef
	Releases []ReleaseRow
	Nav      PageNav
	// Unreleased lists the versions of the workflow's targets made outside
	// any release, newest first; UnreleasedMore counts those left out.
	Unreleased     []UnreleasedRow
	UnreleasedMore int
	// Choices are the releases the compare form offers; CompareA and
	// CompareB are preselected.
	Choices            []ReleaseChoice
	CompareA, CompareB int64
	CanEdit            bool
	// CurrentID is the current release; operators may roll it back to an
	// earlier release marked ReturnTo.
	CurrentID int64
}

// TargetRef is a target linked from a workflow's pages.
type TargetRef struct {
	ID    int64
	Kind  rewind.TargetKind
	Label string
	URL   string
}

// ReleaseRow is one release in a workflow's version list.
type ReleaseRow struct {
	R *rewind.Release
	// States are the derived states shown as badges, e.g. "current",
	// "drifted", "blocked"; Stable marks the stable release.
	States []string
	Stable bool
	// Counts is "3 services · 2 configs · 1 SQL change".
	Counts string
	// ReturnTo offers to roll the current release back to this one.
	ReturnTo bool
}

// UnreleasedRow is one unreleased change of a workflow.
type UnreleasedRow struct {
	Target  TargetRef
	Version *rewind.Version
	// URL shows the version: its diff with the one before, or its request.
	URL string
}

// ReleaseChoice is one release offered by a release picker.
type ReleaseChoice struct {
	ID    int64
	Label string
}

// ReleaseView is one release: its header and items grouped by kind, each
// with its diff against the state before the release.
type ReleaseView struct {
	CSRF     string
	R        *rewind.Release
	Workflow *rewind.Workflow
	Env      string
	States   []string
	Stable   bool
	Counts   string
	// RollbackOf is the release this one rolled back.
	RollbackOf *ReleaseRef
	Services   []ItemView
	Configs    []ItemView
	SQL        []SQLItemView
	// CanOperate shows the rollback link and the block forms.
	CanOperate bool
	// BlockError is why a block or unblock was refused; Reason the reason typed.
	BlockError string
	Reason     string
}

// ItemView is what a release did to one service or config: the state before
// it (From, nil when the release created the target) and after it (To).
type ItemView struct {
	Target TargetRef
	From   *rewind.Version
	To     *rewind.Version
	// Versions counts the versions the release made of the target.
	Versions   int
	How        string
	Diff       *diff.Result
	Images     []rewind.ImageChange
	KeyChanges []diff.KeyChange
	ShowKeys   bool
	// Masked says secret values are hidden in the diff; SecretsDiffer that
	// the two differ only in hidden values.
	Masked        bool
	SecretsDiffer bool
	// Note replaces the diff when it cannot be shown.
	Note string
}

// SQLItemView is a SQL change a release ran.
type SQLItemView struct {
	Target    TargetRef
	Version   *rewind.Version
	RequestID int64
	How       string
	// Excerpt is the first lines of the SQL; Truncated says there is more.
	Excerpt      string
	Truncated    bool
	Statements   int
	RowsAffected int64
	SavedRows    int
	Succeeded    bool
	Executed     bool
}

// ReleaseCompareView compares two releases of a workflow target by target.
type ReleaseCompareView struct {
	W       *rewind.Workflow
	Choices []ReleaseChoice
	A, B    *rewind.Release
	Rows    []CompareRow
	Mode    string
}

// CompareRow is one target of a workflow in a comparison of two releases:
// the version each release left it in (nil when it did not exist yet).
type CompareRow struct {
	Target TargetRef
	A, B   *rewind.Version
	AURL   string
	BURL   string
	Same   bool
	Item   ItemView
}

// WorkflowFormView defines a workflow: new (ID 0) or edited.
type WorkflowFormView struct {
	CSRF        string
	ID          int64
	Name        string
	EnvID       int64
	Description string
	Timeout     string // as typed, e.g. "2h" or "90m"
	Envs        []EnvOption
	Targets     []TargetOption
	Error       string
	// FieldErrors maps a field name to what is wrong with it.
	FieldErrors map[string]string
	CanDelete   bool
}

// EnvOption is an environment offered by a form.
type EnvOption struct {
	ID   int64
	Name string
}

// TargetOption is a target offered by the workflow form.
type TargetOption struct {
	ID      int64
	Kind    rewind.TargetKind
	Label   string
	Checked bool
	Deleted bool
}

// ReleaseStateClass is the badge class of a derived release state.
func ReleaseStateClass(state string) string {
	return badgeClass(releaseStateClasses, state, "")
}

var releaseStateClasses = map[string]string{
	"open":            "badge-running",
	"open, timed out": "badge-pending",
	"ok":              "badge-succeeded",
	"rolled back":     "badge-rollback",
	"failed":          "badge-failed",
	"a rollback":      "badge-rollback",
	"current":         "badge-succeeded",
	"superseded":      "badge-neutral",
	"drifted":         "badge-pending",
	"blocked":         "badge-failed",
	"stable":          "badge-approved",
}

// ShortCommit is the first 8 characters of a commit hash.
func ShortCommit(sha string) string {
	if len(sha) > 8 {
		return sha[:8]
	}
	return sha
}

// kindTargets picks the target options of one kind.
func kindTargets(opts []TargetOption, kind rewind.TargetKind) []TargetOption {
	var out []TargetOption
	for _, o := range opts {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// finishedAt is a release's end, zero while it is open.
func finishedAt(r *rewind.Release) time.Time {
	if r.FinishedAt == nil {
		return time.Time{}
	}
	return *r.FinishedAt
}
