package web

import (
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
	p, err := rewind.ParseSQLRequest(r.Payload)
	if err != nil {
		return rewind.Errorf(rewind.ENOTFOUND, "This request holds no SQL.")
	}
	b, err := s.toAPIRequest(c, r)
	if err != nil {
		return err
	}
	out := apiChange{apiRequestBody: b, SQLKind: p.Kind, SQL: p.SQL, RollbackSQL: p.RollbackSQL}
	if ex, err := s.store.SQLExecutionByRequest(c.Request().Context(), r.ID); err == nil {
		out.Executed, out.Succeeded, out.Applied, out.Rows, out.SavedRows = true, ex.Succeeded, ex.Applied, ex.RowsAffected, ex.SavedRows
		out.GeneratedRollbackSQL = ex.RollbackSQL
	} else if rewind.ErrorCode(err) != rewind.ENOTFOUND {
		return err
	}
	return apiJSON(c, 200, out)
}
