package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/rewindhq/rewind/internal/rewind"
)

// protectedVersions selects the IDs of versions that retention never
// removes, whatever their age: those a request's step brings back, saw or
// made, a release's items, SQL executions and what they undo, and the
// version each release item followed, which a release's rollback returns to.
const protectedVersions = `
	SELECT version_id FROM request_steps WHERE version_id IS NOT NULL
	UNION SELECT base_version_id FROM request_steps WHERE base_version_id IS NOT NULL
	UNION SELECT result_version_id FROM request_steps WHERE result_version_id IS NOT NULL
	UNION SELECT version_id FROM release_items
	UNION SELECT version_id FROM sql_executions
	UNION SELECT of_version_id FROM sql_executions WHERE of_version_id IS NOT NULL
	UNION SELECT (SELECT p.id FROM versions p WHERE p.target_id = iv.target_id AND p.number < iv.number ORDER BY p.number DESC LIMIT 1)
		FROM release_items ri JOIN versions iv ON iv.id = ri.version_id
		WHERE iv.number > 1`

// prunable selects (up to a limit) the versions of one kind that a
// retention lets go: older than the cutoff, not among the newest of their
// target, never the newest version seen live (configs compare new contents
// with it), never one a rollback made, and not protected.
// Arguments: kind, cutoff, keep (at least 1), limit.
const prunable = `
	SELECT v.id, v.revision FROM versions v JOIN targets t ON t.id = v.target_id
	WHERE t.kind = ?
	  AND v.created_at < ?
	  AND v.request_id IS NULL
	  AND v.number <= (SELECT MAX(m.number) FROM versions m WHERE m.target_id = v.target_id) - ?
	  AND v.number != COALESCE((SELECT MAX(m.number) FROM versions m WHERE m.target_id = v.target_id AND m.source != 'imported'), 0)
	  AND v.id NOT IN (` + protectedVersions + `)
	ORDER BY v.id
	LIMIT ?`

// noLimit is the limit of a count of everything prunable.
const noLimit = 1 << 53

// pruneBatch is how many versions one transaction removes, so that
// retention never holds the store's write lock for long.
const pruneBatch = 500

// Prune removes the versions that the retention of each kind lets go (see
// rewind.Retention) and returns how many per kind; with dryRun it only
// counts them. Each kind's removal is one audit event. Kinds without a set
// retention keep everything.
func (s *Store) Prune(ctx context.Context, policy map[rewind.TargetKind]rewind.Retention, dryRun bool) (map[rewind.TargetKind]int, error) {
	out := map[rewind.TargetKind]int{}
	now := s.now()
	for _, kind := range rewind.RetentionKinds {
		r := policy[kind]
		if !r.Set() {
			continue
		}
		keep := max(r.KeepVersions, 1)
		cutoff := fmtTime(r.Cutoff(now))
		if dryRun {
			var n int
			err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM (`+prunable+`) p`, kind, cutoff, keep, noLimit).Scan(&n)
			if err != nil {
				return out, fmt.Errorf("count versions of %s to remove: %w", kind, err)
			}
			out[kind] = n
			continue
		}
		n, err := s.pruneKind(ctx, kind, cutoff, keep)
		out[kind] = n
		if n > 0 {
			ev := rewind.AuditEvent{Actor: "rewind", Action: rewind.ActionRetention, TargetKind: kind, Outcome: "ok",
				Detail: fmt.Sprintf("Retention removed %d versions of %s targets (kept: the newest %d of each target, those from the last %d days, and those that requests and releases refer to).", n, kind, keep, r.KeepDays)}
			if aerr := s.AddAudit(context.WithoutCancel(ctx), ev); aerr != nil && err == nil {
				err = aerr
			}
		}
		if err != nil {
			return out, fmt.Errorf("remove old versions of %s: %w", kind, err)
		}
	}
	return out, nil
}

// pruneKind removes the prunable versions of kind in batches.
func (s *Store) pruneKind(ctx context.Context, kind rewind.TargetKind, cutoff string, keep int) (int, error) {
	total := 0
	skip := map[int64]bool{} // versions that an unforeseen reference keeps
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, blocked, err := s.pruneOnce(ctx, kind, cutoff, keep, skip)
		total += n
		if err != nil {
			return total, err
		}
		if n == 0 && !blocked {
			return total, nil
		}
	}
}

type prunedVersion struct {
	id       int64
	revision string
}

// pruneOnce removes one batch; blocked reports versions newly found to be
// referenced from elsewhere (kept, and skipped from then on).
func (s *Store) pruneOnce(ctx context.Context, kind rewind.TargetKind, cutoff string, keep int, skip map[int64]bool) (n int, blocked bool, err error) {
	rows, err := s.db.QueryContext(ctx, prunable, kind, cutoff, keep, pruneBatch+len(skip))
	if err != nil {
		return 0, false, err
	}
	var batch []prunedVersion
	for rows.Next() {
		var v prunedVersion
		if err := rows.Scan(&v.id, &v.revision); err != nil {
			rows.Close()
			return 0, false, err
		}
		if !skip[v.id] {
			batch = append(batch, v)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, false, err
	}
	if len(batch) == 0 {
		return 0, false, nil
	}
	err = s.removeVersions(ctx, kind, batch)
	if !isForeignKeyError(err) {
		if err != nil {
			return 0, false, err
		}
		return len(batch), false, nil
	}
	// A table this code does not know refers to one of them: the foreign
	// key keeps it. Remove the batch one by one, keeping what is referenced.
	for _, v := range batch {
		err := s.removeVersions(ctx, kind, []prunedVersion{v})
		switch {
		case isForeignKeyError(err):
			skip[v.id], blocked = true, true
		case err != nil:
			return n, blocked, err
		default:
			n++
		}
	}
	return n, blocked, nil
}

func (s *Store) removeVersions(ctx context.Context, kind rewind.TargetKind, vs []prunedVersion) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		ids := make([]string, len(vs))
		for i, v := range vs {
			ids[i] = fmt.Sprint(v.id)
			if v.revision == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO pruned_revisions (target_id, revision)
				SELECT target_id, revision FROM versions WHERE id = ? ON CONFLICT DO NOTHING`, v.id); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM versions WHERE id IN (`+strings.Join(ids, ",")+`)`)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		_, err = tx.ExecContext(ctx, `INSERT INTO pruned_counts (kind, versions) VALUES (?, ?)
			ON CONFLICT (kind) DO UPDATE SET versions = pruned_counts.versions + excluded.versions`, kind, n)
		return err
	})
}

// isForeignKeyError reports a row that a foreign key keeps, in SQLite's
// words or PostgreSQL's.
func isForeignKeyError(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "FOREIGN KEY constraint failed") ||
		strings.Contains(err.Error(), "violates foreign key constraint"))
}

// VersionCounts counts the versions held, by kind of target and source.
func (s *Store) VersionCounts(ctx context.Context) ([]rewind.VersionCount, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT t.kind, v.source, COUNT(*) FROM versions v JOIN targets t ON t.id = v.target_id GROUP BY t.kind, v.source`)
	if err != nil {
		return nil, fmt.Errorf("count versions: %w", err)
	}
	defer rows.Close()
	var out []rewind.VersionCount
	for rows.Next() {
		var c rewind.VersionCount
		if err := rows.Scan(&c.Kind, &c.Source, &c.Count); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// PrunedCounts returns how many versions of each kind retention has removed, ever.
func (s *Store) PrunedCounts(ctx context.Context) (map[rewind.TargetKind]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kind, versions FROM pruned_counts`)
	if err != nil {
		return nil, fmt.Errorf("count removed versions: %w", err)
	}
	defer rows.Close()
	out := map[rewind.TargetKind]int64{}
	for rows.Next() {
		var k rewind.TargetKind
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return nil, err
		}
		out[k] = n
	}
	return out, rows.Err()
}

// RequestCounts counts the requests by type, kind, environment and state.
// A request's kind is "release" when it rolls a release back, else the one
// kind of all its steps' targets, or "mixed".
func (s *Store) RequestCounts(ctx context.Context) ([]rewind.RequestCount, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kind, rkind, env, state, COUNT(*) FROM (
		SELECT r.kind, e.name AS env, r.state,
			CASE WHEN r.kind = 'rollback' AND r.release_id IS NOT NULL THEN 'release'
			     ELSE (SELECT CASE WHEN COUNT(DISTINCT t.kind) = 1 THEN MAX(t.kind) ELSE 'mixed' END
			           FROM request_steps st JOIN targets t ON t.id = st.target_id WHERE st.request_id = r.id) END AS rkind
		FROM requests r JOIN environments e ON e.id = r.environment_id) AS counted
		GROUP BY kind, rkind, env, state`)
	if err != nil {
		return nil, fmt.Errorf("count requests: %w", err)
	}
	defer rows.Close()
	var out []rewind.RequestCount
	for rows.Next() {
		var c rewind.RequestCount
		if err := rows.Scan(&c.Type, &c.Kind, &c.Environment, &c.State, &c.Count); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
