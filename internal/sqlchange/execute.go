package sqlchange

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	sqlite "modernc.org/sqlite"
)

// Defaults for Options left at zero.
const (
	DefaultStatementTimeout       = time.Minute
	DefaultMaxSavedRows           = 100_000
	DefaultMaxSavedBytes    int64 = 64 << 20
	DefaultRunTimeout             = 30 * time.Minute
	DefaultLockTimeout            = 30 * time.Second
	// A preview only parses and plans: it is quick or it is stuck.
	DefaultPreviewTimeout          = 20 * time.Second
	DefaultPreviewStatementTimeout = 5 * time.Second
	DefaultPreviewLockTimeout      = 2 * time.Second
)

// Caps on what results carry back to pages.
const (
	maxSampleRows  = 20
	maxCountedRows = 1000
	maxCellRunes   = 200
	maxErrorBytes  = 2000
	rowBatch       = 500
)

// Options tune Preview and Execute.
type Options struct {
	// StatementTimeout stops a statement that runs longer, both on the
	// engine (PostgreSQL statement_timeout, MariaDB max_statement_time,
	// MySQL max_execution_time, each set for the session of a connection
	// used for this run only, which is as local as SET LOCAL) and through
	// the context, a little later so that the engine's clearer error comes
	// first. Zero means DefaultStatementTimeout.
	StatementTimeout time.Duration
	// MaxSavedRows and MaxSavedBytes bound the saved rows of one execution;
	// above them Execute refuses with ErrTooManyRows. Zero means the default.
	MaxSavedRows  int
	MaxSavedBytes int64
	// SkipSaving is the caller's confirmation that the change may run with
	// no rows saved (and so with no generated rollback).
	SkipSaving bool
	// RunTimeout bounds the whole preview or execution, every statement and
	// Rewind's own queries together. Zero means DefaultRunTimeout (an
	// execution) or DefaultPreviewTimeout (a preview).
	RunTimeout time.Duration
	// LockTimeout bounds each wait for a lock on the engine (PostgreSQL
	// lock_timeout, MySQL innodb_lock_wait_timeout and lock_wait_timeout,
	// SQLite busy_timeout). Zero means DefaultLockTimeout, or
	// DefaultPreviewLockTimeout for a preview.
	LockTimeout time.Duration
}

func (o Options) withDefaults(preview bool) Options {
	if o.StatementTimeout <= 0 {
		o.StatementTimeout = DefaultStatementTimeout
	}
	if preview {
		o.StatementTimeout = min(o.StatementTimeout, DefaultPreviewStatementTimeout)
		if o.RunTimeout <= 0 {
			o.RunTimeout = DefaultPreviewTimeout
		}
		if o.LockTimeout <= 0 {
			o.LockTimeout = DefaultPreviewLockTimeout
		}
	}
	if o.RunTimeout <= 0 {
		o.RunTimeout = DefaultRunTimeout
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	o.LockTimeout = min(o.LockTimeout, o.StatementTimeout)
	if o.MaxSavedRows <= 0 {
		o.MaxSavedRows = DefaultMaxSavedRows
	}
	if o.MaxSavedBytes <= 0 {
		o.MaxSavedBytes = DefaultMaxSavedBytes
	}
	return o
}

// Status is what happened to one statement.
type Status string

// The statuses of a statement.
const (
	StatusSucceeded    Status = "succeeded"
	StatusFailed       Status = "failed"
	StatusNotRun       Status = "not run"
	StatusRolledBack   Status = "rolled back"
	StatusPreviewed    Status = "previewed"
	StatusNotPreviewed Status = "not previewed"
)

// StatementResult records one statement of a preview or an execution.
type StatementResult struct {
	Index        int // 0-based position in the change
	SQL          string
	Kind         Kind
	Status       Status
	RowsAffected int64 // for statements that return rows: the rows read, at most 1000
	Duration     time.Duration
	// Error is the database's message when the statement failed (capped).
	Error    string
	TimedOut bool
	// PartialEffect says the statement failed outside a transaction (or
	// with effects a rollback does not reach), so part of it may have
	// taken effect.
	PartialEffect bool
	// Estimated is, in a preview, the rows the engine expects the
	// statement to touch or return, when HasEstimate; EstimateNote says
	// where the figure comes from, or why there is none.
	Estimated    int64
	HasEstimate  bool
	EstimateNote string
	// Note explains a status or a missing saved image, e.g.
	// "rows not saved: table t has no primary key".
	Note string
	// Columns and Rows show the first rows a statement returned (capped
	// at 20 rows of 200 characters a cell); RowsTruncated says more came.
	Columns       []string
	Rows          [][]string
	RowsTruncated bool
}

// Execution is the outcome of running a change.
type Execution struct {
	Engine  Engine
	Results []StatementResult
	// Saved holds the saved rows and inserted keys of the statements that
	// took effect, in statement order.
	Saved []SavedRows
	// Transactional says the change ran in one transaction; otherwise
	// NotTransactionalReason says why, and statements ran one by one.
	Transactional          bool
	NotTransactionalReason string
	// SavingSkipped says the caller confirmed running without saved rows.
	SavingSkipped bool
}

// Errors callers can test with errors.Is.
var (
	// ErrTooManyRows: saving the rows would pass MaxSavedRows or
	// MaxSavedBytes. Run again with SkipSaving to go on without them.
	ErrTooManyRows = errors.New("too many rows to save")
	// ErrStatementTimeout: a statement ran longer than StatementTimeout.
	ErrStatementTimeout = errors.New("statement timed out")
	// ErrTransactionControl: the change holds BEGIN, COMMIT or the like,
	// which would break Rewind's own transaction.
	ErrTransactionControl = errors.New("transaction control statements are not allowed: Rewind runs the change in its own transaction")
	// ErrSavedRowsMismatch: the statement changed other rows than those
	// read just before it, so the saved rows could not undo it.
	ErrSavedRowsMismatch = errors.New("saved rows do not match the rows the statement changed")
)

// StatementError is the failure of one statement.
type StatementError struct {
	Index    int // 0-based
	TimedOut bool
	Err      error
}

// Error names the statement (1-based) and its failure.
func (e *StatementError) Error() string {
	return fmt.Sprintf("statement %d: %v", e.Index+1, e.Err)
}

// Unwrap returns the underlying error.
func (e *StatementError) Unwrap() error { return e.Err }

// Is reports a timed-out statement as ErrStatementTimeout.
func (e *StatementError) Is(target error) bool { return target == ErrStatementTimeout && e.TimedOut }

// BoundsError says saving would pass the configured bounds.
type BoundsError struct {
	Rows     int
	Bytes    int64
	MaxRows  int
	MaxBytes int64
}

// Error says which bound was passed and how to go on.
func (e *BoundsError) Error() string {
	return fmt.Sprintf("saving the rows would pass the bound (%d rows or %d bytes; reached %d rows, %d bytes): confirm running without saved rows to go on",
		e.MaxRows, e.MaxBytes, e.Rows, e.Bytes)
}

// Is reports the error as ErrTooManyRows.
func (e *BoundsError) Is(target error) bool { return target == ErrTooManyRows }

// run is one preview or execution on one dedicated connection.
type run struct {
	d       *DB
	conn    *sql.Conn
	opts    Options
	plans   []*plan
	results []StatementResult
	saved   []SavedRows
	flavour flavour
	meta    map[TableName]*tableMeta
	rows    int
	bytes   int64
	preview bool
	lex     lexState // the lexing settings as pinned
	// unprovable says, per statement, why it may act outside a transaction.
	unprovable []string
	// storedFunctions counts a MySQL server's stored functions, -1 until read.
	storedFunctions int

	autoIncStep, autoIncLockMode int64
}

// plans re-reads each statement so that the rules apply to the SQL as it
// will run, whoever built the Statement.
func plans(engine Engine, stmts []Statement) ([]*plan, error) {
	if err := engine.valid(); err != nil {
		return nil, err
	}
	if len(stmts) == 0 {
		return nil, errors.New("no statements")
	}
	out := make([]*plan, len(stmts))
	for i, s := range stmts {
		if err := checkUTF8(s.SQL); err != nil {
			return nil, fmt.Errorf("statement %d: %w", i+1, err)
		}
		parts, err := splitTokens(engine, s.SQL)
		if err != nil {
			return nil, fmt.Errorf("statement %d: %w", i+1, err)
		}
		if len(parts) != 1 {
			return nil, fmt.Errorf("statement %d: holds %d statements, want one", i+1, len(parts))
		}
		p := analyze(engine, s.SQL, parts[0])
		if p.txControl {
			return nil, &StatementError{Index: i, Err: ErrTransactionControl}
		}
		if p.refused != "" {
			return nil, &StatementError{Index: i, Err: fmt.Errorf("%w: %s", ErrLexingSetting, p.refused)}
		}
		out[i] = p
	}
	return out, nil
}

// Check reads statements as Preview and Execute will, without a database,
// and refuses what they would refuse before running anything: transaction
// control (a *StatementError wrapping ErrTransactionControl), statements
// that change how the server reads SQL (ErrLexingSetting) and text that is
// not exactly one statement.
func Check(engine Engine, stmts []Statement) error {
	_, err := plans(engine, stmts)
	return err
}

func (d *DB) start(ctx context.Context, stmts []Statement, opts Options, preview bool) (*run, error) {
	ps, err := plans(d.engine, stmts)
	if err != nil {
		return nil, err
	}
	conn, err := d.conn(ctx)
	if err != nil {
		return nil, err
	}
	r := &run{d: d, conn: conn, opts: opts.withDefaults(preview), plans: ps, preview: preview, meta: map[TableName]*tableMeta{}, storedFunctions: -1}
	r.results = make([]StatementResult, len(ps))
	for i, p := range ps {
		r.results[i] = StatementResult{Index: i, SQL: p.sql, Kind: p.kind, Status: StatusNotRun}
	}
	if d.engine == MySQL {
		if r.flavour, err = d.mysqlFlavour(ctx, conn); err != nil {
			conn.Close()
			return nil, err
		}
	}
	if err := r.setTimeout(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	if r.lex, err = d.pinLexing(ctx, conn); err != nil {
		conn.Close()
		return nil, err
	}
	return r, nil
}

// setTimeout sets the engine-side statement and lock timeouts for the
// session; the connection is not reused, so the settings die with it.
func (r *run) setTimeout(ctx context.Context) error {
	t, lock := r.opts.StatementTimeout, r.opts.LockTimeout
	var qs []string
	switch {
	case r.d.engine == Postgres:
		qs = []string{fmt.Sprintf("SET statement_timeout = %d", t.Milliseconds()), fmt.Sprintf("SET lock_timeout = %d", lock.Milliseconds()),
			fmt.Sprintf("SET idle_in_transaction_session_timeout = %d", r.opts.RunTimeout.Milliseconds()+5000)}
	case r.d.engine == MySQL:
		secs := max(1, int64(lock.Seconds()))
		qs = []string{fmt.Sprintf("SET SESSION innodb_lock_wait_timeout = %d", secs), fmt.Sprintf("SET SESSION lock_wait_timeout = %d", secs)}
		if r.flavour.mariaDB {
			qs = append(qs, fmt.Sprintf("SET SESSION max_statement_time = %s", strconv.FormatFloat(t.Seconds(), 'f', 3, 64)))
		} else {
			qs = append(qs, fmt.Sprintf("SET SESSION max_execution_time = %d", t.Milliseconds()))
		}
	case r.d.engine == SQLite:
		qs = []string{fmt.Sprintf("PRAGMA busy_timeout = %d", lock.Milliseconds())}
	}
	for _, q := range qs {
		if _, err := r.conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("set timeouts (%s): %w", q, err)
		}
	}
	return nil
}

// stmtCtx bounds one statement. The engine's own timeout fires first where
// there is one, so that the connection survives and the message is clear.
func (r *run) stmtCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	t := r.opts.StatementTimeout
	if r.d.engine != SQLite {
		t += max(2*time.Second, t/10)
	}
	return context.WithTimeout(ctx, t)
}

func (r *run) begin(ctx context.Context) error {
	q := "BEGIN"
	switch {
	case r.d.engine == MySQL:
		q = "START TRANSACTION"
	case r.d.engine == SQLite && !r.preview:
		// Take the write lock now, so that rows read are the rows changed.
		q = "BEGIN IMMEDIATE"
	case r.d.engine == Postgres && r.preview:
		q = "BEGIN READ ONLY"
	}
	if _, err := r.conn.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	return nil
}

func (r *run) commit(ctx context.Context) error {
	if _, err := r.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (r *run) rollback(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := r.conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		return fmt.Errorf("roll back: %w", err)
	}
	return nil
}

// notProvable says why statement p cannot be proved to stay inside the
// transaction on this database (and so why the change cannot run as one
// transaction); empty when it can.
func (r *run) notProvable(ctx context.Context, p *plan) (string, error) {
	if p.notProvable != "" {
		return p.notProvable, nil
	}
	switch r.d.engine {
	case MySQL:
		if name := mysqlImpure(p.calls); name != "" {
			return "it calls " + name + ", which is not a built-in function known to act on nothing else", nil
		}
		if view, err := r.mysqlViewWithFunctions(ctx, p); err != nil || view != "" {
			return "it names view " + view + ", which may call stored functions, and the database has some", err
		}
		if p.kind == KindInsert || p.kind == KindUpdate || p.kind == KindDelete {
			return r.mysqlNonTransactional(ctx, p)
		}
	case Postgres:
		if reason, err := r.pgCalls(ctx, p); reason != "" || err != nil {
			return reason, err
		}
		if fn, err := r.pgIndirectFunction(ctx, p); err != nil || fn != "" {
			return "it reads a view, or writes a table with column defaults, that calls " + fn + ", a function defined in the database", err
		}
		if p.kind == KindInsert || p.kind == KindUpdate || p.kind == KindDelete || p.verb == "MERGE" {
			return r.pgWrittenTable(ctx, p)
		}
	}
	return "", nil
}

// pgCalls says why a function the statement calls may act outside the
// transaction: anything outside pg_catalog, and volatile built-ins other
// than a few that only make values (random, clock_timestamp, ...).
func (r *run) pgCalls(ctx context.Context, p *plan) (string, error) {
	user, volatile, err := r.pgFunctions(ctx, p)
	switch {
	case err != nil:
		return "", err
	case user != "":
		return "it calls " + user + ", a function defined in the database, which Rewind does not read", nil
	case volatile != "":
		return "it calls " + volatile + ", a volatile function that may act outside the transaction", nil
	}
	return "", nil
}

// pgFunctions looks up the names p calls in pg_proc and returns the first
// one defined outside pg_catalog and the first volatile built-in that is
// not known to be harmless. Names that are no function (a table's column
// list, say) match nothing.
func (r *run) pgFunctions(ctx context.Context, p *plan) (user, volatile string, err error) {
	if len(p.calls) == 0 {
		return "", "", nil
	}
	names := make([]string, len(p.calls))
	for i, c := range p.calls {
		names[i] = unqualified(c)
	}
	rows, err := r.conn.QueryContext(ctx, `SELECT n.nspname, p.proname, p.provolatile::text FROM pg_proc p
		JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.proname = ANY($1::text[]) ORDER BY 1, 2`, names)
	if err != nil {
		return "", "", fmt.Errorf("look up functions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var schema, name, vol string
		if err := rows.Scan(&schema, &name, &vol); err != nil {
			return "", "", fmt.Errorf("look up functions: %w", err)
		}
		switch {
		case schema != "pg_catalog" && user == "":
			user = schema + "." + name
		case schema == "pg_catalog" && vol == "v" && !pgHarmlessVolatile[name] && volatile == "":
			volatile = name
		}
	}
	if err := rows.Err(); err != nil {
		return "", "", fmt.Errorf("look up functions: %w", err)
	}
	return user, volatile, nil
}

// pgIndirectFunction returns a function defined in the database that the
// statement calls without naming it: through a view it names (and the
// views that view reads), or through the column defaults of the table it writes. Built-ins are
// pinned and have no dependency rows, so every hit is user-defined.
func (r *run) pgIndirectFunction(ctx context.Context, p *plan) (string, error) {
	parts, err := splitTokens(Postgres, p.sql)
	if err != nil || len(parts) != 1 {
		return "", fmt.Errorf("read statement: %v", err)
	}
	a := &analyzer{engine: Postgres, src: p.sql, toks: parts[0]}
	var names []string
	for i := range a.toks {
		if part, ok := a.identPart(i); ok {
			names = append(names, part)
		}
	}
	written := ""
	if p.hasTable && (p.kind == KindInsert || p.kind == KindUpdate) {
		written = quoteTable(Postgres, p.table)
	}
	var fn string
	err = r.conn.QueryRowContext(ctx, `WITH RECURSIVE views(oid) AS (SELECT c.oid FROM pg_class c WHERE c.relname = ANY($1::text[]) AND c.relkind IN ('v', 'm')
			UNION SELECT d.refobjid FROM views v JOIN pg_rewrite w ON w.ev_class = v.oid
				JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid AND d.refclassid = 'pg_class'::regclass
				JOIN pg_class c2 ON c2.oid = d.refobjid AND c2.relkind IN ('v', 'm')),
		fns AS (SELECT d.refobjid FROM pg_rewrite w JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
				AND d.refclassid = 'pg_proc'::regclass WHERE w.ev_class IN (SELECT oid FROM views)
			UNION SELECT d.refobjid FROM pg_attrdef ad JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid
				AND d.refclassid = 'pg_proc'::regclass WHERE $2 <> '' AND ad.adrelid = to_regclass(NULLIF($2, '')))
		SELECT n.nspname || '.' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE p.oid IN (SELECT refobjid FROM fns) ORDER BY 1 LIMIT 1`, names, written).Scan(&fn)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("look up functions of views and defaults: %w", err)
	}
	return fn, nil
}

// pgSequenceNote says, for an INSERT into a table whose columns take
// values from sequences (serial, identity, nextval defaults), that the
// values taken stay taken even when the change rolls back.
func (r *run) pgSequenceNote(ctx context.Context, p *plan) (string, error) {
	if !p.hasTable {
		return "", nil
	}
	var n int
	err := r.conn.QueryRowContext(ctx, `SELECT count(*) FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
		AND (a.attidentity <> '' OR pg_get_expr(d.adbin, d.adrelid) LIKE '%nextval(%')`, quoteTable(Postgres, p.table)).Scan(&n)
	if err != nil || n == 0 {
		return "", err
	}
	return "sequence values this INSERT takes are not given back if the change rolls back (PostgreSQL sequences never roll back)", nil
}

// pgWrittenTable says why writing p's table may act outside the
// transaction: no known table, a foreign table, user triggers or rules.
func (r *run) pgWrittenTable(ctx context.Context, p *plan) (string, error) {
	if !p.hasTable {
		return "Rewind cannot name the table it writes", nil
	}
	var kind sql.NullString
	var triggers, rules int
	err := r.conn.QueryRowContext(ctx, `SELECT c.relkind::text,
		(SELECT count(*) FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal),
		(SELECT count(*) FROM pg_rewrite w WHERE w.ev_class = c.oid AND w.rulename <> '_RETURN')
		FROM pg_class c WHERE c.oid = to_regclass($1)`, quoteTable(Postgres, p.table)).Scan(&kind, &triggers, &rules)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", nil // not there (yet): the statement fails, or an earlier one in the change makes it
	case err != nil:
		return "", fmt.Errorf("read table %s: %w", p.table, err)
	case kind.String == "f":
		return fmt.Sprintf("table %s is a foreign table, whose rows live on another server", p.table), nil
	case triggers > 0:
		return fmt.Sprintf("table %s has triggers, which Rewind does not read", p.table), nil
	case rules > 0:
		return fmt.Sprintf("table %s has rules, which Rewind does not read", p.table), nil
	case kind.String != "r" && kind.String != "p":
		return fmt.Sprintf("%s is not a plain table", p.table), nil
	}
	return "", nil
}

// transactionalEngines are the MySQL storage engines whose changes roll
// back. MariaDB's SEQUENCE objects are not among them: their values do not.
const transactionalEngines = "'InnoDB', 'RocksDB', 'TokuDB', 'ndbcluster'"

// mysqlNonTransactional says whether the statement may write a table whose
// storage engine cannot roll back (MyISAM, Aria, MEMORY, a SEQUENCE, ...)
// or that has triggers.
func (r *run) mysqlNonTransactional(ctx context.Context, p *plan) (string, error) {
	if p.hasTable && p.noSave == "" {
		var engine, typ sql.NullString
		var triggers int
		err := r.conn.QueryRowContext(ctx, `SELECT t.ENGINE, t.TABLE_TYPE, (SELECT COUNT(*) FROM information_schema.TRIGGERS g
			WHERE g.EVENT_OBJECT_SCHEMA = t.TABLE_SCHEMA AND g.EVENT_OBJECT_TABLE = t.TABLE_NAME) FROM information_schema.TABLES t
			WHERE t.TABLE_SCHEMA = COALESCE(?, DATABASE()) AND t.TABLE_NAME = ?`, nullIfEmpty(p.table.Schema), p.table.Name).Scan(&engine, &typ, &triggers)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return "", nil
		case err != nil:
			return "", fmt.Errorf("read storage engine of %s: %w", p.table, err)
		case triggers > 0:
			return fmt.Sprintf("table %s has triggers, which Rewind does not read", p.table), nil
		case typ.String == "SEQUENCE":
			return fmt.Sprintf("%s is a sequence, whose values do not roll back", p.table), nil
		case typ.String == "BASE TABLE":
			if strings.Contains(transactionalEngines, "'"+engine.String+"'") {
				return "", nil
			}
			return fmt.Sprintf("table %s uses the %s engine, which cannot roll back", p.table, engine.String), nil
		}
	}
	args := []any{}
	marks := []string{"DATABASE()"}
	for _, s := range p.schemas {
		args = append(args, s)
		marks = append(marks, "?")
	}
	in := strings.Join(marks, ", ")
	var schema, table, engine string
	err := r.conn.QueryRowContext(ctx, `SELECT TABLE_SCHEMA, TABLE_NAME, COALESCE(ENGINE, TABLE_TYPE) FROM information_schema.TABLES
		WHERE TABLE_SCHEMA IN (`+in+`) AND (TABLE_TYPE = 'SEQUENCE' OR TABLE_TYPE = 'BASE TABLE'
		AND ENGINE NOT IN (`+transactionalEngines+`)) LIMIT 1`, args...).Scan(&schema, &table, &engine)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return "", fmt.Errorf("read storage engines: %w", err)
	default:
		return fmt.Sprintf("the statement may write table %s.%s, whose %s engine cannot roll back", schema, table, engine), nil
	}
	var trigger string
	err = r.conn.QueryRowContext(ctx, `SELECT CONCAT(EVENT_OBJECT_SCHEMA, '.', EVENT_OBJECT_TABLE) FROM information_schema.TRIGGERS
		WHERE EVENT_OBJECT_SCHEMA IN (`+in+`) LIMIT 1`, args...).Scan(&trigger)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("read triggers: %w", err)
	}
	return fmt.Sprintf("the statement may write table %s, which has triggers", trigger), nil
}

// Execute runs the change. When every statement is provably transactional
// on this database (see notProvable) it runs in one transaction, so a
// failing statement leaves the database as it was; otherwise statements run
// in order and stop at the first error, and the results say which took
// effect. Before each UPDATE or DELETE it saves the rows the statement will
// touch, locked in the same transaction, and after each INSERT the keys of
// the new rows. On failure it returns the Execution (saying which
// statements ran) with a *StatementError. The whole run is bounded by
// Options.RunTimeout.
func (d *DB) Execute(ctx context.Context, stmts []Statement, opts Options) (*Execution, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.withDefaults(false).RunTimeout)
	defer cancel()
	r, err := d.start(ctx, stmts, opts, false)
	if err != nil {
		return nil, err
	}
	defer r.conn.Close()
	exec := &Execution{Engine: d.engine, Transactional: true, SavingSkipped: r.opts.SkipSaving}
	r.unprovable = make([]string, len(r.plans))
	for i, p := range r.plans {
		reason, err := r.notProvable(ctx, p)
		if err != nil {
			return nil, err
		}
		r.unprovable[i] = reason
		if reason != "" && exec.Transactional {
			exec.Transactional, exec.NotTransactionalReason = false, fmt.Sprintf("statement %d: %s", i+1, reason)
		}
	}
	var failure error
	if exec.Transactional {
		failure = r.inTransaction(ctx)
	} else {
		failure = r.oneByOne(ctx)
	}
	exec.Results = r.results
	if failure != nil && exec.Transactional {
		return exec, failure
	}
	exec.Saved = r.saved
	return exec, failure
}

// afterStatement checks, after statement i ran, that it left the session's
// lexing settings as pinned: otherwise the statements after it might be
// read differently by the server, and Rewind stops.
func (r *run) afterStatement(ctx context.Context, i int) error {
	if r.lex == "" {
		return nil
	}
	st, err := r.d.readLexing(ctx, r.conn)
	if err == nil {
		err = st.check(r.d.engine)
	}
	if err != nil {
		return fmt.Errorf("after statement %d: %w", i+1, err)
	}
	return nil
}

// inTransaction runs all statements in one transaction.
func (r *run) inTransaction(ctx context.Context) error {
	if err := r.begin(ctx); err != nil {
		return err
	}
	for i := range r.plans {
		if err := r.step(ctx, i); err != nil {
			r.rollback(ctx)
			r.markRolledBack(i)
			return err
		}
		r.results[i].Status = StatusSucceeded
	}
	if err := r.commit(ctx); err != nil {
		r.rollback(ctx)
		r.markRolledBack(len(r.plans))
		return err
	}
	return nil
}

// markRolledBack marks the statements before failed as rolled back.
func (r *run) markRolledBack(failed int) {
	for j := 0; j < failed && j < len(r.results); j++ {
		if r.results[j].Status == StatusSucceeded {
			r.results[j].Status = StatusRolledBack
		}
	}
	r.saved = nil
}

// oneByOne runs statements in order outside one transaction, each UPDATE,
// DELETE or INSERT in a small transaction of its own so that its saved rows
// stay locked until it commits.
func (r *run) oneByOne(ctx context.Context) error {
	for i, p := range r.plans {
		own := p.noTx == "" && p.implicitCommit == "" && (p.kind == KindUpdate || p.kind == KindDelete || p.kind == KindInsert)
		if own {
			if err := r.begin(ctx); err != nil {
				return &StatementError{Index: i, Err: err}
			}
		}
		savedBefore := len(r.saved)
		if err := r.step(ctx, i); err != nil {
			if own {
				r.rollback(ctx)
				r.saved = r.saved[:savedBefore]
			}
			if r.results[i].Status == StatusFailed && (!own || r.unprovable[i] != "") {
				// Outside a transaction, or with effects a rollback does not
				// reach, a failed statement may have done part of its work.
				r.results[i].PartialEffect = true
				r.results[i].Note = joinNote(r.results[i].Note, "this statement may have taken effect in part before it failed: check the database")
			}
			return err
		}
		if own {
			if err := r.commit(ctx); err != nil {
				r.rollback(ctx)
				r.saved = r.saved[:savedBefore]
				r.results[i].Status = StatusFailed
				r.results[i].Error = capText(err.Error(), maxErrorBytes)
				return &StatementError{Index: i, Err: err}
			}
		}
		r.results[i].Status = StatusSucceeded
	}
	return nil
}

// fail records the failure of statement i and returns its error.
func (r *run) fail(ctx context.Context, i int, sctx context.Context, err error) error {
	res := &r.results[i]
	res.Status = StatusFailed
	timedOut := isTimeout(err) || (errors.Is(sctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil)
	res.TimedOut = timedOut
	msg := err.Error()
	if timedOut {
		msg = fmt.Sprintf("stopped after the statement timeout of %s: %s", r.opts.StatementTimeout, msg)
	}
	res.Error = capText(r.d.scrub(msg), maxErrorBytes)
	return &StatementError{Index: i, TimedOut: timedOut, Err: err}
}

// isTimeout tells the engines' own statement timeouts.
func isTimeout(err error) bool {
	var myErr *mysql.MySQLError
	var pgErr *pgconn.PgError
	var liteErr *sqlite.Error
	switch {
	case errors.As(err, &myErr):
		return myErr.Number == 1969 || myErr.Number == 3024
	case errors.As(err, &pgErr):
		return pgErr.Code == "57014"
	case errors.As(err, &liteErr):
		return liteErr.Code()&0xff == sqliteInterrupt
	}
	return errors.Is(err, context.DeadlineExceeded)
}

// step saves what statement i needs saved, runs it and records the result.
func (r *run) step(ctx context.Context, i int) error {
	p := r.plans[i]
	res := &r.results[i]
	sctx, cancel := r.stmtCtx(ctx)
	defer cancel()

	var before, keys *SavedRows
	keyMode := ""
	if !r.preview {
		var note string
		var err error
		switch {
		case p.kind != KindUpdate && p.kind != KindDelete && p.kind != KindInsert:
		case r.opts.SkipSaving:
			note = "rows not saved: running without saved rows was confirmed"
		case p.kind == KindInsert:
			keys, keyMode, note, err = r.planKeys(sctx, i, p)
		default:
			before, note, err = r.readBefore(sctx, i, p)
		}
		if err != nil {
			return r.fail(ctx, i, sctx, err)
		}
		res.Note = note
	}

	started := time.Now()
	var affected int64
	var err error
	switch {
	case keyMode == "returning":
		affected, err = r.insertReturning(sctx, p, keys)
	case p.returnsRows:
		affected, err = r.query(sctx, p.sql, res)
	default:
		var id int64
		var hasID bool
		affected, id, hasID, err = r.execUser(sctx, p.sql)
		if err == nil {
			if r.d.engine == SQLite && p.kind != KindInsert && p.kind != KindUpdate && p.kind != KindDelete {
				// sqlite3_changes still holds the count of the last write.
				affected = 0
			}
			if keyMode == "lastInsertID" && hasID {
				r.lastInsertKeys(p, keys, id, affected, res)
			}
		}
	}
	res.Duration = time.Since(started)
	if err != nil {
		return r.fail(ctx, i, sctx, err)
	}
	if err := r.afterStatement(sctx, i); err != nil {
		return r.fail(ctx, i, sctx, err)
	}
	if r.d.engine == Postgres && p.kind == KindInsert && affected > 0 {
		if note, err := r.pgSequenceNote(sctx, p); err == nil && note != "" {
			res.Note = joinNote(res.Note, note)
		}
	}
	res.RowsAffected = affected
	if p.kind == KindDDL || p.kind == KindOther {
		clear(r.meta)
	}
	if before != nil {
		n := int64(len(before.Rows))
		if (p.kind == KindDelete && affected != n) || affected > n {
			return r.fail(ctx, i, sctx, fmt.Errorf("%w: saved %d rows, the statement changed %d", ErrSavedRowsMismatch, n, affected))
		}
		r.saved = append(r.saved, *before)
	}
	if keys != nil && len(keys.Rows) > 0 {
		r.saved = append(r.saved, *keys)
	}
	if err := r.checkBounds(); err != nil {
		return r.fail(ctx, i, sctx, err)
	}
	return nil
}

// tableMeta returns the table's metadata, cached until the next DDL.
func (r *run) tableMeta(ctx context.Context, t TableName) (*tableMeta, error) {
	if m, ok := r.meta[t]; ok {
		return m, nil
	}
	m, err := r.d.tableMeta(ctx, r.conn, t)
	if err != nil {
		return nil, err
	}
	if m != nil {
		r.meta[t] = m
	}
	return m, nil
}

// readBefore reads, and locks, the rows an UPDATE or DELETE will touch.
func (r *run) readBefore(ctx context.Context, i int, p *plan) (*SavedRows, string, error) {
	if p.noSave != "" {
		return nil, "rows not saved: " + p.noSave, nil
	}
	m, err := r.tableMeta(ctx, p.table)
	if err != nil {
		return nil, "", err
	}
	switch {
	case m == nil:
		return nil, "rows not saved: table " + p.table.String() + " not found", nil
	case m.noKey != "":
		return nil, "rows not saved: " + m.noKey, nil
	}
	for _, c := range p.setCols {
		for _, k := range m.key {
			if c == k || (r.d.engine != Postgres && strings.EqualFold(c, k)) {
				return nil, "rows not saved: the statement changes primary key column " + k, nil
			}
		}
	}
	var q strings.Builder
	q.WriteString("SELECT ")
	q.WriteString(selectList(r.d.engine, m.columns))
	q.WriteString(" FROM ")
	q.WriteString(p.fromText)
	if p.where != "" {
		q.WriteString(" WHERE ")
		q.WriteString(p.where)
	}
	if p.orderBy != "" {
		q.WriteString(" ")
		q.WriteString(p.orderBy)
	}
	if p.limit != "" {
		q.WriteString(" ")
		q.WriteString(p.limit)
	}
	if r.d.engine != SQLite {
		q.WriteString(" FOR UPDATE")
	}
	saved := &SavedRows{Statement: i, Kind: p.kind, Table: p.table, Columns: m.columns, PrimaryKey: m.key}
	note := ""
	linked, err := r.d.cascades(ctx, r.conn, p.table, p.kind == KindDelete)
	if err != nil {
		return nil, "", err
	}
	if len(linked) > 0 {
		saved.Gap = "rows changed through cascading foreign keys in " + strings.Join(linked, ", ") + " are not saved"
		note = "only some rows saved: " + saved.Gap
	}
	err = r.d.withPinnedSession(ctx, r.conn, m, true, func() error {
		rows, err := r.queryUser(ctx, q.String())
		if err != nil {
			return err
		}
		return r.collect(rows, m.columns, 0, saved)
	})
	if err != nil {
		return nil, "", fmt.Errorf("save rows of %s: %w", p.table, err)
	}
	return saved, note, nil
}

// collect reads rows into saved.Rows, from column skip on, counting them
// against the bounds.
func (r *run) collect(rows *sql.Rows, cols []Column, skip int, saved *SavedRows) error {
	defer rows.Close()
	n, err := rows.Columns()
	if err != nil {
		return err
	}
	dest := make([]any, len(n))
	ptrs := make([]any, len(n))
	for k := range dest {
		ptrs[k] = &dest[k]
	}
	cls := classes(r.d.engine, cols)
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		row := make(Row, len(cols))
		for k := range cols {
			row[k] = canonical(r.d.engine, cls[k], dest[skip+k])
			r.bytes += valueSize(row[k])
		}
		r.rows++
		saved.Rows = append(saved.Rows, row)
		if err := r.checkBounds(); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (r *run) checkBounds() error {
	if r.rows > r.opts.MaxSavedRows || r.bytes > r.opts.MaxSavedBytes {
		return &BoundsError{Rows: r.rows, Bytes: r.bytes, MaxRows: r.opts.MaxSavedRows, MaxBytes: r.opts.MaxSavedBytes}
	}
	return nil
}

func valueSize(v any) int64 {
	switch x := v.(type) {
	case string:
		return int64(len(x)) + 2
	case []byte:
		return int64(len(x)) + 2
	}
	return 8
}

// canonical turns a scanned value into a saved value (see Row).
func canonical(engine Engine, cls class, v any) any {
	switch x := v.(type) {
	case nil, string, int64, float64:
		return x
	case []byte:
		if engine == MySQL && cls != classBytes {
			return string(x)
		}
		if x == nil {
			return []byte{}
		}
		return x
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

// withPinnedSession runs f with the session settings that make values
// read back exactly: on PostgreSQL UTC, ISO dates and shortest exact
// floats; on MySQL the UTC time zone when the table has TIMESTAMP columns.
// With local, the settings are undone afterwards (the user's statements
// around must not see them).
func (d *DB) withPinnedSession(ctx context.Context, q queryer, m *tableMeta, local bool, f func() error) error {
	switch {
	case d.engine == Postgres:
		var tz, ds, is, efd string
		if local {
			if err := q.QueryRowContext(ctx, `SELECT current_setting('TimeZone'), current_setting('DateStyle'),
				current_setting('IntervalStyle'), current_setting('extra_float_digits')`).Scan(&tz, &ds, &is, &efd); err != nil {
				return fmt.Errorf("read session settings: %w", err)
			}
		}
		set := `SELECT set_config('TimeZone', $1, $5), set_config('DateStyle', $2, $5),
			set_config('IntervalStyle', $3, $5), set_config('extra_float_digits', $4, $5)`
		if _, err := q.ExecContext(ctx, set, "UTC", "ISO", "postgres", "1", local); err != nil {
			return fmt.Errorf("pin session settings: %w", err)
		}
		err := f()
		if local {
			if _, rerr := q.ExecContext(ctx, set, tz, ds, is, efd, local); rerr != nil && err == nil {
				err = fmt.Errorf("restore session settings: %w", rerr)
			}
		}
		return err
	case d.engine == MySQL && m.hasTS:
		if _, err := q.ExecContext(ctx, "SET @rewind_time_zone = @@session.time_zone, time_zone = '+00:00'"); err != nil {
			return fmt.Errorf("pin time zone: %w", err)
		}
		err := f()
		if local {
			if _, rerr := q.ExecContext(ctx, "SET time_zone = @rewind_time_zone"); rerr != nil && err == nil {
				err = fmt.Errorf("restore time zone: %w", rerr)
			}
		}
		return err
	}
	return f()
}

// planKeys decides how the keys of an INSERT's new rows will be learnt:
// "returning" (a RETURNING clause), "lastInsertID" (MySQL's AUTO_INCREMENT)
// or "" with a note saying why they cannot be.
func (r *run) planKeys(ctx context.Context, i int, p *plan) (*SavedRows, string, string, error) {
	const prefix = "inserted keys not known: "
	if p.noSave != "" {
		return nil, "", prefix + p.noSave, nil
	}
	m, err := r.tableMeta(ctx, p.table)
	if err != nil {
		return nil, "", "", err
	}
	switch {
	case m == nil:
		return nil, "", prefix + "table " + p.table.String() + " not found", nil
	case m.noKey != "":
		return nil, "", prefix + m.noKey, nil
	}
	keys := &SavedRows{Statement: i, Kind: KindInsert, Table: p.table, Columns: m.keyColumns(), PrimaryKey: m.key}
	if r.d.engine != MySQL || r.flavour.returning {
		return keys, "returning", "", nil
	}
	switch {
	case len(m.key) != 1 || m.autoInc != m.key[0]:
		return nil, "", prefix + "the primary key is not one AUTO_INCREMENT column", nil
	case !p.hasColumnList:
		return nil, "", prefix + "the INSERT has no column list", nil
	case p.ignore:
		return nil, "", prefix + "INSERT IGNORE may skip ids", nil
	}
	for _, c := range p.insertCols {
		if strings.EqualFold(c, m.autoInc) {
			return nil, "", prefix + "the INSERT gives the AUTO_INCREMENT column its values", nil
		}
	}
	if r.autoIncStep == 0 {
		err := r.conn.QueryRowContext(ctx, "SELECT @@auto_increment_increment, @@innodb_autoinc_lock_mode").Scan(&r.autoIncStep, &r.autoIncLockMode)
		if err != nil {
			return nil, "", "", fmt.Errorf("read auto-increment settings: %w", err)
		}
	}
	return keys, "lastInsertID", "", nil
}

// lastInsertKeys derives the keys of a MySQL INSERT from the first
// generated id, the rows affected and the auto-increment step.
func (r *run) lastInsertKeys(p *plan, keys *SavedRows, first, affected int64, res *StatementResult) {
	if affected > 1 && r.autoIncLockMode == 2 {
		res.Note = "inserted keys not known: with innodb_autoinc_lock_mode=2 a multi-row INSERT may get ids that are not consecutive"
		keys.Rows = nil
		return
	}
	for k := int64(0); k < affected; k++ {
		keys.Rows = append(keys.Rows, Row{strconv.FormatInt(first+k*r.autoIncStep, 10)})
		r.rows++
		r.bytes += 10
	}
}

// insertReturning runs an INSERT with the key columns added to (or put in)
// its RETURNING clause, and keeps the keys.
func (r *run) insertReturning(ctx context.Context, p *plan, keys *SavedRows) (int64, error) {
	q := p.sql
	if p.returning {
		q += ", " + selectList(r.d.engine, keys.Columns)
	} else {
		q += " RETURNING " + selectList(r.d.engine, keys.Columns)
	}
	rows, err := r.queryUser(ctx, q)
	if err != nil {
		return 0, err
	}
	cols, err := rows.Columns()
	if err != nil {
		rows.Close()
		return 0, err
	}
	before := len(keys.Rows)
	if err := r.collect(rows, keys.Columns, len(cols)-len(keys.Columns), keys); err != nil {
		return 0, err
	}
	return int64(len(keys.Rows) - before), nil
}

// query runs a statement that returns rows and keeps the first of them.
func (r *run) query(ctx context.Context, q string, res *StatementResult) (int64, error) {
	rows, err := r.queryUser(ctx, q)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	res.Columns = cols
	dest := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for k := range dest {
		ptrs[k] = &dest[k]
	}
	var n int64
	for rows.Next() {
		if n >= maxCountedRows {
			res.RowsTruncated = true
			break
		}
		n++
		if len(res.Rows) >= maxSampleRows {
			res.RowsTruncated = true
			continue
		}
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		row := make([]string, len(cols))
		for k, v := range dest {
			row[k] = display(v)
		}
		res.Rows = append(res.Rows, row)
	}
	return n, rows.Err()
}

// display shows a value on a page.
func display(v any) string {
	var s string
	switch x := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		if utf8.Valid(x) {
			s = string(x)
		} else {
			s = "x'" + hex.EncodeToString(x) + "'"
		}
	case time.Time:
		s = x.Format(time.RFC3339Nano)
	default:
		s = fmt.Sprint(x)
	}
	return capText(s, maxCellRunes)
}

// capText shortens s to at most n characters (bytes for long texts is
// close enough), marking the cut.
func capText(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	runes := []rune(s)
	return string(runes[:n]) + "…"
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
