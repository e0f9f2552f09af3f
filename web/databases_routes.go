package web

import (
	"context"

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

// databases returns the SQL side, or an error page when it is not wired.
func (s *Server) databases() (DatabaseBackend, error) {
	if s.opt.Databases == nil {
		return nil, rewind.Errorf(rewind.EUNAVAILABLE, "SQL changes are not set up in this Rewind.")
	}
	return s.opt.Databases, nil
}
