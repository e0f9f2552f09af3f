package templates

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rewindhq/rewind/internal/rewind"
)

// DatabasesView is the databases of one environment.
type DatabasesView struct {
	Envs    []EnvTab
	Env     string
	Rows    []DatabaseRow
	IsAdmin bool
	// NoDatabases is set when no database is registered at all.
	NoDatabases bool
}

// DatabaseRow is one database in the databases list.
type DatabaseRow struct {
	TargetID   int64
	Name       string
	Engine     string // the engine's name for people
	Last       *rewind.Version
	Changes    int64
	Connected  bool
	State      string // "connected" or what is wrong
	OpenChange *rewind.Request
}

// DatabaseView is the changes page of one database, newest first.
type DatabaseView struct {
	TargetID  int64
	Name      string
	Engine    string
	Env       string
	Approvals int
	Connected bool
	State     string
	Changes   []ChangeRow
	Nav       PageNav
	CanSubmit bool
	Open      *rewind.Request // the open request that blocks a new one
}

// ChangeRow is one SQL change or rollback in a database's list.
type ChangeRow struct {
	R            *rewind.Request
	Kind         string // change or rollback
	Statements   int    // -1 when the SQL cannot be split
	Executed     bool
	Succeeded    bool
	RowsAffected int64
	Version      int64 // number of the version it made; 0 until it ran
	Of           *ChangeRef
	RolledBackBy *ChangeRef
	OpenRollback *ChangeRef
}

// ChangeRef points at a SQL request from another one: a change and its rollback.
type ChangeRef struct {
	RequestID int64
	Version   int64 // its version number, 0 when it has not run
	Requester string
	State     string
	At        time.Time
}

// SyntaxErrorView shows where SQL cannot be split into statements.
type SyntaxErrorView struct {
	Field   string // the form field: sql or rollback_sql
	Line    int
	Col     int
	Msg     string
	Excerpt string // the line with the problem
	Caret   string // spaces up to the problem, then ^
}

// NewSyntaxErrorView shows e in sql, which was given in field.
func NewSyntaxErrorView(field, sql string, e *rewind.SQLSyntaxError) *SyntaxErrorView {
	v := &SyntaxErrorView{Field: field, Line: e.Line, Col: e.Col, Msg: e.Msg}
	lines := strings.Split(sql, "\n")
	if e.Line >= 1 && e.Line <= len(lines) {
		line := []rune(strings.TrimRight(lines[e.Line-1], "\r"))
		start := max(0, e.Col-1-60)
		end := min(len(line), e.Col-1+60)
		if start < end {
			v.Excerpt = strings.ReplaceAll(string(line[start:end]), "\t", " ")
		}
		v.Caret = strings.Repeat(" ", max(0, e.Col-1-start)) + "^"
	}
	return v
}

// Text is the error in one sentence.
func (e *SyntaxErrorView) Text() string {
	return fmt.Sprintf("Line %d, column %d: %s.", e.Line, e.Col, e.Msg)
}

// ChangeFormView is the form to submit a SQL change, or to roll one back.
type ChangeFormView struct {
	CSRF      string
	TargetID  int64
	Database  string
	Engine    string // the engine's name for people
	Env       string
	Approvals int
	// Rollback is set for the rollback of the change Of, made version Version.
	Rollback bool
	Of       *ChangeRef
	Version  int64
	SQL      string
	// RollbackSQL is the rollback written in advance with a change.
	RollbackSQL string
	Reason      string
	Confirm     bool
	// Generated says SQL is the generated rollback; UseGenerated that it is
	// too long to edit here and is used as generated (GeneratedSize bytes).
	Generated     bool
	UseGenerated  bool
	GeneratedSize int
	RollbackNote  string
	BoundRows     int
	BoundBytes    int64
	Error         string
	Syntax        *SyntaxErrorView
	Blocked       string // why the form cannot be sent now
	// Preview is the preview made on submitting, shown when it failed.
	Preview *PreviewView
	// Releases are the open releases the change may belong to; ReleaseID
	// the one chosen.
	Releases  []ReleaseOption
	ReleaseID int64
}

// ReleaseOption is an open release a SQL change may belong to.
type ReleaseOption struct {
	ID    int64
	Label string // WORKFLOW/NAME
}

// Action is where the form posts.
func (v ChangeFormView) Action() string {
	if v.Rollback {
		return fmt.Sprintf("/databases/%d/rollback", v.TargetID)
	}
	return fmt.Sprintf("/databases/%d/changes", v.TargetID)
}

// PreviewView is the result of a preview.
type PreviewView struct {
	Results []rewind.SQLStatementResult
	// Transactional says the change will run in one transaction; else
	// NotTransactionalReason says why not.
	Transactional          bool
	NotTransactionalReason string
	Error                  string // the preview as a whole could not run
	Syntax                 *SyntaxErrorView
	WriteRows              int64 // estimated rows the UPDATE and DELETE statements touch
	BoundRows              int
	OverBound              bool
	NotPreviewed           int
}

// FailedCount is the number of statements the database refused.
func (v PreviewView) FailedCount() int {
	n := 0
	for _, r := range v.Results {
		if r.Status == rewind.SQLStatusFailed {
			n++
		}
	}
	return n
}

// Failed says the preview failed: a statement was refused, or it could not run.
func (v PreviewView) Failed() bool {
	return v.Error != "" || v.Syntax != nil || v.FailedCount() > 0
}

// ChangeView is a SQL change or rollback on its request page: the SQL,
// what each statement did, the saved rows and the generated rollback.
type ChangeView struct {
	CSRF      string
	RequestID int64
	TargetID  int64
	Database  string
	Engine    string
	Kind      string // change or rollback
	SQL       string
	// SQLCut says SQL holds only the start of SQLSize bytes; the rest is at SQLURL.
	SQLCut  bool
	SQLSize int
	SQLURL  string
	// RollbackSQL is the rollback written in advance with a change.
	RollbackSQL        string
	ConfirmNoSavedRows bool
	Generated          bool
	Of                 *ChangeRef // for a rollback: the change it undoes
	// Statements are the statements as split, before the SQL runs.
	Statements []rewind.SQLStatement
	SplitError string
	CanPreview bool
	// PreviewFailed says the request was submitted with a failing
	// preview; PreviewErrors are what that preview found.
	PreviewFailed bool
	PreviewErrors []string

	Execution *rewind.SQLExecution // nil until the SQL ran
	Version   *rewind.Version
	// Results are the statements shown; HiddenResults counts the others
	// (all succeeded), whose rows HiddenRows sums.
	Results       []rewind.SQLStatementResult
	HiddenResults int
	HiddenRows    int64
	Saved         []rewind.SavedTable
	HiddenSaved   int // saved tables not shown
	// GeneratedRollback is the rollback generated from the saved rows,
	// cut when long (GeneratedCut); the whole is at RollbackURL.
	GeneratedRollback string
	GeneratedCut      bool
	RollbackURL       string
	RolledBackBy      *ChangeRef
	OpenRollback      *ChangeRef
	CanRollBack       bool
	RollbackFormURL   string
}

// DatabaseSettingsView is the admin's page for databases.
type DatabaseSettingsView struct {
	CSRF         string
	Environments []*rewind.Environment
	Engines      []string
	Databases    []DatabaseSettingsRow
	Error        string
	// Name, EnvironmentID and Engine refill the form after an error; the
	// connection string is never sent back.
	Name          string
	EnvironmentID int64
	Engine        string
}

// DatabaseSettingsRow is one registered database, its connection string redacted.
type DatabaseSettingsRow struct {
	ID         int64
	TargetID   int64
	Name       string
	Env        string
	Engine     string
	DSN        string // redacted
	FromConfig bool
	Connected  bool
	State      string
}

func sqlEngine(engine string) string { return rewind.EngineLabel(engine) }

func sqlItoa(n int64) string { return strconv.FormatInt(n, 10) }

func sqlCount(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.FormatInt(n, 10) + " " + noun + "s"
}

func sqlBytes(n int64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 10<<10:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

func sqlDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return d.Round(10 * time.Millisecond).String()
}

// statusClass is the badge class of a statement status.
func sqlStatusClass(status string) string {
	switch status {
	case "succeeded", "previewed":
		return "badge badge-succeeded"
	case "failed":
		return "badge badge-failed"
	case "rolled back":
		return "badge badge-rollback"
	case "not previewed":
		return "badge badge-pending"
	}
	return "badge badge-neutral"
}

func sqlVersionStatus(v *rewind.Version) string {
	if v == nil || v.Meta == nil {
		return ""
	}
	return v.Meta["status"]
}

func sqlSavedCaption(t rewind.SavedTable) string {
	which := fmt.Sprintf("Statement %d", t.Statement+1)
	if t.LastStatement != t.Statement {
		which = fmt.Sprintf("Statements %d–%d", t.Statement+1, t.LastStatement+1)
	}
	rows := sqlCount(int64(t.Total), "row")
	switch t.Kind {
	case "DELETE":
		return fmt.Sprintf("%s deleted %s from %s; the rollback inserts them again with these values.", which, rows, t.Table)
	case "UPDATE":
		return fmt.Sprintf("%s updated %s of %s; these are the values before, which the rollback restores.", which, rows, t.Table)
	case "INSERT":
		return fmt.Sprintf("%s inserted %s into %s; the rollback deletes the rows with these keys.", which, rows, t.Table)
	}
	return fmt.Sprintf("%s: %s of %s saved.", which, rows, t.Table)
}

// sqlShort is the start of a statement for a table: at most 8 lines and
// 2000 characters.
func sqlShort(s string) string {
	const maxLines, maxChars = 8, 2000
	cut := false
	if lines := strings.SplitN(s, "\n", maxLines+1); len(lines) > maxLines {
		s, cut = strings.Join(lines[:maxLines], "\n"), true
	}
	if r := []rune(s); len(r) > maxChars {
		s, cut = string(r[:maxChars]), true
	}
	if cut {
		return s + " …"
	}
	return s
}

func sqlFirstLine(s string, n int) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
