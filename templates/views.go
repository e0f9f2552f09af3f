package templates

import (
	"fmt"
	"strconv"
	"time"

	"github.com/a-h/templ"

	"github.com/rewindhq/rewind/internal/diff"
	"github.com/rewindhq/rewind/internal/rewind"
)

// LoginView is the sign-in form.
type LoginView struct {
	CSRF, Username, Next, Error string
	// PasswordForm shows the username and password form (local users, an
	// LDAP directory); OIDCName, when set, the "Sign in with …" button.
	PasswordForm bool
	OIDCName     string
}

// EnvTab is one environment in the environment switcher.
type EnvTab struct {
	Name   string
	URL    string
	Active bool
}

// ServiceRow is one service in the services list.
type ServiceRow struct {
	ID         int64
	Cluster    string
	Namespace  string
	Workload   string
	Name       string
	Images     []rewind.Image
	Revision   string
	LastChange time.Time
	LastAuthor string
	Status     *rewind.RolloutStatus // nil when the cluster cannot say
}

// ServicesView is the services list of one environment.
type ServicesView struct {
	CSRF       string
	Envs       []EnvTab
	Env        string
	Namespace  string
	Query      string
	Namespaces []string
	Rows       []ServiceRow
	// NoClusters is set when no cluster is registered at all.
	NoClusters bool
	IsAdmin    bool
	// KubeContexts are the contexts of a kubeconfig found on the host,
	// offered to an admin for one-click registration.
	KubeconfigPath string
	KubeContexts   []string
	EnvNames       []string
}

// VersionRow is one version in a service's history.
type VersionRow struct {
	V       *rewind.Version
	Current bool
}

// ServiceView is one service with a page of its versions.
type ServiceView struct {
	Target     *rewind.Target
	Cluster    string
	Env        string
	Status     *rewind.RolloutStatus
	StatusErr  string
	Versions   []VersionRow
	Nav        PageNav
	Latest     int64 // the current version number
	CanRequest bool
	Open       *rewind.Request // an open request on this service, if any
}

// CompareView compares two versions of a target.
type CompareView struct {
	Target      *rewind.Target
	BasePath    string // e.g. /services/3
	A, B        *rewind.Version
	Mode        string
	Diff        *diff.Result
	Images      []rewind.ImageChange
	KeyChanges  []diff.KeyChange
	CanRollback bool
	Latest      int64
	// ShowKeys shows the changed keys even when none changed (configs in a
	// format with keys).
	ShowKeys bool
	// Choices lists the versions to pick from, for targets whose version
	// numbers are not in time order (configs); when empty the pickers offer
	// 1..Latest.
	Choices []VersionChoice
	// Extra is shown under the header: notes of one kind of target, such as
	// the masking of secrets.
	Extra templ.Component
	// RollbackLabel names the rollback link; "Roll back to version N" when empty.
	RollbackLabel string
}

// VersionChoice is one version offered by a version picker.
type VersionChoice struct {
	Number int64
	Label  string
}

// RollbackView is the confirmation before a rollback request.
type RollbackView struct {
	CSRF      string
	Target    *rewind.Target
	BasePath  string
	Current   *rewind.Version
	To        *rewind.Version
	Diff      *diff.Result
	Images    []rewind.ImageChange
	Blocked   string // why a rollback cannot be requested now
	Reason    string
	Error     string
	Approvals int
	Env       string
	// Title and Subtitle replace the default ones when set.
	Title, Subtitle string
	// KeyChanges lists the keys the rollback changes; ShowKeys shows the
	// list even when empty (configs in a format with keys).
	KeyChanges []diff.KeyChange
	ShowKeys   bool
	// Extra is shown in the form before the reason: the fields and notes of
	// one kind of target.
	Extra templ.Component
	// SubmitLabel names the submit button; "Request rollback" when empty.
	SubmitLabel string
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func urlf(format string, args ...any) templ.SafeURL {
	return templ.SafeURL(fmt.Sprintf(format, args...))
}

// replicas says "ready/desired".
func replicas(s *rewind.RolloutStatus) string {
	return fmt.Sprintf("%d/%d", s.Ready, s.Desired)
}

func phaseClass(phase rewind.Phase) string {
	switch phase {
	case rewind.PhaseComplete:
		return "badge badge-succeeded"
	case rewind.PhaseFailed:
		return "badge badge-failed"
	case rewind.PhaseProgressing:
		return "badge badge-running"
	}
	return "badge badge-neutral"
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func i32(n int32) string { return strconv.Itoa(int(n)) }

// RequestView is one rollback request.
type RequestView struct {
	CSRF       string
	R          *rewind.Request
	Target     *rewind.Target
	TargetPath string
	Env        string
	To         *rewind.Version
	Base       *rewind.Version
	Result     *rewind.Version
	Status     *rewind.RolloutStatus // live, for services while it matters
	CanDecide  bool
	CanCancel  bool
	Diff       *diff.Result
	Images     []rewind.ImageChange
	// Change is the SQL of a request on a database and what it did.
	Change *ChangeView
	// Config is what a request on a config adds: its action and, when the
	// config changed since the request was made, the new diff.
	Config *ConfigRequestView
	// Comment and DecideError are the typed comment and why the decision
	// was refused, when it was.
	Comment, DecideError string
	// Steps are the plan's steps, shown when it has more than one, stopped
	// at a failed one, or belongs to a release (Release, Workflow).
	Steps    []StepRow
	Release  *rewind.Release
	Workflow *rewind.Workflow
	// CanResume says the user may retry or skip the failed step; SkipReason
	// and SkipError are a refused skip's reason and why.
	CanResume             bool
	SkipReason, SkipError string
}

// StepRow is one step of a request's plan.
type StepRow struct {
	Step       rewind.Step
	Target     *rewind.Target
	TargetPath string
	Result     *rewind.Version
	// Images are, for a service, the image changes the step makes.
	Images []rewind.ImageChange
}

// RequestItem is a rollback request in a list.
type RequestItem struct {
	R      *rewind.Request
	Target *rewind.Target
	Env    string
	To     *rewind.Version
	Diff   *diff.Result
	SQL    string // the start of the SQL of a request on a database
	// SQLPreviewErrors are, for SQL submitted with a failing preview, what
	// the preview found.
	SQLPreviewErrors []string
}

// ApprovalsView is the approver's inbox and the user's own open requests.
type ApprovalsView struct {
	CSRF       string
	CanApprove bool
	Awaiting   []RequestItem
	Mine       []RequestItem
	Recent     []RequestItem
}

// AuditView is a filtered page of the audit trail.
type AuditView struct {
	Events                       []rewind.AuditEvent
	Nav                          PageNav
	Actor, Env, Target, From, To string
	CSVURL                       string
	Envs                         []string
}

// SettingsView is the admin's settings page.
type SettingsView struct {
	CSRF         string
	Environments []*rewind.Environment
	Clusters     []ClusterRow
	Users        []*rewind.User
	// EnvName names the environments by ID, for the users' roles.
	EnvName map[int64]string
	Roles   []rewind.Role
	Error   string
	// NewUser refills the add-user form after an error (never the password).
	NewUser NewUserForm
	// Sessions are the active logins, last seen first.
	Sessions []SessionRow
}

// NewUserForm is what was typed in the add-user form.
type NewUserForm struct {
	Username string
	Role     rewind.Role
	EnvRoles rewind.EnvRoles
}

// SessionRow is one active login; Current marks the admin's own.
type SessionRow struct {
	S       *rewind.Session
	Current bool
}

// ClusterRow is one registered cluster, without its credentials.
type ClusterRow struct {
	C      *rewind.Cluster
	Env    string
	Health string // "connected" or the connection error
}

func targetLabel(t *rewind.Target) string {
	if t == nil {
		return ""
	}
	return t.Label()
}
