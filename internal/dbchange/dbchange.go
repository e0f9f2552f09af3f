// Package dbchange runs SQL changes on registered databases as rollback
// requests. It executes a change or a rollback through sqlchange, records
// the version it made with each statement's result and the saved rows,
// generates the rollback SQL, and checks the rows after a rollback. It also
// serves the database pages: connection state, test connection, splitting,
// preview and saved rows ready to show.
package dbchange

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/sqlchange"
)

// Store is what SQL changes need of the history store.
type Store interface {
	Database(ctx context.Context, id int64) (*rewind.Database, error)
	RecordSQLExecution(ctx context.Context, v *rewind.Version, ex *rewind.SQLExecution) (*rewind.Version, error)
	SQLExecutionByStep(ctx context.Context, stepID int64) (*rewind.SQLExecution, error)
	SQLExecution(ctx context.Context, versionID int64) (*rewind.SQLExecution, error)
	SQLRollbacksOf(ctx context.Context, targetID, versionID int64) ([]*rewind.Request, error)
	SQLSaved(ctx context.Context, versionID int64) ([]byte, error)
	SetSQLVerify(ctx context.Context, versionID int64, ok bool, report string) error
}

// Options are the limits of SQL changes; zero values take sqlchange's defaults.
type Options struct {
	StatementTimeout time.Duration
	MaxSavedRows     int
	MaxSavedBytes    int64
	// DataDir is Rewind's data folder (store, keys): no SQLite target may
	// be a file in it (see refuseOwnData).
	DataDir string
}

// How long a connection state is trusted, and how long a ping may take.
const (
	stateTTL    = 20 * time.Second
	pingTimeout = 3 * time.Second
	testTimeout = 8 * time.Second
	// maxPreviewTimeout caps the statement timeout of a preview, which
	// holds a page request open (sqlchange caps it lower still).
	maxPreviewTimeout = 5 * time.Second
	// maxStatementText caps the SQL of one statement kept with its result;
	// the whole SQL is the version's content.
	maxStatementText = 10_000
	maxCellRunes     = 200
	// maxShownRows and maxShownTables cap the saved rows kept ready to show.
	maxShownRows   = 100
	maxShownTables = 20
)

// Service runs SQL changes and serves the database pages. It keeps one
// connection pool per registered database.
type Service struct {
	store Store
	opt   Options
	log   *slog.Logger

	mu     sync.Mutex
	pools  map[int64]*pool
	states map[int64]state
}

type pool struct {
	engine, dsn string
	db          *sqlchange.DB
}

type state struct {
	dsn string
	err error
	at  time.Time
}

// New returns a Service recording into store.
func New(store Store, opt Options, log *slog.Logger) *Service {
	if opt.StatementTimeout <= 0 {
		opt.StatementTimeout = sqlchange.DefaultStatementTimeout
	}
	if opt.MaxSavedRows <= 0 {
		opt.MaxSavedRows = sqlchange.DefaultMaxSavedRows
	}
	if opt.MaxSavedBytes <= 0 {
		opt.MaxSavedBytes = sqlchange.DefaultMaxSavedBytes
	}
	return &Service{store: store, opt: opt, log: log, pools: map[int64]*pool{}, states: map[int64]state{}}
}

// SavedRowsBound returns the bounds of the saved rows of one change: above
// them a change runs only when the requester confirms running without them.
func (s *Service) SavedRowsBound() (rows int, bytes int64) {
	return s.opt.MaxSavedRows, s.opt.MaxSavedBytes
}

// Close closes every connection pool.
func (s *Service) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for id, p := range s.pools {
		errs = append(errs, p.db.Close())
		delete(s.pools, id)
	}
	return errors.Join(errs...)
}

// Forget drops what is kept for a database (its pool and connection state),
// after its registration changed or was removed.
func (s *Service) Forget(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.pools[id]; ok {
		p.db.Close()
		delete(s.pools, id)
	}
	delete(s.states, id)
}

// open returns the connection pool of d, opening it on first use or after
// its connection string changed.
func (s *Service) open(d *rewind.Database) (*sqlchange.DB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.pools[d.ID]; ok {
		if p.engine == d.Engine && p.dsn == d.DSN {
			return p.db, nil
		}
		p.db.Close()
		delete(s.pools, d.ID)
	}
	if err := s.refuseOwnData(d.Engine, d.DSN); err != nil {
		return nil, err
	}
	db, err := sqlchange.Open(sqlchange.Engine(d.Engine), d.DSN)
	if err != nil {
		return nil, connectError(err)
	}
	s.pools[d.ID] = &pool{engine: d.Engine, dsn: d.DSN, db: db}
	return db, nil
}

// connectError turns a failure to reach a database into an EUNAVAILABLE
// error whose message says plainly what is wrong (never the password).
func connectError(err error) error {
	var ce *sqlchange.ConnectError
	switch {
	case errors.As(err, &ce) && ce.Reason == sqlchange.ReasonBadDSN:
		return rewind.Errorf(rewind.EINVALID, "Bad connection string: %s", ce.Detail)
	case errors.As(err, &ce) && ce.Detail != "":
		return rewind.Errorf(rewind.EUNAVAILABLE, "Cannot connect: %s (%s).", ce.Reason, ce.Detail)
	case errors.As(err, &ce):
		return rewind.Errorf(rewind.EUNAVAILABLE, "Cannot connect: %s.", ce.Reason)
	case errors.Is(err, sqlchange.ErrUnknownEngine):
		return rewind.Errorf(rewind.EINVALID, "Choose the engine: PostgreSQL, MySQL/MariaDB or SQLite.")
	}
	return rewind.Errorf(rewind.EUNAVAILABLE, "Cannot connect: %s.", err.Error())
}

// RedactDSN returns a connection string with its password replaced by ***.
func (s *Service) RedactDSN(engine, dsn string) string {
	return sqlchange.RedactDSN(sqlchange.Engine(engine), dsn)
}

// CheckDSN says whether a connection string can be read for the engine and
// may be registered (it is not Rewind's own data), without connecting.
func (s *Service) CheckDSN(engine, dsn string) error {
	if err := s.refuseOwnData(engine, dsn); err != nil {
		return err
	}
	db, err := sqlchange.Open(sqlchange.Engine(engine), dsn)
	if err != nil {
		return connectError(err)
	}
	return db.Close()
}

// TestConnection connects with the given settings now and says plainly
// what is wrong when it cannot.
func (s *Service) TestConnection(ctx context.Context, engine, dsn string) error {
	if err := s.refuseOwnData(engine, dsn); err != nil {
		return err
	}
	db, err := sqlchange.Open(sqlchange.Engine(engine), dsn)
	if err != nil {
		return connectError(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, testTimeout)
	defer cancel()
	if err := db.Ping(ctx); err != nil {
		return connectError(err)
	}
	return nil
}

// State returns the connection state of d: nil when it answers. The answer
// is kept for a short while, so that pages listing databases stay quick.
func (s *Service) State(ctx context.Context, d *rewind.Database) error {
	s.mu.Lock()
	st, ok := s.states[d.ID]
	s.mu.Unlock()
	if ok && st.dsn == d.DSN && time.Since(st.at) < stateTTL {
		return st.err
	}
	err := s.ping(ctx, d)
	s.mu.Lock()
	s.states[d.ID] = state{dsn: d.DSN, err: err, at: time.Now()}
	s.mu.Unlock()
	return err
}

func (s *Service) ping(ctx context.Context, d *rewind.Database) error {
	db, err := s.open(d)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := db.Ping(ctx); err != nil {
		return connectError(err)
	}
	return nil
}

// Split cuts sql into statements for the engine; SQL that cannot be split
// gives a *rewind.SQLSyntaxError saying where, and statements Rewind will
// not run (transaction control) an EINVALID error saying which.
func (s *Service) Split(engine, sql string) ([]rewind.SQLStatement, error) {
	stmts, err := sqlchange.Split(sqlchange.Engine(engine), sql)
	if err != nil {
		return nil, splitError(err)
	}
	if err := sqlchange.Check(sqlchange.Engine(engine), stmts); err != nil {
		return nil, statementError(err, nil)
	}
	out := make([]rewind.SQLStatement, len(stmts))
	for i, st := range stmts {
		out[i] = rewind.SQLStatement{Index: i, Line: st.Line, Col: st.Col, SQL: st.SQL, Kind: string(st.Kind), Table: st.Table}
	}
	return out, nil
}

func splitError(err error) error {
	var se *sqlchange.SplitError
	if errors.As(err, &se) {
		return &rewind.SQLSyntaxError{Line: se.Line, Col: se.Col, Msg: se.Msg}
	}
	if errors.Is(err, sqlchange.ErrUnknownEngine) {
		return rewind.Errorf(rewind.EINVALID, "The database has an unknown engine.")
	}
	return err
}

// Preview checks sql against d without running any of it (see
// sqlchange.DB.Preview) and returns per statement what the database said,
// its estimated rows and whether its rows will be saved, and whether the
// SQL will run in one transaction. Statements the database refuses are
// results with status failed; the error is for the preview as a whole (an
// EINVALID error for SQL Rewind will not run, EUNAVAILABLE when the
// database cannot be reached or is busy with other previews).
func (s *Service) Preview(ctx context.Context, d *rewind.Database, sql string) (*rewind.SQLPreview, error) {
	stmts, err := sqlchange.Split(sqlchange.Engine(d.Engine), sql)
	if err != nil {
		return nil, splitError(err)
	}
	db, err := s.open(d)
	if err != nil {
		return nil, err
	}
	opts := s.options(false)
	opts.StatementTimeout = min(opts.StatementTimeout, maxPreviewTimeout)
	rep, err := db.Preview(ctx, stmts, opts)
	switch {
	case errors.Is(err, sqlchange.ErrPreviewBusy):
		return nil, rewind.Errorf(rewind.EUNAVAILABLE, "The database is busy with other previews: try again in a moment.")
	case err != nil:
		return nil, statementError(err, nil)
	}
	return &rewind.SQLPreview{Results: results(rep.Results), Transactional: rep.Transactional, NotTransactionalReason: rep.NotTransactionalReason}, nil
}

// statementError says in words why a preview or an execution stopped.
func statementError(err error, res []rewind.SQLStatementResult) error {
	var se *sqlchange.StatementError
	var ce *sqlchange.ConnectError
	switch {
	case errors.As(err, &se):
		msg := ""
		if se.Index < len(res) {
			msg = res[se.Index].Error
		}
		if msg == "" {
			msg = se.Err.Error()
		}
		if errors.Is(se.Err, sqlchange.ErrTransactionControl) || errors.Is(se.Err, sqlchange.ErrLexingSetting) {
			return rewind.Errorf(rewind.EINVALID, "Statement %d: %s.", se.Index+1, msg)
		}
		return rewind.Errorf(rewind.EINVALID, "Statement %d failed: %s", se.Index+1, msg)
	case errors.As(err, &ce):
		return connectError(err)
	}
	return rewind.Errorf(rewind.EINVALID, "%s", err.Error())
}

func (s *Service) options(skipSaving bool) sqlchange.Options {
	return sqlchange.Options{StatementTimeout: s.opt.StatementTimeout, MaxSavedRows: s.opt.MaxSavedRows,
		MaxSavedBytes: s.opt.MaxSavedBytes, SkipSaving: skipSaving}
}

// results turns sqlchange's statement results into the domain's.
func results(rs []sqlchange.StatementResult) []rewind.SQLStatementResult {
	out := make([]rewind.SQLStatementResult, len(rs))
	for i, r := range rs {
		out[i] = rewind.SQLStatementResult{Index: r.Index, SQL: capText(r.SQL, maxStatementText), Kind: string(r.Kind), Status: string(r.Status),
			RowsAffected: r.RowsAffected, Duration: r.Duration, Error: r.Error, TimedOut: r.TimedOut, Note: r.Note,
			Estimated: r.Estimated, HasEstimate: r.HasEstimate, EstimateNote: r.EstimateNote,
			Columns: r.Columns, Rows: r.Rows, RowsTruncated: r.RowsTruncated}
	}
	return out
}

// tables returns saved rows ready to show: the rows of consecutive
// statements of one kind on one table together, at most maxRows rows per
// table and maxTables tables, and how many tables were left out.
func tables(saved []sqlchange.SavedRows, maxRows, maxTables int) ([]rewind.SavedTable, int) {
	var out []rewind.SavedTable
	hidden := 0
	for _, sr := range saved {
		cols := make([]rewind.SavedColumn, len(sr.Columns))
		for i, c := range sr.Columns {
			cols[i] = rewind.SavedColumn{Name: c.Name, Type: c.Type, Key: slices.Contains(sr.PrimaryKey, c.Name)}
		}
		n := len(out)
		if n == 0 || out[n-1].Kind != string(sr.Kind) || out[n-1].Table != sr.Table.String() || !slices.Equal(out[n-1].Columns, cols) {
			if n == maxTables {
				hidden++
				continue
			}
			out = append(out, rewind.SavedTable{Statement: sr.Statement, Kind: string(sr.Kind), Table: sr.Table.String(), Columns: cols})
			n++
		}
		t := &out[n-1]
		t.LastStatement = sr.Statement
		t.Total += len(sr.Rows)
		if sr.Gap != "" && !strings.Contains(t.Gap, sr.Gap) {
			t.Gap = strings.TrimPrefix(t.Gap+"; "+sr.Gap, "; ")
		}
		for _, row := range sr.Rows[:min(len(sr.Rows), maxRows-len(t.Rows))] {
			vals := make([]rewind.SavedValue, len(row))
			for i, v := range row {
				vals[i] = savedValue(v)
			}
			t.Rows = append(t.Rows, vals)
			t.RowStatements = append(t.RowStatements, sr.Statement)
		}
	}
	for i := range out {
		if out[i].Statement == out[i].LastStatement {
			out[i].RowStatements = nil
		}
	}
	return out, hidden
}

// savedValue shows one saved value.
func savedValue(v any) rewind.SavedValue {
	switch x := v.(type) {
	case nil:
		return rewind.SavedValue{Text: "NULL", Null: true}
	case string:
		if !utf8.ValidString(x) {
			return rewind.SavedValue{Text: hexText([]byte(x))}
		}
		return rewind.SavedValue{Text: capText(x, maxCellRunes)}
	case []byte:
		return rewind.SavedValue{Text: hexText(x)}
	case int64:
		return rewind.SavedValue{Text: strconv.FormatInt(x, 10)}
	case float64:
		return rewind.SavedValue{Text: strconv.FormatFloat(x, 'g', -1, 64)}
	}
	return rewind.SavedValue{Text: capText(fmt.Sprint(v), maxCellRunes)}
}

func hexText(b []byte) string {
	const digits = "0123456789abcdef"
	n := min(len(b), maxCellRunes/2)
	out := make([]byte, 0, 2*n+4)
	out = append(out, 'x', '\'')
	for _, c := range b[:n] {
		out = append(out, digits[c>>4], digits[c&0xf])
	}
	out = append(out, '\'')
	if n < len(b) {
		return string(out) + "…"
	}
	return string(out)
}

// capText shortens s to at most n characters, marking the cut.
func capText(s string, n int) string {
	if len(s) <= n || utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
