package rewind

import (
	"strings"
	"time"
	"unicode/utf8"
)

// Workflow is a named way of releasing a set of targets in one environment.
// Its version list is its releases.
type Workflow struct {
	ID            int64
	Name          string
	EnvironmentID int64
	Description   string
	// ReleaseTimeout bounds how long after its start a release collects the
	// versions of the workflow's targets; later ones are unreleased changes.
	ReleaseTimeout time.Duration
	TargetIDs      []int64
	CreatedBy      string
	CreatedAt      time.Time
}

// DefaultReleaseTimeout is a new workflow's release timeout.
const DefaultReleaseTimeout = 2 * time.Hour

// ReleaseState is where a release is: open while its pipeline runs, then
// succeeded or failed as the pipeline says.
type ReleaseState string

// The states of a release.
const (
	ReleaseOpen      ReleaseState = "open"
	ReleaseSucceeded ReleaseState = "succeeded"
	ReleaseFailed    ReleaseState = "failed"
)

// Release is one run of a workflow, numbered per workflow.
type Release struct {
	ID         int64
	WorkflowID int64
	Number     int64
	Name       string
	Commit     string
	URL        string
	StartedBy  string
	StartedAt  time.Time
	FinishedAt *time.Time
	State      ReleaseState
	Note       string // why it failed, as the pipeline said
	// RollbackOf is the release that this one rolled back, made by request
	// RequestID; 0 for a release from a pipeline.
	RollbackOf int64
	RequestID  int64
	// RolledBackBy is the request that rolled this release back.
	RolledBackBy int64
	BlockedAt    *time.Time
	BlockedBy    string
	BlockReason  string
	Items        []ReleaseItem
}

// ItemHow says how a version became an item of a release.
type ItemHow string

// The ways a version becomes a release's item.
const (
	ItemObserved   ItemHow = "observed"   // seen between start and finish
	ItemNamed      ItemHow = "named"      // named by the pipeline
	ItemAnnotation ItemHow = "annotation" // rewind.dev/release on the pod template
	ItemAttached   ItemHow = "attached"   // a SQL change submitted with the release
	ItemRollback   ItemHow = "rollback"   // made by the plan that rolled a release back
)

// ReleaseItem is a version a release produced.
type ReleaseItem struct {
	ReleaseID int64
	VersionID int64
	TargetID  int64
	How       ItemHow
}

// AnnotationRelease on a pod template names the release ("WORKFLOW/NAME")
// that the service version belongs to.
const AnnotationRelease = "rewind.dev/release"

// ParseReleaseRef splits "WORKFLOW/NAME" as written in AnnotationRelease.
func ParseReleaseRef(s string) (workflow, name string, ok bool) {
	workflow, name, ok = strings.Cut(strings.TrimSpace(s), "/")
	return workflow, name, ok && workflow != "" && name != ""
}

// MaxNameLen is how many characters a workflow or release name may have.
const MaxNameLen = 100

// ValidateName checks a workflow or release name: printable, no slash (it
// separates the two in AnnotationRelease), at most MaxNameLen characters.
func ValidateName(what, name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", Errorf(EINVALID, "Give the %s a name.", what)
	case utf8.RuneCountInString(name) > MaxNameLen:
		return "", Errorf(EINVALID, "A %s name has at most %d characters.", what, MaxNameLen)
	case strings.ContainsAny(name, "/\\\n\r\t"):
		return "", Errorf(EINVALID, "A %s name may not hold a slash, a backslash or a line break.", what)
	}
	return name, nil
}
