package dbchange

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/sqlchange"
)

// Execute runs the SQL of request r on database target t and records the
// version it made: each statement's result, the saved rows and the rollback
// SQL generated from them. For a rollback of a change with saved rows it
// then checks that the rows are back. It returns the outcome in words; a
// non-nil error means the SQL did not all run, and the outcome says what
// state the database is in. Once started, the SQL runs to its end even
// when Rewind is stopping (each statement is bounded by the statement
// timeout), so that its result is recorded.
func (s *Service) Execute(ctx context.Context, r *rewind.Request, st *rewind.Step, t *rewind.Target, _ *rewind.Version, progress func(string)) (string, error) {
	ctx = context.WithoutCancel(ctx)
	p, err := rewind.ParseSQLRequest(st.Payload)
	if err != nil {
		return "Nothing was changed: the request holds no readable SQL.", err
	}
	if done, err := s.store.SQLExecutionByStep(ctx, st.ID); err == nil {
		// Run once only: a retried step whose SQL ran reports that run.
		out, err := recordedOutcome(done)
		return "The SQL of this step already ran; Rewind does not run it twice. " + out, err
	}
	d, err := s.store.Database(ctx, t.OwnerID)
	if err != nil {
		return "Nothing was changed: the database is no longer registered.", err
	}
	db, err := s.open(d)
	if err != nil {
		return "Nothing was changed. " + rewind.ErrorMessage(err), err
	}
	engine := sqlchange.Engine(d.Engine)
	stmts, err := sqlchange.Split(engine, p.SQL)
	if err != nil {
		return "Nothing was changed: the SQL cannot be split into statements: " + err.Error(), err
	}
	progress(fmt.Sprintf("Running %s on %s.", count(len(stmts), "statement"), d.Name))
	exec, runErr := db.Execute(ctx, stmts, s.options(p.ConfirmNoSavedRows))
	if exec == nil {
		msg := rewind.ErrorMessage(statementError(runErr, nil))
		return "Nothing was changed. " + msg, fmt.Errorf("run SQL of request %d: %w", r.ID, runErr)
	}

	rec := &rewind.SQLExecution{StepID: st.ID, Kind: p.Kind, OfVersionID: p.OfVersion, Succeeded: runErr == nil, Transactional: exec.Transactional,
		NotTransactionalReason: exec.NotTransactionalReason, SavingSkipped: exec.SavingSkipped, Statements: results(exec.Results)}
	for _, res := range exec.Results {
		if res.Status == sqlchange.StatusSucceeded {
			rec.Applied = true
			rec.RowsAffected += rowsChanged(res)
		}
	}
	if rec.Applied {
		rec.RollbackSQL, rec.RollbackNote = generate(engine, exec)
	}
	if len(exec.Saved) > 0 {
		if rec.Saved, err = sqlchange.EncodeSaved(exec.Saved); err != nil {
			s.log.Error("encode saved rows", "request", r.ID, "err", err)
			rec.RollbackSQL, rec.RollbackNote = "", "The saved rows could not be stored, so no rollback SQL was generated."
		}
		for _, sr := range exec.Saved {
			rec.SavedRows += len(sr.Rows)
		}
		rec.SavedTables, rec.SavedTablesHidden = tables(exec.Saved, maxShownRows, maxShownTables)
	}
	source, status := rewind.SourceChange, "succeeded"
	if p.Kind == rewind.SQLKindRollback {
		source = rewind.SourceRollback
	}
	if runErr != nil {
		status = "failed"
	}
	meta := map[string]string{"kind": p.Kind, "status": status, "database": d.Name, "engine": d.Engine}
	if p.OfVersion != 0 {
		meta["of_version"] = strconv.FormatInt(p.OfVersion, 10)
	}
	sum := sha256.Sum256([]byte(strconv.FormatInt(r.ID, 10) + "/" + strconv.Itoa(st.Position) + "\n" + p.SQL))
	v := &rewind.Version{TargetID: t.ID, Content: p.SQL, Hash: hex.EncodeToString(sum[:]), Source: source, Author: r.Requester,
		ChangeCause: r.Reason, Meta: meta, RequestID: r.ID}
	ran := ranOutcome(d, exec, rec, runErr)
	stored, err := s.store.RecordSQLExecution(ctx, v, rec)
	if err != nil {
		s.log.Error("record SQL execution", "request", r.ID, "err", err)
		return ran + " Rewind could not record the result, and keeps no saved rows for it.", fmt.Errorf("record SQL execution: %w", err)
	}
	ran = fmt.Sprintf("Version %d. %s", stored.Number, ran)
	if runErr != nil {
		return ran, fmt.Errorf("run SQL of request %d: %w", r.ID, runErr)
	}
	if p.Kind == rewind.SQLKindRollback {
		ran += " " + s.verify(ctx, db, stored.ID, p)
	}
	return ran, nil
}

// rowsChanged is the rows a statement changed: 0 for one that only read.
func rowsChanged(res sqlchange.StatementResult) int64 {
	if res.Kind == sqlchange.KindSelect || res.Columns != nil {
		return 0
	}
	return res.RowsAffected
}

// generate writes the rollback SQL of an execution, or says why there is none.
func generate(engine sqlchange.Engine, exec *sqlchange.Execution) (string, string) {
	if exec.SavingSkipped {
		return "", "No rows were saved (running without saved rows was confirmed), so no rollback SQL was generated."
	}
	sql, err := sqlchange.GenerateRollback(engine, exec)
	var incomplete *sqlchange.IncompleteRollbackError
	switch {
	case err == nil:
		return sql, ""
	case errors.Is(err, sqlchange.ErrNothingToRollBack):
		return "", "Nothing to roll back: no statement changed a row that was saved."
	case errors.As(err, &incomplete):
		return sql, capText(err.Error(), 4000)
	}
	return "", "The rollback SQL could not be generated: " + capText(err.Error(), 2000)
}

// verify checks, after a rollback, the rows saved by the change it undoes,
// records the result and says it in words.
func (s *Service) verify(ctx context.Context, db *sqlchange.DB, versionID int64, p rewind.SQLRequest) string {
	saved, err := s.store.SQLSaved(ctx, p.OfVersion)
	if err != nil || len(saved) == 0 {
		return "The change rolled back had no saved rows, so the rows were not checked."
	}
	decoded, err := sqlchange.DecodeSaved(saved)
	if err != nil {
		s.log.Error("decode saved rows", "version", p.OfVersion, "err", err)
		return "The saved rows of the change could not be read, so the rows were not checked."
	}
	report, err := db.Verify(ctx, decoded)
	if err != nil {
		msg := "The rows could not be checked: " + rewind.ErrorMessage(statementError(err, nil))
		if serr := s.store.SetSQLVerify(ctx, versionID, false, msg); serr != nil {
			s.log.Error("record verification", "version", versionID, "err", serr)
		}
		return msg
	}
	text := "Check: " + report.String() + "."
	if report.OK() {
		text = fmt.Sprintf("Check: all %s saved by the change are back as they were.", count(report.Checked, "row"))
	}
	if err := s.store.SetSQLVerify(ctx, versionID, report.OK(), capText(text, 20_000)); err != nil {
		s.log.Error("record verification", "version", versionID, "err", err)
	}
	return capText(text, 2000)
}

// ranOutcome says in words what an execution did.
func ranOutcome(d *rewind.Database, exec *sqlchange.Execution, rec *rewind.SQLExecution, runErr error) string {
	n := len(exec.Results)
	how := "in one transaction"
	if !exec.Transactional {
		how = "one by one (" + exec.NotTransactionalReason + ")"
	}
	if runErr == nil {
		out := fmt.Sprintf("Ran %s on %s %s: %s affected.", count(n, "statement"), d.Name, how, count(int(rec.RowsAffected), "row"))
		switch {
		case rec.RollbackSQL != "" && rec.RollbackNote == "":
			out += fmt.Sprintf(" Saved %s; the rollback SQL is ready.", count(rec.SavedRows, "row"))
		case rec.RollbackSQL != "":
			out += " The rollback SQL was generated but does not undo everything: " + rec.RollbackNote
		case rec.RollbackNote != "":
			out += " " + rec.RollbackNote
		}
		return out
	}
	failed := -1
	for i, r := range exec.Results {
		if r.Status == sqlchange.StatusFailed {
			failed = i
		}
	}
	if failed < 0 {
		return fmt.Sprintf("The SQL failed: %s.", rewind.ErrorMessage(statementError(runErr, rec.Statements)))
	}
	res := exec.Results[failed]
	out := fmt.Sprintf("Statement %d of %d failed: %s", failed+1, n, res.Error)
	if exec.Transactional {
		out += " The transaction was rolled back: nothing was changed."
		for _, r := range exec.Results {
			if strings.Contains(r.Note, "sequence values") {
				out += " Only the sequence values its INSERTs took stay taken: PostgreSQL sequences never roll back."
				break
			}
		}
		return out
	}
	switch {
	case failed > 0:
		out += fmt.Sprintf(" Statements 1–%d ran %s and stay applied.", failed, how)
	case !res.PartialEffect:
		out += " Statements ran " + how + "; none took effect."
	default:
		out += " Statements ran " + how + "."
	}
	if res.PartialEffect {
		out += fmt.Sprintf(" Statement %d may have taken effect in part before it failed: check the database.", failed+1)
	}
	if failed+1 < n {
		out += fmt.Sprintf(" Statements %d–%d did not run.", failed+2, n)
	}
	if rec.RollbackSQL != "" {
		out += " Rollback SQL was generated for the statements that ran."
	}
	return out
}

// recordedOutcome is the outcome of a request whose run is already recorded.
func recordedOutcome(ex *rewind.SQLExecution) (string, error) {
	if ex.Succeeded {
		return "The SQL ran and its result is recorded.", nil
	}
	return "The SQL failed; its result is recorded.", errors.New("SQL request already ran and failed")
}

// Reconcile settles a SQL request found running when Rewind starts: from its
// recorded result when there is one; otherwise it failed, and the outcome
// says that the database may need checking.
func (s *Service) Reconcile(ctx context.Context, r *rewind.Request, st *rewind.Step, _ *rewind.Target, _ *rewind.Version) (rewind.StepState, string, error) {
	ex, err := s.store.SQLExecutionByStep(ctx, st.ID)
	switch {
	case err == nil && ex.Succeeded:
		return rewind.StepSucceeded, "The SQL ran and its result is recorded.", nil
	case err == nil:
		return rewind.StepFailed, "The SQL failed; its result is recorded.", nil
	case rewind.ErrorCode(err) == rewind.ENOTFOUND:
		return rewind.StepFailed, "Rewind stopped while the SQL ran, before recording its result. " +
			"Statements run in one transaction were rolled back by the database unless they had committed: " +
			"check the database before submitting the change again.", nil
	}
	return "", "", err
}

// count says "1 row", "3 rows".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

var _ rewind.Executor = (*Service)(nil)
