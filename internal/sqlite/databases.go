package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/rewindhq/rewind/internal/rewind"
)

// SaveDatabase inserts d, or updates it when d.ID is set, together with its
// target. The connection string is sealed before it is written; an update
// with an empty one keeps the old one. A database keeps its name.
func (s *Store) SaveDatabase(ctx context.Context, d *rewind.Database) error {
	check := *d
	if check.ID != 0 && check.DSN == "" {
		check.DSN = "kept"
	}
	if err := rewind.ValidateDatabase(check); err != nil {
		return err
	}
	var sealed []byte
	if d.DSN != "" {
		var err error
		if sealed, err = s.box.Seal([]byte(d.DSN)); err != nil {
			return fmt.Errorf("seal connection string: %w", err)
		}
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if d.ID != 0 {
			var name string
			if err := tx.QueryRowContext(ctx, `SELECT name FROM databases WHERE id = ?`, d.ID).Scan(&name); err != nil {
				return notFound("Database", err)
			}
			if name != d.Name {
				return rewind.Errorf(rewind.EINVALID, "A database keeps its name (%s); register a new one instead.", name)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE databases SET environment_id = ?, engine = ?, dsn_enc = COALESCE(?, dsn_enc), from_config = ? WHERE id = ?`,
				d.EnvironmentID, d.Engine, sealed, d.FromConfig, d.ID); err != nil {
				return fmt.Errorf("update database %s: %w", d.Name, err)
			}
			_, err := tx.ExecContext(ctx, `UPDATE targets SET environment_id = ?, deleted_at = NULL WHERE kind = ? AND owner_id = ?`,
				d.EnvironmentID, rewind.KindDatabase, d.ID)
			return err
		}
		d.CreatedAt = s.now()
		newID, err := insert(ctx, tx, `INSERT INTO databases (name, environment_id, engine, dsn_enc, from_config, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			d.Name, d.EnvironmentID, d.Engine, sealed, d.FromConfig, fmtTime(d.CreatedAt))
		if err != nil {
			return uniqueErr("A database", d.Name, err)
		}
		d.ID = newID
		_, err = tx.ExecContext(ctx, `INSERT INTO targets (kind, environment_id, owner_id, name, created_at) VALUES (?, ?, ?, ?, ?)`,
			rewind.KindDatabase, d.EnvironmentID, d.ID, d.Name, fmtTime(d.CreatedAt))
		if err != nil {
			return fmt.Errorf("create target of database %s: %w", d.Name, err)
		}
		return nil
	})
}

const databaseCols = `id, name, environment_id, engine, dsn_enc, from_config, created_at`

func (s *Store) scanDatabase(row interface{ Scan(...any) error }) (*rewind.Database, error) {
	var d rewind.Database
	var sealed []byte
	var created string
	if err := row.Scan(&d.ID, &d.Name, &d.EnvironmentID, &d.Engine, &sealed, &d.FromConfig, &created); err != nil {
		return nil, err
	}
	plain, err := s.box.Open(sealed)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", d.Name, err)
	}
	d.DSN = string(plain)
	d.CreatedAt = parseTime(created)
	return &d, nil
}

// Databases lists the registered databases by name, with their connection
// strings opened.
func (s *Store) Databases(ctx context.Context) ([]*rewind.Database, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+databaseCols+` FROM databases ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list databases: %w", err)
	}
	defer rows.Close()
	var out []*rewind.Database
	for rows.Next() {
		d, err := s.scanDatabase(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Database returns the database with that ID.
func (s *Store) Database(ctx context.Context, id int64) (*rewind.Database, error) {
	d, err := s.scanDatabase(s.db.QueryRowContext(ctx, `SELECT `+databaseCols+` FROM databases WHERE id = ?`, id))
	if err != nil {
		return nil, notFound("Database", err)
	}
	return d, nil
}

// DatabaseByName returns the database with that name.
func (s *Store) DatabaseByName(ctx context.Context, name string) (*rewind.Database, error) {
	d, err := s.scanDatabase(s.db.QueryRowContext(ctx, `SELECT `+databaseCols+` FROM databases WHERE name = ?`, name))
	if err != nil {
		return nil, notFound("Database", err)
	}
	return d, nil
}

// DatabaseTarget returns the target of the database with that ID.
func (s *Store) DatabaseTarget(ctx context.Context, databaseID int64) (*rewind.Target, error) {
	t, err := scanTarget(s.db.QueryRowContext(ctx, `SELECT `+targetCols+` FROM targets t WHERE kind = ? AND owner_id = ?`, rewind.KindDatabase, databaseID))
	if err != nil {
		return nil, notFound("Database", err)
	}
	return t, nil
}

// DeleteDatabase removes a database that no SQL change refers to, with its target.
func (s *Store) DeleteDatabase(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(DISTINCT s.request_id) FROM request_steps s JOIN targets t ON t.id = s.target_id
			WHERE t.kind = ? AND t.owner_id = ?`, rewind.KindDatabase, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return rewind.Errorf(rewind.ECONFLICT, "This database has recorded SQL changes (%d); it cannot be removed.", n)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM targets WHERE kind = ? AND owner_id = ?`, rewind.KindDatabase, id); err != nil {
			return fmt.Errorf("delete database target: %w", err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM databases WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("delete database: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("Database", sql.ErrNoRows)
		}
		return nil
	})
}

// statementRows is the JSON form of the rows a statement returned.
type statementRows struct {
	Columns   []string   `json:"columns"`
	Rows      [][]string `json:"rows"`
	Truncated bool       `json:"truncated,omitempty"`
}

// RecordSQLExecution appends v, the version a step of a SQL request made,
// to its target's versions together with the record of the run, in one
// transaction. v.RequestID and ex.StepID must be set; recording the same
// step again returns the version already recorded.
func (s *Store) RecordSQLExecution(ctx context.Context, v *rewind.Version, ex *rewind.SQLExecution) (*rewind.Version, error) {
	if v.RequestID == 0 || ex.StepID == 0 {
		return nil, errors.New("record SQL execution: no request step")
	}
	var out *rewind.Version
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var have int64
		err := tx.QueryRowContext(ctx, `SELECT version_id FROM sql_executions WHERE step_id = ?`, ex.StepID).Scan(&have)
		switch {
		case err == nil:
			out, err = scanVersion(tx.QueryRowContext(ctx, `SELECT `+versionCols+` FROM versions WHERE id = ?`, have))
			return err
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if out, err = s.insertVersion(ctx, tx, v); err != nil {
			return err
		}
		ex.VersionID, ex.RequestID, ex.StatementCount = out.ID, v.RequestID, len(ex.Statements)
		tables, err := json.Marshal(savedTables{Tables: ex.SavedTables, Hidden: ex.SavedTablesHidden})
		if err != nil {
			return fmt.Errorf("encode saved tables: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sql_executions (version_id, step_id, kind, of_version_id, succeeded, applied, transactional,
			not_transactional_reason, saving_skipped, rows_affected, statement_count, saved, saved_rows, saved_tables, rollback_sql, rollback_note,
			verified, verify_ok, verify_report) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			ex.VersionID, ex.StepID, ex.Kind, nullID(ex.OfVersionID), ex.Succeeded, ex.Applied, ex.Transactional,
			ex.NotTransactionalReason, ex.SavingSkipped, ex.RowsAffected, ex.StatementCount, ex.Saved, ex.SavedRows, tables, ex.RollbackSQL, ex.RollbackNote,
			ex.Verified, ex.VerifyOK, ex.VerifyReport); err != nil {
			return fmt.Errorf("insert execution: %w", err)
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO sql_statements (version_id, idx, sql, kind, status, rows_affected, duration_us, error, timed_out, note, result)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range ex.Statements {
			result := ""
			if len(r.Columns) > 0 {
				b, err := json.Marshal(statementRows{Columns: r.Columns, Rows: r.Rows, Truncated: r.RowsTruncated})
				if err != nil {
					return err
				}
				result = string(b)
			}
			if _, err := stmt.ExecContext(ctx, ex.VersionID, r.Index, r.SQL, r.Kind, r.Status, r.RowsAffected, r.Duration.Microseconds(),
				r.Error, r.TimedOut, r.Note, result); err != nil {
				return fmt.Errorf("insert statement %d: %w", r.Index+1, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("record SQL execution of request %d: %w", v.RequestID, err)
	}
	return out, nil
}

// savedTables is the JSON form of the saved rows ready to show.
type savedTables struct {
	Tables []rewind.SavedTable `json:"tables"`
	Hidden int                 `json:"hidden,omitempty"`
}

const executionCols = `version_id, step_id, (SELECT request_id FROM request_steps WHERE id = step_id), kind, COALESCE(of_version_id, 0),
	succeeded, applied, transactional, not_transactional_reason, saving_skipped, rows_affected, statement_count, saved_rows, saved_tables, rollback_sql, rollback_note, verified, verify_ok, verify_report`

func scanExecution(row interface{ Scan(...any) error }) (*rewind.SQLExecution, error) {
	var e rewind.SQLExecution
	var tables string
	err := row.Scan(&e.VersionID, &e.StepID, &e.RequestID, &e.Kind, &e.OfVersionID, &e.Succeeded, &e.Applied, &e.Transactional, &e.NotTransactionalReason,
		&e.SavingSkipped, &e.RowsAffected, &e.StatementCount, &e.SavedRows, &tables, &e.RollbackSQL, &e.RollbackNote, &e.Verified, &e.VerifyOK, &e.VerifyReport)
	if err != nil {
		return nil, err
	}
	if tables != "" {
		var st savedTables
		if err := json.Unmarshal([]byte(tables), &st); err != nil {
			return nil, fmt.Errorf("execution of version %d: saved tables: %w", e.VersionID, err)
		}
		e.SavedTables, e.SavedTablesHidden = st.Tables, st.Hidden
	}
	return &e, nil
}

// SQLExecution returns the record of the run that made the version with
// that ID, without its statements and its compressed saved rows (see
// SQLStatements and SQLSaved).
func (s *Store) SQLExecution(ctx context.Context, versionID int64) (*rewind.SQLExecution, error) {
	e, err := scanExecution(s.db.QueryRowContext(ctx, `SELECT `+executionCols+` FROM sql_executions WHERE version_id = ?`, versionID))
	if err != nil {
		return nil, notFound("SQL execution", err)
	}
	return e, nil
}

// SQLExecutionByStep returns the record of the run of a request's step, or
// an ENOTFOUND error when it has not run.
func (s *Store) SQLExecutionByStep(ctx context.Context, stepID int64) (*rewind.SQLExecution, error) {
	e, err := scanExecution(s.db.QueryRowContext(ctx, `SELECT `+executionCols+` FROM sql_executions WHERE step_id = ?`, stepID))
	if err != nil {
		return nil, notFound("SQL execution", err)
	}
	return e, nil
}

// SQLStatements returns up to limit statements of an execution from offset
// on, in order; a limit of 0 or less returns them all.
func (s *Store) SQLStatements(ctx context.Context, versionID int64, offset, limit int) ([]rewind.SQLStatementResult, error) {
	page := int64(limit)
	if page <= 0 {
		page = math.MaxInt64 // no limit; both engines take it
	}
	return s.sqlStatements(ctx, `WHERE version_id = ? ORDER BY idx LIMIT ? OFFSET ?`, versionID, page, offset)
}

// SQLStatementsNot returns up to limit statements of an execution whose
// status is not status, in order: the ones worth showing in a long change.
func (s *Store) SQLStatementsNot(ctx context.Context, versionID int64, status string, limit int) ([]rewind.SQLStatementResult, error) {
	return s.sqlStatements(ctx, `WHERE version_id = ? AND status != ? ORDER BY idx LIMIT ?`, versionID, status, limit)
}

func (s *Store) sqlStatements(ctx context.Context, where string, args ...any) ([]rewind.SQLStatementResult, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT idx, sql, kind, status, rows_affected, duration_us, error, timed_out, note, result
		FROM sql_statements `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("list statements: %w", err)
	}
	defer rows.Close()
	var out []rewind.SQLStatementResult
	for rows.Next() {
		var r rewind.SQLStatementResult
		var us int64
		var result string
		if err := rows.Scan(&r.Index, &r.SQL, &r.Kind, &r.Status, &r.RowsAffected, &us, &r.Error, &r.TimedOut, &r.Note, &result); err != nil {
			return nil, err
		}
		r.Duration = time.Duration(us) * time.Microsecond
		if result != "" {
			var sr statementRows
			if err := json.Unmarshal([]byte(result), &sr); err != nil {
				return nil, fmt.Errorf("statement %d result: %w", r.Index+1, err)
			}
			r.Columns, r.Rows, r.RowsTruncated = sr.Columns, sr.Rows, sr.Truncated
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// SQLSaved returns the saved rows of an execution as stored (compressed);
// nil when none were saved.
func (s *Store) SQLSaved(ctx context.Context, versionID int64) ([]byte, error) {
	var saved []byte
	if err := s.db.QueryRowContext(ctx, `SELECT saved FROM sql_executions WHERE version_id = ?`, versionID).Scan(&saved); err != nil {
		return nil, notFound("SQL execution", err)
	}
	return saved, nil
}

// SetSQLVerify records the check of the rows after a rollback.
func (s *Store) SetSQLVerify(ctx context.Context, versionID int64, ok bool, report string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE sql_executions SET verified = 1, verify_ok = ?, verify_report = ? WHERE version_id = ?`, ok, report, versionID)
	if err != nil {
		return fmt.Errorf("record verification: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("SQL execution", sql.ErrNoRows)
	}
	return nil
}

// DatabaseRequests returns one page of the SQL requests (changes and
// rollbacks) on a database target, newest first, and how many there are.
func (s *Store) DatabaseRequests(ctx context.Context, targetID int64, offset, limit int) ([]*rewind.Request, int, error) {
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(DISTINCT request_id) FROM request_steps WHERE target_id = ?`, targetID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count requests: %w", err)
	}
	ids, err := s.ids(ctx, `SELECT DISTINCT request_id FROM request_steps WHERE target_id = ? ORDER BY request_id DESC LIMIT ? OFFSET ?`, targetID, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("list requests: %w", err)
	}
	out, err := s.requests(ctx, ids)
	return out, total, err
}

// SQLRollbacksOf returns the rollback requests of the change that made the
// version with that ID, newest first, whatever their state.
func (s *Store) SQLRollbacksOf(ctx context.Context, targetID, versionID int64) ([]*rewind.Request, error) {
	ids, err := s.ids(ctx, `SELECT DISTINCT request_id FROM request_steps WHERE target_id = ?
		AND `+s.jsonText("payload", "kind")+` = ? AND `+s.jsonInt("payload", "of_version")+` = ? ORDER BY request_id DESC`,
		targetID, rewind.SQLKindRollback, versionID)
	if err != nil {
		return nil, fmt.Errorf("list rollbacks of version %d: %w", versionID, err)
	}
	return s.requests(ctx, ids)
}

func (s *Store) ids(ctx context.Context, q string, args ...any) ([]int64, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func (s *Store) requests(ctx context.Context, ids []int64) ([]*rewind.Request, error) {
	out := make([]*rewind.Request, 0, len(ids))
	for _, id := range ids {
		r, err := s.Request(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
