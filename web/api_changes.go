package web

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/rewind"
)

type apiChange struct {
	apiRequestBody
	SQLKind     string `json:"sql_kind"`
	SQL         string `json:"sql"`
	RollbackSQL string `json:"rollback_sql,omitempty"` // typed by the requester
	Executed    bool   `json:"executed"`
	Succeeded   bool   `json:"succeeded,omitempty"`
	Applied     bool   `json:"applied,omitempty"`
	Rows        int64  `json:"rows_affected,omitempty"`
	SavedRows   int    `json:"saved_rows,omitempty"`
	// GeneratedRollbackSQL is made from the saved rows once the change ran.
	GeneratedRollbackSQL string `json:"generated_rollback_sql,omitempty"`
}

// apiChange shows a SQL change or SQL rollback with its SQL, how it ran,
// and the rollback SQL generated from its saved rows.
func (s *Server) apiChange(c echo.Context) error {
	r, _, err := s.databaseRequest(c)
	if err != nil {
		return err
	}
	p, err := rewind.ParseSQLRequest(r.First().Payload)
	if err != nil {
		return rewind.Errorf(rewind.ENOTFOUND, "This request holds no SQL.")
	}
	b, err := s.toAPIRequest(c, r)
	if err != nil {
		return err
	}
	out := apiChange{apiRequestBody: b, SQLKind: p.Kind, SQL: p.SQL, RollbackSQL: p.RollbackSQL}
	if ex, err := s.store.SQLExecutionByStep(c.Request().Context(), r.First().ID); err == nil {
		out.Executed, out.Succeeded, out.Applied, out.Rows, out.SavedRows = true, ex.Succeeded, ex.Applied, ex.RowsAffected, ex.SavedRows
		out.GeneratedRollbackSQL = ex.RollbackSQL
	} else if rewind.ErrorCode(err) != rewind.ENOTFOUND {
		return err
	}
	return apiJSON(c, 200, out)
}

// apiSQL is the body of POST /databases/{id}/changes and /preview.
type apiSQL struct {
	SQL         string `json:"sql"`
	RollbackSQL string `json:"rollback_sql"`
	Reason      string `json:"reason"`
	// ConfirmNoSavedRows runs the change although its rows cannot be saved.
	ConfirmNoSavedRows bool `json:"confirm_no_saved_rows"`
	// SubmitWithFailingPreview submits although the preview fails, marked so for the approvers.
	SubmitWithFailingPreview bool `json:"submit_with_failing_preview"`
	// ReleaseID attaches the change to an open release of a workflow that
	// holds the database: it becomes the release's item when it runs.
	ReleaseID int64 `json:"release_id,omitempty"`
}

type apiPreviewBody struct {
	Errors                 []string `json:"errors"`
	Transactional          bool     `json:"transactional"`
	NotTransactionalReason string   `json:"not_transactional_reason,omitempty"`
	WriteRows              int64    `json:"estimated_write_rows"`
	NotPreviewed           int      `json:"not_previewed"`
	Statements             any      `json:"statements"`
}

// apiPreview checks SQL against the database without running any of it.
func (s *Server) apiPreview(c echo.Context) error {
	backend, err := s.databases()
	if err != nil {
		return err
	}
	_, d, _, err := s.databaseTarget(c)
	if err != nil {
		return err
	}
	var in apiSQL
	if err := bind(c, &in); err != nil {
		return err
	}
	pv, errs, err := s.preview(c.Request().Context(), backend, d, in.SQL)
	if err != nil {
		return err
	}
	return c.JSON(200, apiPreviewBody{Errors: append([]string{}, errs...), Transactional: pv.Transactional, NotTransactionalReason: pv.NotTransactionalReason,
		WriteRows: pv.WriteRows, NotPreviewed: pv.NotPreviewed, Statements: pv.Results})
}

// apiChangeSubmit submits a SQL change on a database, previewed as on the
// page: a failing preview refuses it unless submit_with_failing_preview.
func (s *Server) apiChangeSubmit(c echo.Context) error {
	t, d, _, err := s.databaseTarget(c)
	if err != nil {
		return err
	}
	var in apiSQL
	if err := bind(c, &in); err != nil {
		return err
	}
	r, err := s.submitChange(c, t, d, changeInput(in))
	var refused *changeRefusal
	switch {
	case errors.As(err, &refused) && refused.Status == http.StatusConflict:
		return rewind.Errorf(rewind.ECONFLICT, "%s", refused.Message)
	case errors.As(err, &refused):
		return invalidField(refused.Field, "%s", refused.Message)
	case err != nil:
		return err
	}
	return s.apiRequestShowID(c, 201, r.ID)
}
