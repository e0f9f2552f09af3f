package web

import (
	"context"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/rewind"
)

// DatabaseBackend is what the database pages need of the SQL side (s.opt.Databases).
type DatabaseBackend interface {
	// SavedRowsBound returns the bounds of the saved rows of one change.
	SavedRowsBound() (rows int, bytes int64)
	// RedactDSN returns a connection string with its password replaced by ***.
	RedactDSN(engine, dsn string) string
	// CheckDSN says whether a connection string can be read, without connecting.
	CheckDSN(engine, dsn string) error
	// TestConnection connects now and says plainly what is wrong when it cannot.
	TestConnection(ctx context.Context, engine, dsn string) error
	// State returns a database's connection state, nil when it answers;
	// the answer is kept briefly.
	State(ctx context.Context, d *rewind.Database) error
	// Forget drops what is kept for a database after its registration changed.
	Forget(databaseID int64)
	// Split cuts SQL into statements; a *rewind.SQLSyntaxError says where it cannot.
	Split(engine, sql string) ([]rewind.SQLStatement, error)
	// Preview checks SQL against the database without running any of it.
	Preview(ctx context.Context, d *rewind.Database, sql string) (*rewind.SQLPreview, error)
}

// databaseRoutes lists the routes of databases and SQL changes: v for
// viewers, op for operators, ap for approvers.
func (s *Server) databaseRoutes(v, op, ap *echo.Group) {
	v.GET("/databases", s.databasesList)
	v.GET("/databases/:id", s.databaseShow)
	v.GET("/requests/:id/sql", s.changeSQL)
	v.GET("/requests/:id/rollback.sql", s.changeRollbackSQL)

	op.GET("/databases/:id/changes/new", s.changeForm)
	op.POST("/databases/:id/changes", s.changeCreate)
	op.POST("/databases/:id/preview", s.changePreview)
	op.GET("/databases/:id/rollback", s.sqlRollbackForm)
	op.POST("/databases/:id/rollback", s.sqlRollbackCreate)
}

// databaseSettingsRoutes lists the admin routes for databases under /settings.
func (s *Server) databaseSettingsRoutes(ad *echo.Group) {
	ad.GET("/databases", s.databaseSettings)
	ad.POST("/databases", s.databaseAdd)
	ad.POST("/databases/test", s.databaseTest)
	ad.POST("/databases/:id", s.databaseReplaceDSN)
	ad.POST("/databases/:id/test", s.databaseTestStored)
	ad.POST("/databases/:id/delete", s.databaseDelete)
}

// databases returns the SQL side, or an error page when it is not wired.
func (s *Server) databases() (DatabaseBackend, error) {
	if s.opt.Databases == nil {
		return nil, rewind.Errorf(rewind.EUNAVAILABLE, "SQL changes are not set up in this Rewind.")
	}
	return s.opt.Databases, nil
}
