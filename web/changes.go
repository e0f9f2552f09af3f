package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/requests"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/templates"
)

// Caps on what a change page shows; downloads give the whole.
const (
	maxShownSQLBytes    = 64 << 10
	maxEditableSQLBytes = 1 << 20 // a longer generated rollback runs as generated
	maxListedStatements = 200
	maxSplitStatements  = 200
	maxInboxSQLBytes    = 4000
	summaryStatements   = 3
)

// changeForm shows the form to submit a SQL change.
func (s *Server) changeForm(c echo.Context) error {
	v, err := s.changeFormView(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, s.meta(c, "New SQL change", "databases"), templates.ChangeFormPage(v))
}

// changeFormView is the empty form for the database named by :id, saying
// when a request is already open on it.
func (s *Server) changeFormView(c echo.Context) (templates.ChangeFormView, error) {
	backend, err := s.databases()
	if err != nil {
		return templates.ChangeFormView{}, err
	}
	t, d, env, err := s.databaseTarget(c)
	if err != nil {
		return templates.ChangeFormView{}, err
	}
	v := templates.ChangeFormView{CSRF: csrfToken(c), TargetID: t.ID, Database: d.Name, Engine: rewind.EngineLabel(d.Engine), Env: env.Name,
		Approvals: env.RequiredApprovals}
	v.BoundRows, v.BoundBytes = backend.SavedRowsBound()
	if open := s.openRequest(c.Request().Context(), t.ID); open != nil {
		v.Blocked = fmt.Sprintf("Request #%d is %s on this database; submit once it is finished or cancelled.", open.ID, open.State)
	}
	if open, err := s.releases().OpenReleasesFor(c.Request().Context(), actor(c), t.ID); err == nil {
		for _, o := range open {
			v.Releases = append(v.Releases, templates.ReleaseOption{ID: o.Release.ID, Label: o.Workflow.Name + "/" + o.Release.Name})
		}
	}
	return v, nil
}

func (s *Server) openRequest(ctx context.Context, targetID int64) *rewind.Request {
	reqs, _, err := s.store.DatabaseRequests(ctx, targetID, 0, 20)
	if err != nil {
		return nil
	}
	for _, r := range reqs {
		if r.State == rewind.StatePending || r.State == rewind.StateApproved || r.State == rewind.StateRunning {
			return r
		}
	}
	return nil
}

// formSQL reads a SQL field as the browser sent it, with its line ends
// made plain.
func formSQL(c echo.Context, name string) string {
	return strings.ReplaceAll(c.FormValue(name), "\r\n", "\n")
}

// changeCreate stores a SQL change as a request on the database.
func (s *Server) changeCreate(c echo.Context) error {
	v, err := s.changeFormView(c)
	if err != nil {
		return err
	}
	t, d, _, err := s.databaseTarget(c)
	if err != nil {
		return err
	}
	v.SQL, v.RollbackSQL, v.Reason = formSQL(c, "sql"), formSQL(c, "rollback_sql"), c.FormValue("reason")
	v.Confirm = c.FormValue("confirm_no_saved_rows") == "1"
	if rel := c.FormValue("release_id"); rel != "" && rel != "0" {
		if v.ReleaseID, err = strconv.ParseInt(rel, 10, 64); err != nil {
			v.ReleaseID = -1 // refused below as no open release
		}
	}
	r, err := s.submitChange(c, t, d, changeInput{SQL: v.SQL, RollbackSQL: v.RollbackSQL, Reason: v.Reason,
		ConfirmNoSavedRows: v.Confirm, SubmitWithFailingPreview: c.FormValue("submit_with_failing_preview") == "1", ReleaseID: v.ReleaseID})
	var refused *changeRefusal
	if errors.As(err, &refused) {
		v.Error, v.Syntax, v.Preview = refused.Message, refused.Syntax, refused.Preview
		if refused.Preview != nil {
			v.Error = "The preview failed: correct the SQL, or tick “Submit anyway” to submit it as it is."
		}
		return s.render(c, refused.Status, s.meta(c, "New SQL change", "databases"), templates.ChangeFormPage(v))
	}
	if err != nil {
		return err
	}
	flash(c, 's', "SQL change #"+strconv.FormatInt(r.ID, 10)+" submitted.")
	return redirect(c, "/requests/"+strconv.FormatInt(r.ID, 10))
}

// changeInput is a SQL change as a requester submits it, on the page or
// through the API.
type changeInput struct {
	SQL, RollbackSQL, Reason string
	// ConfirmNoSavedRows runs the change although its rows cannot be saved.
	ConfirmNoSavedRows bool
	// SubmitWithFailingPreview submits although the preview fails, marked
	// so for the approvers.
	SubmitWithFailingPreview bool
	// ReleaseID, when not 0, is the open release the change belongs to.
	ReleaseID int64
}

// changeRefusal says why a SQL change was not submitted: the field at
// fault, the message, and what the form shows of a split error or of a
// failing preview (then PreviewErrors lists what failed).
type changeRefusal struct {
	Status        int
	Field         string
	Message       string
	Syntax        *templates.SyntaxErrorView
	Preview       *templates.PreviewView
	PreviewErrors []string
}

func (r *changeRefusal) Error() string { return r.Message }

// submitChange checks a SQL change (its statements, its rollback SQL, the
// reason, the preview) and stores it as a request on database d. A change
// it refuses comes back as a *changeRefusal.
func (s *Server) submitChange(c echo.Context, t *rewind.Target, d *rewind.Database, in changeInput) (*rewind.Request, error) {
	ctx := c.Request().Context()
	backend, err := s.databases()
	if err != nil {
		return nil, err
	}
	invalid := func(field, msg string) error {
		return &changeRefusal{Status: http.StatusUnprocessableEntity, Field: field, Message: msg}
	}
	stmts, err := backend.Split(d.Engine, in.SQL)
	var se *rewind.SQLSyntaxError
	switch {
	case errors.As(err, &se):
		syntax := templates.NewSyntaxErrorView("sql", in.SQL, se)
		return nil, &changeRefusal{Status: http.StatusUnprocessableEntity, Field: "sql", Syntax: syntax,
			Message: "The SQL cannot be split into statements: " + syntax.Text()}
	case rewind.ErrorCode(err) == rewind.EINVALID:
		return nil, invalid("sql", rewind.ErrorMessage(err))
	case err != nil:
		return nil, err
	}
	if strings.TrimSpace(in.RollbackSQL) != "" {
		_, err := backend.Split(d.Engine, in.RollbackSQL)
		switch {
		case errors.As(err, &se):
			syntax := templates.NewSyntaxErrorView("rollback_sql", in.RollbackSQL, se)
			return nil, &changeRefusal{Status: http.StatusUnprocessableEntity, Field: "rollback_sql", Syntax: syntax,
				Message: "The rollback SQL cannot be split into statements: " + syntax.Text()}
		case rewind.ErrorCode(err) == rewind.EINVALID:
			return nil, invalid("rollback_sql", "In the rollback SQL: "+rewind.ErrorMessage(err))
		case err != nil:
			return nil, err
		}
	} else {
		in.RollbackSQL = ""
	}
	reason, err := rewind.ValidateReason(in.Reason)
	if err != nil {
		return nil, invalid("reason", rewind.ErrorMessage(err))
	}
	p := rewind.SQLRequest{Kind: rewind.SQLKindChange, SQL: in.SQL, RollbackSQL: in.RollbackSQL, ConfirmNoSavedRows: in.ConfirmNoSavedRows}
	if err := p.Validate(); err != nil {
		return nil, invalid("sql", rewind.ErrorMessage(err))
	}
	pv, errs, err := s.preview(ctx, backend, d, in.SQL)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		if !in.SubmitWithFailingPreview {
			return nil, &changeRefusal{Status: http.StatusUnprocessableEntity, Field: "sql", Preview: &pv, PreviewErrors: errs,
				Message: "The preview failed: " + strings.Join(errs, "; ")}
		}
		p.PreviewFailed, p.PreviewErrors = true, errs
	}
	if in.ReleaseID != 0 {
		if err := s.checkOpenRelease(ctx, c, t, in.ReleaseID); err != nil {
			return nil, invalid("release_id", rewind.ErrorMessage(err))
		}
	}
	payload, err := p.Encode()
	if err != nil {
		return nil, err
	}
	r, err := s.requests().Create(ctx, actor(c), requests.NewRequest{Kind: rewind.RequestChange, Reason: reason, ReleaseID: in.ReleaseID,
		Steps: []requests.NewStep{{Target: t, Payload: payload, Detail: "SQL change: " + statementSummary(stmts) + previewMark(p)}}})
	if rewind.ErrorCode(err) == rewind.ECONFLICT {
		return nil, &changeRefusal{Status: http.StatusConflict, Message: rewind.ErrorMessage(err)}
	}
	return r, err
}

// checkOpenRelease checks that release id is open and its workflow holds
// database target t.
func (s *Server) checkOpenRelease(ctx context.Context, c echo.Context, t *rewind.Target, id int64) error {
	open, err := s.releases().OpenReleasesFor(ctx, actor(c), t.ID)
	if err != nil {
		return err
	}
	for _, o := range open {
		if o.Release.ID == id {
			return nil
		}
	}
	return rewind.Errorf(rewind.EINVALID, "Release #%d is not an open release of a workflow that holds this database.", id)
}

// statementSummary names the statements of a change for the audit trail,
// e.g. "3 statements (UPDATE items, DELETE items, INSERT events)", without
// their values, which may be secret.
func statementSummary(stmts []rewind.SQLStatement) string {
	parts := make([]string, 0, min(len(stmts), summaryStatements+1))
	for i, st := range stmts {
		if i == summaryStatements {
			parts = append(parts, "…")
			break
		}
		part := st.Kind
		if st.Table != "" {
			part += " " + st.Table
		}
		parts = append(parts, part)
	}
	noun := "statements"
	if len(stmts) == 1 {
		noun = "statement"
	}
	return fmt.Sprintf("%d %s (%s)", len(stmts), noun, strings.Join(parts, ", "))
}

// previewOnSubmit previews SQL as it is submitted. When the preview fails
// (a statement is refused, or the preview cannot run) the form shows it and
// stop is true, unless the requester ticked "Submit anyway": then the
// request p is marked as submitted with a failing preview, with what the
// preview found, for the approvers.
func (s *Server) previewOnSubmit(c echo.Context, backend DatabaseBackend, d *rewind.Database, sql string, v *templates.ChangeFormView, p *rewind.SQLRequest) (stop bool, err error) {
	pv, errs, err := s.preview(c.Request().Context(), backend, d, sql)
	if err != nil {
		return false, err
	}
	if len(errs) == 0 {
		return false, nil
	}
	if c.FormValue("submit_with_failing_preview") == "1" {
		p.PreviewFailed, p.PreviewErrors = true, errs
		return false, nil
	}
	v.Preview = &pv
	return true, nil
}

// preview previews sql on d for a page, and lists what makes it fail.
func (s *Server) preview(ctx context.Context, backend DatabaseBackend, d *rewind.Database, sql string) (templates.PreviewView, []string, error) {
	v := templates.PreviewView{}
	v.BoundRows, _ = backend.SavedRowsBound()
	pv, err := backend.Preview(ctx, d, sql)
	var se *rewind.SQLSyntaxError
	switch {
	case errors.As(err, &se):
		v.Syntax = templates.NewSyntaxErrorView("sql", sql, se)
		return v, []string{"The SQL cannot be split into statements: " + v.Syntax.Text()}, nil
	case err != nil && rewind.ErrorCode(err) == rewind.EINTERNAL:
		return v, nil, err
	case err != nil:
		v.Error = rewind.ErrorMessage(err)
		return v, []string{"The preview could not run: " + v.Error}, nil
	}
	v.Results, v.Transactional, v.NotTransactionalReason = pv.Results, pv.Transactional, pv.NotTransactionalReason
	for _, r := range pv.Results {
		switch {
		case r.Status == "not previewed":
			v.NotPreviewed++
		case r.HasEstimate && (r.Kind == "UPDATE" || r.Kind == "DELETE"):
			v.WriteRows += r.Estimated
		}
	}
	v.OverBound = v.WriteRows > int64(v.BoundRows)
	return v, pv.Errors(), nil
}

// previewMark is what the audit trail adds for SQL submitted with a
// failing preview.
func previewMark(p rewind.SQLRequest) string {
	if p.PreviewFailed {
		return " (submitted with a failing preview)"
	}
	return ""
}

// sqlPreviewErrors are, for SQL submitted with a failing preview, what the
// preview found.
func sqlPreviewErrors(r *rewind.Request) []string {
	p, err := rewind.ParseSQLRequest(r.First().Payload)
	if err != nil || !p.PreviewFailed {
		return nil
	}
	if len(p.PreviewErrors) == 0 {
		return []string{"The preview failed."}
	}
	return p.PreviewErrors
}

// changePreview checks SQL against the database without running any of it
// and shows per statement what the database said, its estimated rows and
// whether its rows will be saved. The SQL comes from the form, from a
// stored request (request), or is the generated rollback of a version
// (use_generated with version).
func (s *Server) changePreview(c echo.Context) error {
	ctx := c.Request().Context()
	backend, err := s.databases()
	if err != nil {
		return err
	}
	t, d, _, err := s.databaseTarget(c)
	if err != nil {
		return err
	}
	sql := formSQL(c, "sql")
	switch {
	case c.FormValue("request") != "":
		id, _ := strconv.ParseInt(c.FormValue("request"), 10, 64)
		r, err := s.store.Request(ctx, id)
		if err != nil {
			return err
		}
		if r.First().TargetID != t.ID {
			return rewind.Errorf(rewind.ENOTFOUND, "Request not found on this database.")
		}
		p, err := rewind.ParseSQLRequest(r.First().Payload)
		if err != nil {
			return rewind.Errorf(rewind.EINVALID, "The request holds no readable SQL.")
		}
		sql = p.SQL
	case c.FormValue("use_generated") == "1":
		_, ex, err := s.changeVersion(c, t)
		if err != nil {
			return err
		}
		sql = ex.RollbackSQL
	}
	v, _, err := s.preview(ctx, backend, d, sql)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, s.meta(c, "Preview", "databases"), templates.PreviewResult(v))
}

// changeVersion loads the version named by the "version" value (its
// number) on database target t, with the record of its run.
func (s *Server) changeVersion(c echo.Context, t *rewind.Target) (*rewind.Version, *rewind.SQLExecution, error) {
	ctx := c.Request().Context()
	n, err := strconv.ParseInt(c.FormValue("version"), 10, 64)
	if err != nil || n < 1 {
		return nil, nil, rewind.Errorf(rewind.EINVALID, "Choose the change to roll back.")
	}
	ver, err := s.store.VersionByNumber(ctx, t.ID, n)
	if err != nil {
		return nil, nil, err
	}
	ex, err := s.store.SQLExecution(ctx, ver.ID)
	if err != nil {
		return nil, nil, err
	}
	return ver, ex, nil
}

// sqlRollbackView is the rollback form of the change named by "version",
// filled with the generated rollback SQL, or the one written with the change.
func (s *Server) sqlRollbackView(c echo.Context) (templates.ChangeFormView, *rewind.Version, *rewind.SQLExecution, error) {
	ctx := c.Request().Context()
	v, err := s.changeFormView(c)
	if err != nil {
		return v, nil, nil, err
	}
	t, _, _, err := s.databaseTarget(c)
	if err != nil {
		return v, nil, nil, err
	}
	ver, ex, err := s.changeVersion(c, t)
	if err != nil {
		return v, nil, nil, err
	}
	orig, err := s.store.Request(ctx, ex.RequestID)
	if err != nil {
		return v, nil, nil, err
	}
	p, err := rewind.ParseSQLRequest(orig.First().Payload)
	if err != nil {
		return v, nil, nil, rewind.Errorf(rewind.EINVALID, "The change holds no readable SQL.")
	}
	v.Rollback, v.Version, v.Of = true, ver.Number, s.changeRef(ctx, orig)
	done, open, err := s.rollbacksOf(ctx, t.ID, ver.ID)
	if err != nil {
		return v, nil, nil, err
	}
	switch {
	case !ex.Applied:
		v.Blocked = "Nothing to roll back: no statement of this change stayed applied."
	case done != nil:
		v.Blocked = fmt.Sprintf("This change was already rolled back by request #%d.", done.RequestID)
	case open != nil:
		v.Blocked = fmt.Sprintf("Rollback request #%d of this change is %s.", open.RequestID, open.State)
	}
	v.RollbackNote = ex.RollbackNote
	switch {
	case ex.RollbackSQL != "" && len(ex.RollbackSQL) > maxEditableSQLBytes:
		v.UseGenerated, v.Generated, v.GeneratedSize = true, true, len(ex.RollbackSQL)
	case ex.RollbackSQL != "":
		v.SQL, v.Generated = ex.RollbackSQL, true
	case p.RollbackSQL != "":
		v.SQL = p.RollbackSQL
		v.RollbackNote = strings.TrimSpace(v.RollbackNote + " The rollback SQL written with the change is filled in.")
	default:
		v.RollbackNote = strings.TrimSpace(v.RollbackNote + " Write the rollback SQL by hand.")
	}
	return v, ver, ex, nil
}

// sqlRollbackForm shows the rollback of an executed change, ready to edit.
func (s *Server) sqlRollbackForm(c echo.Context) error {
	v, _, _, err := s.sqlRollbackView(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, s.meta(c, "Roll back change", "databases"), templates.ChangeFormPage(v))
}

// sqlRollbackCreate stores the rollback of an executed change as a request.
func (s *Server) sqlRollbackCreate(c echo.Context) error {
	ctx := c.Request().Context()
	backend, err := s.databases()
	if err != nil {
		return err
	}
	v, ver, ex, err := s.sqlRollbackView(c)
	if err != nil {
		return err
	}
	t, d, _, err := s.databaseTarget(c)
	if err != nil {
		return err
	}
	if !v.UseGenerated {
		v.SQL, v.Generated = formSQL(c, "sql"), false
	}
	v.Reason, v.Confirm = c.FormValue("reason"), c.FormValue("confirm_no_saved_rows") == "1"
	fail := func(status int, msg string) error {
		v.Error = msg
		return s.render(c, status, s.meta(c, "Roll back change", "databases"), templates.ChangeFormPage(v))
	}
	if v.Blocked != "" {
		return fail(http.StatusConflict, v.Blocked)
	}
	sql := v.SQL
	if v.UseGenerated {
		sql = ex.RollbackSQL
	}
	stmts, err := backend.Split(d.Engine, sql)
	var se *rewind.SQLSyntaxError
	switch {
	case errors.As(err, &se):
		v.Syntax = templates.NewSyntaxErrorView("sql", sql, se)
		return fail(http.StatusUnprocessableEntity, "The rollback SQL cannot be split into statements: "+v.Syntax.Text())
	case rewind.ErrorCode(err) == rewind.EINVALID:
		return fail(http.StatusUnprocessableEntity, rewind.ErrorMessage(err))
	case err != nil:
		return err
	}
	reason, err := rewind.ValidateReason(v.Reason)
	if err != nil {
		return fail(http.StatusUnprocessableEntity, rewind.ErrorMessage(err))
	}
	generated := ex.RollbackSQL != "" && strings.TrimSpace(sql) == strings.TrimSpace(ex.RollbackSQL)
	v.Generated = generated
	p := rewind.SQLRequest{Kind: rewind.SQLKindRollback, SQL: sql, OfVersion: ver.ID, Generated: generated, ConfirmNoSavedRows: v.Confirm}
	if err := p.Validate(); err != nil {
		return fail(http.StatusUnprocessableEntity, rewind.ErrorMessage(err))
	}
	if stop, err := s.previewOnSubmit(c, backend, d, sql, &v, &p); stop || err != nil {
		if err != nil {
			return err
		}
		return fail(http.StatusUnprocessableEntity, "The preview failed: correct the rollback SQL, or tick “Submit anyway” to submit it as it is.")
	}
	payload, err := p.Encode()
	if err != nil {
		return err
	}
	how := "edited"
	if generated {
		how = "generated"
	}
	r, err := s.requests().Create(ctx, actor(c), requests.NewRequest{Reason: reason, Steps: []requests.NewStep{{Target: t, Payload: payload, Detail: fmt.Sprintf("SQL rollback of version %d (request #%d), %s: %s%s", ver.Number, ex.RequestID, how, statementSummary(stmts), previewMark(p))}}})
	if err != nil {
		if rewind.ErrorCode(err) == rewind.ECONFLICT {
			return fail(http.StatusConflict, rewind.ErrorMessage(err))
		}
		return err
	}
	flash(c, 's', "Rollback request #"+strconv.FormatInt(r.ID, 10)+" submitted.")
	return redirect(c, "/requests/"+strconv.FormatInt(r.ID, 10))
}

// changeView builds the SQL part of the page of request r on database t.
func (s *Server) changeView(c echo.Context, r *rewind.Request, t *rewind.Target) (*templates.ChangeView, error) {
	ctx := c.Request().Context()
	backend, err := s.databases()
	if err != nil {
		return nil, err
	}
	p, err := rewind.ParseSQLRequest(r.First().Payload)
	if err != nil {
		return nil, fmt.Errorf("request %d: %w", r.ID, err)
	}
	v := &templates.ChangeView{CSRF: csrfToken(c), RequestID: r.ID, TargetID: t.ID, Database: t.Name, Kind: p.Kind, RollbackSQL: cutSQL(p.RollbackSQL, maxShownSQLBytes),
		ConfirmNoSavedRows: p.ConfirmNoSavedRows, Generated: p.Generated, SQLSize: len(p.SQL),
		SQLURL: fmt.Sprintf("/requests/%d/sql", r.ID), RollbackURL: fmt.Sprintf("/requests/%d/rollback.sql", r.ID)}
	v.SQL = cutSQL(p.SQL, maxShownSQLBytes)
	v.SQLCut = len(v.SQL) < len(p.SQL)
	v.PreviewFailed, v.PreviewErrors = p.PreviewFailed, sqlPreviewErrors(r)
	d, dbErr := s.store.Database(ctx, t.OwnerID)
	if dbErr == nil {
		v.Engine = rewind.EngineLabel(d.Engine)
	}
	if p.Kind == rewind.SQLKindRollback {
		v.Of = s.changeOfVersion(ctx, p.OfVersion)
	}
	ex, err := s.store.SQLExecutionByStep(ctx, r.First().ID)
	switch {
	case rewind.ErrorCode(err) == rewind.ENOTFOUND:
		if dbErr != nil {
			v.SplitError = "The database is no longer registered."
			return v, nil
		}
		stmts, err := backend.Split(d.Engine, p.SQL)
		if err != nil {
			v.SplitError = "The SQL cannot be split into statements: " + err.Error()
		}
		v.Statements = stmts[:min(len(stmts), maxSplitStatements)]
		v.CanPreview = can(c, rewind.RoleOperator, t.EnvironmentID) && (r.State == rewind.StatePending || r.State == rewind.StateApproved)
		return v, nil
	case err != nil:
		return nil, err
	}
	v.Execution = ex
	if v.Version, err = s.store.Version(ctx, ex.VersionID); err != nil {
		return nil, err
	}
	if err := s.loadResults(ctx, v, ex); err != nil {
		return nil, err
	}
	v.Saved, v.HiddenSaved = ex.SavedTables, ex.SavedTablesHidden
	v.GeneratedRollback = cutSQL(ex.RollbackSQL, maxShownSQLBytes)
	v.GeneratedCut = len(v.GeneratedRollback) < len(ex.RollbackSQL)
	if v.RolledBackBy, v.OpenRollback, err = s.rollbacksOf(ctx, t.ID, ex.VersionID); err != nil {
		return nil, err
	}
	v.CanRollBack = can(c, rewind.RoleOperator, t.EnvironmentID) && ex.Applied && v.RolledBackBy == nil && v.OpenRollback == nil && t.DeletedAt == nil
	v.RollbackFormURL = fmt.Sprintf("/databases/%d/rollback?version=%d", t.ID, v.Version.Number)
	return v, nil
}

// loadResults puts the statements of an execution into v: all of them when
// there are few, else the first ones and every one that did not succeed.
func (s *Server) loadResults(ctx context.Context, v *templates.ChangeView, ex *rewind.SQLExecution) error {
	var err error
	if ex.StatementCount <= maxListedStatements {
		v.Results, err = s.store.SQLStatements(ctx, ex.VersionID, 0, 0)
		return err
	}
	first, err := s.store.SQLStatements(ctx, ex.VersionID, 0, maxListedStatements/2)
	if err != nil {
		return err
	}
	odd, err := s.store.SQLStatementsNot(ctx, ex.VersionID, rewind.SQLStatusSucceeded, maxListedStatements/2)
	if err != nil {
		return err
	}
	v.Results = first
	shownRows := int64(0)
	for _, r := range first {
		if r.Status == rewind.SQLStatusSucceeded && len(r.Columns) == 0 && r.Kind != "SELECT" {
			shownRows += r.RowsAffected
		}
	}
	for _, r := range odd {
		if r.Index >= len(first) {
			v.Results = append(v.Results, r)
		}
	}
	v.HiddenResults = ex.StatementCount - len(v.Results)
	v.HiddenRows = max(0, ex.RowsAffected-shownRows)
	return nil
}

// cutSQL returns the start of s, at most n bytes, on a character boundary.
func cutSQL(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// sqlExcerpt is the start of the SQL of a request on a database, for lists.
func sqlExcerpt(r *rewind.Request) string {
	p, err := rewind.ParseSQLRequest(r.First().Payload)
	if err != nil {
		return ""
	}
	out := cutSQL(p.SQL, maxInboxSQLBytes)
	if len(out) < len(p.SQL) {
		out += "\n…"
	}
	return out
}

// changeSQL downloads the whole SQL of a request on a database.
func (s *Server) changeSQL(c echo.Context) error {
	r, _, err := s.databaseRequest(c)
	if err != nil {
		return err
	}
	p, err := rewind.ParseSQLRequest(r.First().Payload)
	if err != nil {
		return rewind.Errorf(rewind.ENOTFOUND, "This request holds no SQL.")
	}
	return sqlDownload(c, fmt.Sprintf("request-%d.sql", r.ID), p.SQL)
}

// changeRollbackSQL downloads the rollback SQL generated for an executed request.
func (s *Server) changeRollbackSQL(c echo.Context) error {
	r, _, err := s.databaseRequest(c)
	if err != nil {
		return err
	}
	ex, err := s.store.SQLExecutionByStep(c.Request().Context(), r.First().ID)
	if err != nil {
		return err
	}
	if ex.RollbackSQL == "" {
		return rewind.Errorf(rewind.ENOTFOUND, "No rollback SQL was generated for this request.")
	}
	return sqlDownload(c, fmt.Sprintf("rollback-of-request-%d.sql", r.ID), ex.RollbackSQL)
}

// databaseRequest loads the request named by :id, which must be on a database.
func (s *Server) databaseRequest(c echo.Context) (*rewind.Request, *rewind.Target, error) {
	ctx := c.Request().Context()
	id, err := idParam(c, "id")
	if err != nil {
		return nil, nil, err
	}
	r, err := s.store.Request(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	t, err := s.store.Target(ctx, r.First().TargetID)
	if err != nil {
		return nil, nil, err
	}
	if t.Kind != rewind.KindDatabase {
		return nil, nil, rewind.Errorf(rewind.ENOTFOUND, "This request holds no SQL.")
	}
	return r, t, nil
}

func sqlDownload(c echo.Context, name, sql string) error {
	c.Response().Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	return c.Blob(http.StatusOK, "text/plain; charset=utf-8", []byte(sql))
}
