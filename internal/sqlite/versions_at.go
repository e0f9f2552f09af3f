package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/rewindhq/rewind/internal/rewind"
)

// VersionAt returns the version a target was in at a moment: the newest
// version made at or before at (by when it was made, then by number). It is
// an ENOTFOUND error when the target had no version yet.
func (s *Store) VersionAt(ctx context.Context, targetID int64, at time.Time) (*rewind.Version, error) {
	return s.versionWhen(ctx, targetID, `created_at <= ?`, at)
}

func (s *Store) versionWhen(ctx context.Context, targetID int64, cond string, at time.Time) (*rewind.Version, error) {
	v, err := scanVersion(s.db.QueryRowContext(ctx, `SELECT `+versionCols+` FROM versions WHERE target_id = ? AND `+cond+
		` ORDER BY created_at DESC, number DESC LIMIT 1`, targetID, fmtTime(at)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rewind.Errorf(rewind.ENOTFOUND, "Target %d had no version at %s.", targetID, at.UTC().Format(time.RFC3339))
	}
	if err != nil {
		return nil, fmt.Errorf("version of target %d at %s: %w", targetID, at.UTC().Format(time.RFC3339), err)
	}
	return v, nil
}
