package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/rewindhq/rewind/internal/rewind"
)

// StepEnded records what the end of step st of request r means for a
// release: the version a SQL change attached to a release made becomes that
// release's item (unless it is already one).
func (s *Store) StepEnded(ctx context.Context, r *rewind.Request, st *rewind.Step) error {
	if r.Kind != rewind.RequestChange || r.ReleaseID == 0 || st.ResultVersionID == 0 {
		return nil
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO release_items (release_id, version_id, how) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		r.ReleaseID, st.ResultVersionID, rewind.ItemAttached)
	if err != nil {
		return fmt.Errorf("attach version %d to release %d: %w", st.ResultVersionID, r.ReleaseID, err)
	}
	return nil
}

// PlanSucceeded records a release rolled back by plan r, in one transaction:
// the release (and, for a rollback to an earlier release, every finished
// release after that one) is marked rolled back by r, and a release "rollback
// of NAME" is recorded, its items the versions the steps made. It records
// once: called again for r, it changes nothing.
func (s *Store) PlanSucceeded(ctx context.Context, r *rewind.Request) error {
	if r.Kind != rewind.RequestRollback || r.ReleaseID == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var recorded bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM releases WHERE request_id = ?)`, r.ID).Scan(&recorded); err != nil {
			return err
		}
		if recorded {
			return nil // recorded before a stop; the plan is being finished again
		}
		var workflow, number int64
		var name string
		if err := tx.QueryRowContext(ctx, `SELECT workflow_id, number, name FROM releases WHERE id = ?`, r.ReleaseID).Scan(&workflow, &number, &name); err != nil {
			return notFound("Release", err)
		}
		from, title := number, "rollback of "+name
		if r.ToReleaseID != 0 {
			var toName string
			if err := tx.QueryRowContext(ctx, `SELECT number, name FROM releases WHERE id = ? AND workflow_id = ?`, r.ToReleaseID, workflow).Scan(&from, &toName); err != nil {
				return notFound("Release", err)
			}
			from++
			title += " to " + toName
		}
		// A failed release is marked too: its items changed the targets
		// as much as a succeeded one's, and the plan undid them.
		if _, err := tx.ExecContext(ctx, `UPDATE releases SET rolled_back_by = ?
			WHERE workflow_id = ? AND number BETWEEN ? AND ? AND state != 'open' AND rolled_back_by IS NULL`, r.ID, workflow, from, number); err != nil {
			return fmt.Errorf("mark release %d rolled back: %w", r.ReleaseID, err)
		}
		started := s.now()
		if r.StartedAt != nil {
			started = *r.StartedAt
		}
		// A skipped step left its target as it was: the record says so.
		var skipped []string
		for _, st := range r.Steps {
			if st.State == rewind.StepSkipped {
				skipped = append(skipped, fmt.Sprintf("step %d (%s) was skipped: %s", st.Position, st.Detail, st.Note))
			}
		}
		note := strings.Join(skipped, "; ")
		newID, err := insert(ctx, tx, `INSERT INTO releases (workflow_id, number, name, started_by, started_at, finished_at, state, note, rollback_of, request_id)
			VALUES (?, (SELECT COALESCE(MAX(number), 0) + 1 FROM releases WHERE workflow_id = ?), ?, ?, ?, ?, 'succeeded', ?, ?, ?)`,
			workflow, workflow, title, r.Requester, fmtTime(started), fmtTime(s.now()), note, r.ReleaseID, r.ID)
		if err != nil {
			return fmt.Errorf("record rollback of release %d: %w", r.ReleaseID, err)
		}
		id := newID
		for _, st := range r.Steps {
			if st.ResultVersionID == 0 {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO release_items (release_id, version_id, how) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
				id, st.ResultVersionID, rewind.ItemRollback); err != nil {
				return fmt.Errorf("record item of release %d: %w", id, err)
			}
		}
		env := ""
		_ = tx.QueryRowContext(ctx, `SELECT name FROM environments WHERE id = ?`, r.EnvironmentID).Scan(&env)
		return s.addAudit(ctx, tx, rewind.AuditEvent{Actor: "rewind", Action: rewind.ActionReleaseRolledBack, Environment: env,
			Target: "release " + name, RequestID: r.ID, Outcome: "ok", Detail: "Recorded as release " + title + "."})
	})
}
