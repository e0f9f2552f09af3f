package sqlite

import (
	"context"
	"fmt"

	"github.com/rewindhq/rewind/internal/rewind"
)

// ServiceTargets lists the services of a cluster that are not marked deleted,
// so that the Kubernetes adapter can find the ones that disappeared while
// Rewind was not watching.
func (s *Store) ServiceTargets(ctx context.Context, clusterID int64) ([]*rewind.Target, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+targetCols+` FROM targets t
		WHERE t.kind = ? AND t.owner_id = ? AND t.deleted_at IS NULL ORDER BY t.id`, rewind.KindService, clusterID)
	if err != nil {
		return nil, fmt.Errorf("list services of cluster %d: %w", clusterID, err)
	}
	defer rows.Close()
	var out []*rewind.Target
	for rows.Next() {
		t, err := scanTarget(rows)
		if err != nil {
			return nil, fmt.Errorf("list services of cluster %d: %w", clusterID, err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
