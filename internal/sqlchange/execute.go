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
}

func (o Options) withDefaults() Options {
	if o.StatementTimeout <= 0 {
		o.StatementTimeout = DefaultStatementTimeout
	}
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
		out[i] = p
	}
	return out, nil
}

// Check reads statements as Preview and Execute will, without a database,
// and refuses what they would refuse before running anything: transaction
// control (a *StatementError wrapping ErrTransactionControl) and text that
// is not exactly one statement.
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
	r := &run{d: d, conn: conn, opts: opts.withDefaults(), plans: ps, preview: preview, meta: map[TableName]*tableMeta{}}
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
	return r, nil
}

// setTimeout sets the engine-side statement timeout for the session; the
// connection is not reused, so the setting dies with it.
func (r *run) setTimeout(ctx context.Context) error {
	t := r.opts.StatementTimeout
	var q string
	switch {
	case r.d.engine == Postgres:
		q = fmt.Sprintf("SET statement_timeout = %d", t.Milliseconds())
	case r.d.engine == MySQL && r.flavour.mariaDB:
		q = fmt.Sprintf("SET SESSION max_statement_time = %s", strconv.FormatFloat(t.Seconds(), 'f', 3, 64))
	case r.d.engine == MySQL:
		q = fmt.Sprintf("SET SESSION max_execution_time = %d", t.Milliseconds())
	default:
		return nil
	}
	if _, err := r.conn.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("set statement timeout: %w", err)
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

// Preview runs the statements in a transaction that is always rolled back
// and returns each one's rows affected. Statements that cannot be undone
// by a rollback (DDL on MySQL/MariaDB, which commits implicitly; statements
// that cannot run in a transaction; writes to MySQL tables that cannot roll
// back) are named "not previewed", not run. A failing statement stops the
// preview; the error is then a *StatementError, and the results say which
// one failed.
func (d *DB) Preview(ctx context.Context, stmts []Statement, opts Options) ([]StatementResult, error) {
	r, err := d.start(ctx, stmts, opts, true)
	if err != nil {
		return nil, err
	}
	defer r.conn.Close()
	if err := r.begin(ctx); err != nil {
		return nil, err
	}
	skipped := false
	var failure error
	for i, p := range r.plans {
		res := &r.results[i]
		reason, err := r.unsafeToUndo(ctx, p)
		if err != nil {
			failure = err
			break
		}
		if reason != "" {
			res.Status, res.Note = StatusNotPreviewed, "not previewed: "+reason
			skipped = true
			continue
		}
		if err := r.step(ctx, i); err != nil {
			if skipped {
				res.Note = joinNote(res.Note, "an earlier statement was not previewed; this one may depend on it")
			}
			failure = err
			break
		}
		res.Status = StatusPreviewed
	}
	rbErr := r.rollback(ctx)
	if failure != nil {
		return r.results, failure
	}
	if rbErr != nil {
		return r.results, rbErr
	}
	return r.results, nil
}

// unsafeToUndo says why a statement must not run in a preview (or, on
// execution, why the change cannot be one transaction); empty when it is safe.
func (r *run) unsafeToUndo(ctx context.Context, p *plan) (string, error) {
	if p.noTx != "" {
		return p.noTx, nil
	}
	if p.implicitCommit != "" {
		return p.implicitCommit, nil
	}
	if r.d.engine == MySQL && (p.kind == KindInsert || p.kind == KindUpdate || p.kind == KindDelete) {
		return r.mysqlNonTransactional(ctx, p)
	}
	return "", nil
}

// transactionalEngines are the MySQL storage engines whose changes roll back.
const transactionalEngines = "'InnoDB', 'RocksDB', 'TokuDB', 'ndbcluster', 'SEQUENCE'"

// mysqlNonTransactional says whether the statement may write a table whose
// storage engine cannot roll back (MyISAM, Aria, MEMORY, ...).
func (r *run) mysqlNonTransactional(ctx context.Context, p *plan) (string, error) {
	if p.hasTable && p.noSave == "" {
		var engine, typ sql.NullString
		err := r.conn.QueryRowContext(ctx, `SELECT ENGINE, TABLE_TYPE FROM information_schema.TABLES
			WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?`, nullIfEmpty(p.table.Schema), p.table.Name).Scan(&engine, &typ)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return "", nil
		case err != nil:
			return "", fmt.Errorf("read storage engine of %s: %w", p.table, err)
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
	var schema, table, engine string
	err := r.conn.QueryRowContext(ctx, `SELECT TABLE_SCHEMA, TABLE_NAME, ENGINE FROM information_schema.TABLES
		WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA IN (`+strings.Join(marks, ", ")+`)
		AND ENGINE NOT IN (`+transactionalEngines+`) LIMIT 1`, args...).Scan(&schema, &table, &engine)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("read storage engines: %w", err)
	}
	return fmt.Sprintf("the statement may write table %s.%s, whose %s engine cannot roll back", schema, table, engine), nil
}

// Execute runs the change. Where the engine allows (PostgreSQL and SQLite,
// and MySQL/MariaDB changes without DDL) it runs in one transaction, so a
// failing statement leaves the database as it was; otherwise statements run
// in order and stop at the first error. Before each UPDATE or DELETE it
// saves the rows the statement will touch, locked in the same transaction,
// and after each INSERT the keys of the new rows. On failure it returns
// the Execution (saying which statements ran) with a *StatementError.
func (d *DB) Execute(ctx context.Context, stmts []Statement, opts Options) (*Execution, error) {
	r, err := d.start(ctx, stmts, opts, false)
	if err != nil {
		return nil, err
	}
	defer r.conn.Close()
	exec := &Execution{Engine: d.engine, Transactional: true, SavingSkipped: r.opts.SkipSaving}
	for _, p := range r.plans {
		reason, err := r.unsafeToUndo(ctx, p)
		if err != nil {
			return nil, err
		}
		if reason != "" {
			exec.Transactional, exec.NotTransactionalReason = false, reason
			break
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
		var result sql.Result
		result, err = r.conn.ExecContext(sctx, p.sql)
		if err == nil {
			affected, _ = result.RowsAffected()
			if r.d.engine == SQLite && p.kind != KindInsert && p.kind != KindUpdate && p.kind != KindDelete {
				// sqlite3_changes still holds the count of the last write.
				affected = 0
			}
			if keyMode == "lastInsertID" {
				id, idErr := result.LastInsertId()
				if idErr == nil {
					r.lastInsertKeys(p, keys, id, affected, res)
				}
			}
		}
	}
	res.Duration = time.Since(started)
	if err != nil {
		return r.fail(ctx, i, sctx, err)
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
		rows, err := r.conn.QueryContext(ctx, q.String())
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
	rows, err := r.conn.QueryContext(ctx, q)
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
	rows, err := r.conn.QueryContext(ctx, q)
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
