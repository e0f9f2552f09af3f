package sqlchange

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	sqlite "modernc.org/sqlite"
)

// A preview comes before approval, so it must not let the operator's SQL
// act: it never executes a statement. See docs/sql-safety.md for the
// argument; in short, per engine:
//
//   - PostgreSQL: a dedicated session with small statement and lock
//     timeouts, in a READ ONLY transaction that is rolled back. Statements
//     the planner takes (SELECT, INSERT, UPDATE, DELETE, MERGE, VALUES,
//     WITH) are sent as EXPLAIN (FORMAT JSON), never ANALYZE, through the
//     extended protocol, for the planner's estimated rows; when they call
//     a function defined in the database (which the planner might fold if
//     it is marked immutable) or are of another kind, they are only
//     parsed (a Parse message, not run).
//   - MySQL/MariaDB: no EXPLAIN, which on MariaDB evaluates constant
//     subqueries and stored functions. A statement is prepared on the
//     server (COM_STMT_PREPARE) and closed, never executed, and only when
//     every function it calls is a pure built-in: MariaDB evaluates
//     constant expressions while preparing, stored functions and
//     LOAD_FILE included. Estimated rows are the written table's size as
//     information_schema reports it.
//   - SQLite: each statement is compiled with sqlite3_prepare_v2 and
//     finalized without a step.
//
// An engine's error text can carry data (MariaDB's
// extractvalue(1, concat('~', (SELECT secret ...))) answers "XPATH syntax
// error: '~secret'"), so a preview passes the engine's message through only
// for errors about the statement's own text and the schema (see
// previewError); for others it says only the error's code.

// ErrPreviewBusy: the database already runs as many previews as Rewind
// allows at once; try again in a moment.
var ErrPreviewBusy = errors.New("the database is busy with other previews: try again in a moment")

// MaxPreviews is how many previews may run at once on one database, so
// that previews never take the connections approved changes need.
const MaxPreviews = 2

// Notes of a preview.
const (
	NotePlanner   = "estimated by the planner"
	NoteTableSize = "the table's size as the server estimates it, not the rows the statement touches"
)

// PreviewReport is what a preview learnt of a change without running it.
type PreviewReport struct {
	Results []StatementResult
	// Transactional says the change will run in one transaction; otherwise
	// NotTransactionalReason says which statement prevents it, and why.
	Transactional          bool
	NotTransactionalReason string
}

// Failed says a statement was refused by the database in the preview.
func (p *PreviewReport) Failed() bool {
	for _, r := range p.Results {
		if r.Status == StatusFailed {
			return true
		}
	}
	return false
}

// Preview checks each statement against the database without running it
// (see above) and says per statement its estimated rows where the engine
// can give them, whether its rows will be saved, and whether the change
// will run in one transaction. A statement the database refuses gets
// status failed and an Error; the preview goes on with the next ones.
// The error is for the preview as a whole: it could not connect, timed
// out, or the database is busy with other previews (ErrPreviewBusy).
func (d *DB) Preview(ctx context.Context, stmts []Statement, opts Options) (*PreviewReport, error) {
	select {
	case d.previews <- struct{}{}:
		defer func() { <-d.previews }()
	default:
		return nil, ErrPreviewBusy
	}
	ctx, cancel := context.WithTimeout(ctx, opts.withDefaults(true).RunTimeout)
	defer cancel()
	r, err := d.start(ctx, stmts, opts, true)
	if err != nil {
		return nil, err
	}
	defer r.conn.Close()
	rep := &PreviewReport{Transactional: true}
	if d.engine != SQLite {
		if err := r.begin(ctx); err != nil {
			return nil, err
		}
		defer r.rollback(ctx)
	}
	dependsOn := -1 // the last statement before this one that a preview does not run and that may make names
	for i, p := range r.plans {
		res := &r.results[i]
		reason, err := r.notProvable(ctx, p)
		if err != nil {
			return nil, err
		}
		if reason != "" && rep.Transactional {
			rep.Transactional, rep.NotTransactionalReason = false, fmt.Sprintf("statement %d: %s", i+1, reason)
		}
		if note, err := r.saveNote(ctx, i, p); err != nil {
			return nil, err
		} else if note != "" {
			res.Note = note
		}
		status, perr := r.previewOne(ctx, p, res)
		switch {
		case perr != nil && ctx.Err() != nil:
			return nil, fmt.Errorf("preview stopped after its time limit of %s at statement %d", r.opts.RunTimeout, i+1)
		case perr != nil && dependsOn >= 0 && undefinedName(perr):
			res.Status = StatusNotPreviewed
			res.Note = joinNote(res.Note, fmt.Sprintf("not checked: it names something statement %d makes, and a preview runs nothing", dependsOn+1))
		case perr != nil:
			res.Status = StatusFailed
			res.Error = capText(d.scrub(previewError(perr)), maxErrorBytes)
		default:
			res.Status = status
		}
		if p.kind != KindSelect && p.kind != KindInsert && p.kind != KindUpdate && p.kind != KindDelete {
			dependsOn = i
		}
	}
	rep.Results = r.results
	return rep, nil
}

// previewOne hands one statement to the engine without running it.
func (r *run) previewOne(ctx context.Context, p *plan, res *StatementResult) (Status, error) {
	sctx, cancel := r.stmtCtx(ctx)
	defer cancel()
	switch r.d.engine {
	case Postgres:
		return r.pgPreview(sctx, p, res)
	case MySQL:
		return r.mysqlPreview(sctx, p, res)
	default:
		if _, err := sqlitePrepare(sctx, r.conn, p.sql); err != nil {
			return "", err
		}
		res.EstimateNote = "no estimate: SQLite has no planner estimates"
		return StatusPreviewed, nil
	}
}

// pgPreview plans or parses a statement inside a savepoint, so that a
// failing one leaves the read-only transaction usable.
func (r *run) pgPreview(ctx context.Context, p *plan, res *StatementResult) (Status, error) {
	if _, err := r.conn.ExecContext(ctx, "SAVEPOINT rewind_preview"); err != nil {
		return "", fmt.Errorf("savepoint: %w", err)
	}
	st, err := r.pgPlanOrParse(ctx, p, res)
	if err != nil {
		if _, rerr := r.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK TO SAVEPOINT rewind_preview"); rerr != nil {
			return "", errors.Join(err, fmt.Errorf("roll back to savepoint: %w", rerr))
		}
		return "", err
	}
	return st, nil
}

func (r *run) pgPlanOrParse(ctx context.Context, p *plan, res *StatementResult) (Status, error) {
	user, _, err := r.pgFunctions(ctx, p)
	if err != nil {
		return "", err
	}
	if user == "" {
		// The planner folds immutable functions it finds through views too.
		if user, err = r.pgIndirectFunction(ctx, p); err != nil {
			return "", err
		}
	}
	if p.explainable && user == "" {
		var doc string
		rows, err := r.queryUser(ctx, "EXPLAIN (FORMAT JSON) "+p.sql)
		if err != nil {
			return "", err
		}
		for rows.Next() {
			if err := rows.Scan(&doc); err != nil {
				rows.Close()
				return "", err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return "", err
		}
		n, err := planRows(doc)
		if err != nil {
			return "", fmt.Errorf("read the plan: %w", err)
		}
		res.Estimated, res.HasEstimate, res.EstimateNote = n, true, NotePlanner
		return StatusPreviewed, nil
	}
	err = pgConn(r.conn, func(pc *pgconn.PgConn) error {
		_, err := pc.Prepare(ctx, "", p.sql, nil)
		return err
	})
	if err != nil {
		return "", err
	}
	switch {
	case user != "":
		res.EstimateNote = "no estimate: only parsed, because it calls " + user + ", a function defined in the database"
	default:
		res.EstimateNote = "no estimate: the planner does not plan this kind of statement; it was only parsed"
	}
	return StatusPreviewed, nil
}

// planRows reads the planner's estimated rows from EXPLAIN (FORMAT JSON):
// for a statement that writes, the rows fed to the write.
func planRows(doc string) (int64, error) {
	type node struct {
		Type  string  `json:"Node Type"`
		Rows  float64 `json:"Plan Rows"`
		Plans []node  `json:"Plans"`
	}
	var out []struct {
		Plan node `json:"Plan"`
	}
	if err := json.Unmarshal([]byte(doc), &out); err != nil {
		return 0, err
	}
	if len(out) == 0 {
		return 0, errors.New("empty plan")
	}
	n := out[0].Plan
	if n.Type == "ModifyTable" && len(n.Plans) > 0 {
		n = n.Plans[0]
	}
	return int64(math.Round(n.Rows)), nil
}

// mysqlPreview prepares a statement on the server and closes it, when
// every function it calls is a pure built-in.
func (r *run) mysqlPreview(ctx context.Context, p *plan, res *StatementResult) (Status, error) {
	if name := mysqlImpure(p.calls); name != "" {
		res.Note = joinNote(res.Note, "not checked: it calls "+name+", and MySQL/MariaDB may evaluate a function while only preparing a statement")
		return StatusNotPreviewed, nil
	}
	if p.sequence {
		res.Note = joinNote(res.Note, "not checked: it takes a sequence's value")
		return StatusNotPreviewed, nil
	}
	if view, err := r.mysqlViewWithFunctions(ctx, p); err != nil {
		return "", err
	} else if view != "" {
		res.Note = joinNote(res.Note, "not checked: it names view "+view+", and the database has stored functions, which MariaDB may run while preparing a statement that reads a view")
		return StatusNotPreviewed, nil
	}
	stmt, err := r.conn.PrepareContext(ctx, p.sql)
	var myErr *mysql.MySQLError
	switch {
	case errors.As(err, &myErr) && myErr.Number == 1295:
		res.Note = joinNote(res.Note, "not checked: the server cannot check this kind of statement without running it")
		return StatusNotPreviewed, nil
	case err != nil:
		return "", err
	}
	if err := stmt.Close(); err != nil {
		return "", fmt.Errorf("close prepared statement: %w", err)
	}
	if p.hasTable && (p.kind == KindUpdate || p.kind == KindDelete) {
		var rows *int64
		err := r.conn.QueryRowContext(ctx, `SELECT TABLE_ROWS FROM information_schema.TABLES
			WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?`, nullIfEmpty(p.table.Schema), p.table.Name).Scan(&rows)
		if err == nil && rows != nil {
			res.Estimated, res.HasEstimate, res.EstimateNote = *rows, true, NoteTableSize
			return StatusPreviewed, nil
		}
	}
	res.EstimateNote = "no estimate: MySQL/MariaDB previews do not plan statements (EXPLAIN could run parts of them)"
	return StatusPreviewed, nil
}

// saveNote says whether executing statement i will save its rows (or the
// keys it inserts), and if not why, without reading any row.
func (r *run) saveNote(ctx context.Context, i int, p *plan) (string, error) {
	switch p.kind {
	case KindInsert:
		keys, _, note, err := r.planKeys(ctx, i, p)
		switch {
		case err != nil:
			return "", err
		case note != "":
			return note, nil
		case keys != nil:
			return "the keys of inserted rows will be saved", nil
		}
	case KindUpdate, KindDelete:
		if p.noSave != "" {
			return "rows not saved: " + p.noSave, nil
		}
		m, err := r.tableMeta(ctx, p.table)
		switch {
		case err != nil:
			return "", err
		case m == nil:
			return "rows not saved: table " + p.table.String() + " not found", nil
		case m.noKey != "":
			return "rows not saved: " + m.noKey, nil
		}
		for _, c := range p.setCols {
			for _, k := range m.key {
				if c == k || (r.d.engine != Postgres && strings.EqualFold(c, k)) {
					return "rows not saved: the statement changes primary key column " + k, nil
				}
			}
		}
		return "the rows it changes will be saved", nil
	}
	return "", nil
}

// undefinedName says the engine refused a statement for naming a table,
// column or function it does not know.
func undefinedName(err error) bool {
	var pgErr *pgconn.PgError
	var myErr *mysql.MySQLError
	var liteErr *sqlite.Error
	switch {
	case errors.As(err, &pgErr):
		return pgErr.Code == "42P01" || pgErr.Code == "42703" || pgErr.Code == "42883" || pgErr.Code == "3F000" || pgErr.Code == "42704"
	case errors.As(err, &myErr):
		return myErr.Number == 1146 || myErr.Number == 1054 || myErr.Number == 1305
	case errors.As(err, &liteErr):
		return strings.Contains(err.Error(), "no such")
	}
	return strings.Contains(err.Error(), "no such table") || strings.Contains(err.Error(), "no such column")
}

// mysqlTextErrors are MySQL/MariaDB errors about the statement's own text,
// the names it uses and the privileges it needs: their messages quote only
// the statement and the schema.
var mysqlTextErrors = map[uint16]bool{
	1044: true, 1046: true, 1049: true, 1050: true, 1051: true, 1052: true, 1054: true, 1058: true,
	1060: true, 1061: true, 1064: true, 1072: true, 1091: true, 1109: true, 1110: true, 1136: true,
	1142: true, 1143: true, 1146: true, 1149: true, 1166: true, 1221: true, 1222: true, 1235: true,
	1241: true, 1248: true, 1305: true, 1327: true, 1582: true, 1583: true, 1630: true, 1792: true,
}

// pgTextClasses are PostgreSQL SQLSTATE classes about the statement's own
// text, names and privileges (42), unsupported features (0A), unknown
// schemas (3F) and read-only transactions (25).
var pgTextClasses = map[string]bool{"42": true, "0A": true, "3F": true, "25": true}

// pgClassNames name the other SQLSTATE classes, which are shown without
// the engine's message.
var pgClassNames = map[string]string{
	"22": "data exception", "23": "integrity constraint violation", "2B": "dependent privilege descriptors still exist",
	"38": "external routine exception", "39": "external routine invocation exception", "40": "transaction rollback",
	"53": "insufficient resources", "54": "program limit exceeded", "55": "object not in prerequisite state",
	"57": "operator intervention", "58": "system error", "F0": "configuration file error", "P0": "PL/pgSQL error",
	"XX": "internal error", "08": "connection exception", "28": "invalid authorization",
}

// previewError says why the engine refused a statement in a preview. The
// engine's own message is kept only for errors about the statement's text
// and the schema; any other message could carry data that a value computed
// while planning put there, so it is replaced by its code.
func previewError(err error) string {
	var pgErr *pgconn.PgError
	var myErr *mysql.MySQLError
	var liteErr *sqlite.Error
	switch {
	case errors.Is(err, ErrSecondStatement):
		return err.Error()
	case errors.As(err, &pgErr):
		class := pgErr.Code[:min(2, len(pgErr.Code))]
		if pgErr.Code == "57014" {
			return "stopped after the preview's time limit (SQLSTATE 57014)"
		}
		if pgErr.Code == "55P03" {
			return "waited too long for a lock (SQLSTATE 55P03)"
		}
		if pgTextClasses[class] {
			return pgErr.Message + " (SQLSTATE " + pgErr.Code + ")"
		}
		name := pgClassNames[class]
		if name == "" {
			name = "error"
		}
		return fmt.Sprintf("the database refused the statement: %s (SQLSTATE %s); its message is not shown before approval, as it could hold data", name, pgErr.Code)
	case errors.As(err, &myErr):
		if mysqlTextErrors[myErr.Number] {
			return fmt.Sprintf("%s (error %d)", myErr.Message, myErr.Number)
		}
		if myErr.Number == 1205 || myErr.Number == 1969 || myErr.Number == 3024 {
			return fmt.Sprintf("stopped after the preview's time or lock limit (error %d)", myErr.Number)
		}
		return fmt.Sprintf("the database refused the statement with error %d (SQLSTATE %s); its message is not shown before approval, as it could hold data",
			myErr.Number, string(myErr.SQLState[:]))
	case errors.As(err, &liteErr):
		// SQLite only compiles: its messages name the text and the schema.
		return err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "stopped after the preview's time limit"
	}
	return "the statement could not be checked: " + err.Error()
}

// mysqlViewWithFunctions returns a view the statement may read, when the
// server has stored functions: MariaDB evaluates a view's constant
// expressions, stored functions included, while preparing a statement that
// reads it. Any word of the statement that names a view counts.
func (r *run) mysqlViewWithFunctions(ctx context.Context, p *plan) (string, error) {
	if r.storedFunctions < 0 {
		var n int
		if err := r.conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_TYPE = 'FUNCTION'").Scan(&n); err != nil {
			return "", fmt.Errorf("count stored functions: %w", err)
		}
		r.storedFunctions = n
	}
	if r.storedFunctions == 0 {
		return "", nil
	}
	a := &analyzer{engine: r.d.engine, src: p.sql}
	parts, err := splitTokens(r.d.engine, p.sql)
	if err != nil || len(parts) != 1 {
		return "", fmt.Errorf("read statement: %v", err)
	}
	a.toks = parts[0]
	var args []any
	seen := map[string]bool{}
	for i := range a.toks {
		if part, ok := a.identPart(i); ok && !seen[strings.ToLower(part)] {
			seen[strings.ToLower(part)] = true
			args = append(args, strings.ToLower(part))
		}
	}
	if len(args) == 0 {
		return "", nil
	}
	var view string
	err = r.conn.QueryRowContext(ctx, `SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) FROM information_schema.TABLES
		WHERE TABLE_TYPE = 'VIEW' AND LOWER(TABLE_NAME) IN (?`+strings.Repeat(", ?", len(args)-1)+`) LIMIT 1`, args...).Scan(&view)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("look up views: %w", err)
	}
	return view, nil
}
