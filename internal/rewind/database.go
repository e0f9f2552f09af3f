package rewind

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// The engines a database may use.
const (
	EngineMySQL    = "mysql" // MySQL and MariaDB
	EnginePostgres = "postgres"
	EngineSQLite   = "sqlite"
)

// DatabaseEngines lists the engines a database may use.
var DatabaseEngines = []string{EnginePostgres, EngineMySQL, EngineSQLite}

// EngineLabel is an engine's name for people.
func EngineLabel(engine string) string {
	switch engine {
	case EngineMySQL:
		return "MySQL/MariaDB"
	case EnginePostgres:
		return "PostgreSQL"
	case EngineSQLite:
		return "SQLite"
	}
	return engine
}

// Database is a SQL database that changes run on, in one environment. Its
// target (kind database) has the database's ID as owner and its name.
type Database struct {
	ID            int64
	Name          string
	EnvironmentID int64
	Engine        string // EngineMySQL, EnginePostgres or EngineSQLite
	// DSN is the connection string. It may hold a password, so it is
	// encrypted at rest and never shown again: pages show it redacted.
	DSN        string
	FromConfig bool // declared in the config file, not editable in pages
	CreatedAt  time.Time
}

// ValidateDatabase checks a database before it is saved.
func ValidateDatabase(d Database) error {
	if err := validateName("A database name", d.Name); err != nil {
		return err
	}
	if d.EnvironmentID == 0 {
		return Errorf(EINVALID, "Choose the environment the database belongs to.")
	}
	known := false
	for _, e := range DatabaseEngines {
		known = known || d.Engine == e
	}
	if !known {
		return Errorf(EINVALID, "Choose the engine: PostgreSQL, MySQL/MariaDB or SQLite.")
	}
	if strings.TrimSpace(d.DSN) == "" {
		return Errorf(EINVALID, "Give the connection string.")
	}
	if len(d.DSN) > 4096 {
		return Errorf(EINVALID, "A connection string has at most 4096 characters.")
	}
	return nil
}

// The kinds of SQL request.
const (
	SQLKindChange   = "change"   // a SQL change submitted by an operator
	SQLKindRollback = "rollback" // rollback SQL undoing an executed change
)

// MaxSQLBytes caps the SQL of one request.
const MaxSQLBytes = 32 << 20

// SQLRequest is what a rollback request on a database carries in its
// Payload: the SQL to run and what goes with it.
type SQLRequest struct {
	Kind string `json:"kind"` // SQLKindChange or SQLKindRollback
	SQL  string `json:"sql"`
	// RollbackSQL is the rollback written in advance with a change.
	RollbackSQL string `json:"rollback_sql,omitempty"`
	// ConfirmNoSavedRows is the requester's consent to run the SQL without
	// saved rows when they would pass the bounds.
	ConfirmNoSavedRows bool `json:"confirm_no_saved_rows,omitempty"`
	// OfVersion is, for a rollback, the version ID of the change it undoes.
	OfVersion int64 `json:"of_version,omitempty"`
	// Generated says a rollback's SQL is Rewind's generated rollback, unedited.
	Generated bool `json:"generated"`
	// PreviewFailed says the requester submitted the SQL although its
	// preview failed (or could not run); PreviewErrors say what the
	// preview found, one line per statement, for the approvers.
	PreviewFailed bool     `json:"preview_failed,omitempty"`
	PreviewErrors []string `json:"preview_errors,omitempty"`
}

// Validate checks a SQL request before it is stored.
func (p SQLRequest) Validate() error {
	switch p.Kind {
	case SQLKindChange:
		if p.OfVersion != 0 {
			return Errorf(EINVALID, "A SQL change does not undo a version.")
		}
	case SQLKindRollback:
		if p.OfVersion == 0 {
			return Errorf(EINVALID, "Name the change to roll back.")
		}
		if p.RollbackSQL != "" {
			return Errorf(EINVALID, "A rollback has no rollback SQL of its own.")
		}
	default:
		return Errorf(EINVALID, "Unknown kind of SQL request %q.", p.Kind)
	}
	if strings.TrimSpace(p.SQL) == "" {
		return Errorf(EINVALID, "Give the SQL to run.")
	}
	if len(p.SQL)+len(p.RollbackSQL) > MaxSQLBytes {
		return Errorf(EINVALID, "The SQL is too long: at most %d MB.", MaxSQLBytes>>20)
	}
	return nil
}

// Encode returns the request as a payload.
func (p SQLRequest) Encode() (string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("encode SQL request: %w", err)
	}
	return string(b), nil
}

// ParseSQLRequest reads the payload of a rollback request on a database.
func ParseSQLRequest(payload string) (SQLRequest, error) {
	var p SQLRequest
	if err := json.Unmarshal([]byte(payload), &p); err != nil {
		return SQLRequest{}, fmt.Errorf("read SQL request: %w", err)
	}
	return p, nil
}

// SQLStatement is one statement of a change, as split before it runs.
type SQLStatement struct {
	Index     int // 0-based
	Line, Col int // where it starts in the change, 1-based
	SQL       string
	Kind      string // SELECT, INSERT, UPDATE, DELETE, DDL or OTHER
	Table     string // the table it writes, when there is one
}

// SQLSyntaxError says where SQL cannot be split into statements.
type SQLSyntaxError struct {
	Line, Col int // 1-based; Col counts characters
	Msg       string
}

// Error says where the problem is and what it is.
func (e *SQLSyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Col, e.Msg)
}

// SQLStatementResult is what one statement did in a preview or an execution.
type SQLStatementResult struct {
	Index        int // 0-based
	SQL          string
	Kind         string
	Status       string // succeeded, failed, not run, rolled back, previewed, not previewed
	RowsAffected int64
	Duration     time.Duration
	Error        string // the database's message, without secrets
	TimedOut     bool
	Note         string // why rows were not saved, why it was not previewed, ...
	// Estimated is, in a preview, the rows the engine expects the statement
	// to touch (when HasEstimate); EstimateNote says where the figure comes
	// from or why there is none. A preview never counts rows exactly.
	Estimated    int64
	HasEstimate  bool
	EstimateNote string
	// Columns and Rows are the first rows a statement returned;
	// RowsTruncated says more came.
	Columns       []string
	Rows          [][]string
	RowsTruncated bool
}

// SQLPreview is what a preview learnt of SQL without running it.
type SQLPreview struct {
	Results []SQLStatementResult
	// Transactional says the SQL will run in one transaction; otherwise
	// NotTransactionalReason says which statement prevents it, and why.
	Transactional          bool
	NotTransactionalReason string
}

// Errors lists the statements the database refused, one line each.
func (p *SQLPreview) Errors() []string {
	var out []string
	for _, r := range p.Results {
		if r.Status == SQLStatusFailed {
			out = append(out, fmt.Sprintf("Statement %d: %s", r.Index+1, r.Error))
		}
	}
	return out
}

// Statement statuses that mean the statement changed the database.
const (
	SQLStatusSucceeded = "succeeded"
	SQLStatusFailed    = "failed"
)

// SQLExecution records one run of a SQL request: the version it made, what
// each statement did, the saved rows and the generated rollback.
type SQLExecution struct {
	VersionID   int64
	StepID      int64 // the step of the request that ran it
	RequestID   int64
	Kind        string // SQLKindChange or SQLKindRollback
	OfVersionID int64  // for a rollback: the version of the change it undoes
	// Succeeded says every statement ran; otherwise Statements say which
	// failed and which did not run.
	Succeeded bool
	// Transactional says the statements ran in one transaction, so a
	// failure left the database as it was; NotTransactionalReason says why not.
	Transactional          bool
	NotTransactionalReason string
	SavingSkipped          bool // the requester confirmed running without saved rows
	// Applied says some statement stayed applied: all of them when the
	// execution succeeded, those before the failure when it was not
	// transactional.
	Applied        bool
	RowsAffected   int64
	StatementCount int
	// Statements are loaded on request; see the store.
	Statements []SQLStatementResult
	// Saved holds the saved rows, compressed; SavedRows counts them.
	Saved     []byte
	SavedRows int
	// SavedTables are the first saved rows, ready to show; the saved rows
	// of SavedTablesHidden more tables are left out.
	SavedTables       []SavedTable
	SavedTablesHidden int
	// RollbackSQL is the rollback generated from the saved rows; RollbackNote
	// says why there is none or what it does not undo.
	RollbackSQL  string
	RollbackNote string
	// Verified says the rows were checked against the saved rows of the
	// change after a rollback; VerifyOK and VerifyReport give the result.
	Verified     bool
	VerifyOK     bool
	VerifyReport string
}

// SavedTable is the saved rows of one statement, or of consecutive
// statements on the same table, ready to show.
type SavedTable struct {
	// Statement and LastStatement are the 0-based indexes of the first and
	// last statement whose rows the table holds.
	Statement     int
	LastStatement int
	Kind          string // UPDATE, DELETE or INSERT
	Table         string
	Columns       []SavedColumn
	// Rows are the values as the rollback restores them (for an INSERT: the
	// keys of the rows it deletes); RowStatements gives each row's statement
	// when the table covers several.
	Rows          [][]SavedValue
	RowStatements []int
	Total         int    // all saved rows; Rows may hold fewer
	Gap           string // what the saved rows do not cover
}

// SavedValue is one saved value as shown: bytes as x'..', long values cut.
type SavedValue struct {
	Text string
	Null bool
}

// SavedColumn is one column of a saved table.
type SavedColumn struct {
	Name string
	Type string
	Key  bool // part of the primary key
}
