package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/rewindhq/rewind/internal/rewind"
)

const workflowCols = `w.id, w.name, w.environment_id, w.description, w.release_timeout, w.created_by, w.created_at`

func scanWorkflow(row interface{ Scan(...any) error }) (*rewind.Workflow, error) {
	var w rewind.Workflow
	var timeout int64
	var created string
	if err := row.Scan(&w.ID, &w.Name, &w.EnvironmentID, &w.Description, &timeout, &w.CreatedBy, &created); err != nil {
		return nil, err
	}
	w.ReleaseTimeout = time.Duration(timeout) * time.Second
	w.CreatedAt = parseTime(created)
	return &w, nil
}

// SaveWorkflow inserts w, or updates it when w.ID is set, with its target
// list, and records ev in the same transaction. A workflow's name is unique
// in its environment.
func (s *Store) SaveWorkflow(ctx context.Context, w *rewind.Workflow, ev rewind.AuditEvent) error {
	if w.ReleaseTimeout <= 0 {
		w.ReleaseTimeout = rewind.DefaultReleaseTimeout
	}
	timeout := int64(w.ReleaseTimeout / time.Second)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if w.ID == 0 {
			w.CreatedAt = s.now()
			newID, err := insert(ctx, tx, `INSERT INTO workflows (name, environment_id, description, release_timeout, created_by, created_at)
				VALUES (?, ?, ?, ?, ?, ?)`, w.Name, w.EnvironmentID, w.Description, timeout, w.CreatedBy, fmtTime(w.CreatedAt))
			if err != nil {
				return uniqueErr("A workflow", w.Name, err)
			}
			w.ID = newID
		} else {
			res, err := tx.ExecContext(ctx, `UPDATE workflows SET name = ?, description = ?, release_timeout = ? WHERE id = ? AND deleted_at IS NULL`,
				w.Name, w.Description, timeout, w.ID)
			if err != nil {
				return uniqueErr("A workflow", w.Name, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return rewind.Errorf(rewind.ENOTFOUND, "Workflow not found.")
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM workflow_targets WHERE workflow_id = ?`, w.ID); err != nil {
				return err
			}
		}
		for _, t := range w.TargetIDs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO workflow_targets (workflow_id, target_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, w.ID, t); err != nil {
				return err
			}
		}
		return s.addAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("save workflow %s: %w", w.Name, err)
	}
	return nil
}

// DeleteWorkflow marks workflow id deleted, keeping its releases, and
// records ev. Its name may then be used again.
func (s *Store) DeleteWorkflow(ctx context.Context, id int64, ev rewind.AuditEvent) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE workflows SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL`, fmtTime(s.now()), id)
		if err != nil {
			return fmt.Errorf("delete workflow %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return rewind.Errorf(rewind.ENOTFOUND, "Workflow not found.")
		}
		return s.addAudit(ctx, tx, ev)
	})
}

// Workflow returns the workflow with that ID and its targets; a deleted one
// is not found.
func (s *Store) Workflow(ctx context.Context, id int64) (*rewind.Workflow, error) {
	return s.workflowWhere(ctx, `w.id = ?`, id)
}

// WorkflowByName returns the workflow named name in environment env.
func (s *Store) WorkflowByName(ctx context.Context, env int64, name string) (*rewind.Workflow, error) {
	return s.workflowWhere(ctx, `w.environment_id = ? AND w.name = ?`, env, name)
}

func (s *Store) workflowWhere(ctx context.Context, where string, args ...any) (*rewind.Workflow, error) {
	w, err := scanWorkflow(s.db.QueryRowContext(ctx, `SELECT `+workflowCols+` FROM workflows w WHERE w.deleted_at IS NULL AND `+where, args...))
	if err != nil {
		return nil, notFound("Workflow", err)
	}
	if err := s.loadWorkflowTargets(ctx, []*rewind.Workflow{w}); err != nil {
		return nil, err
	}
	return w, nil
}

// Workflows lists the workflows of environment env (all environments when
// env is 0) by environment and name, with their targets.
func (s *Store) Workflows(ctx context.Context, env int64) ([]*rewind.Workflow, error) {
	q := `SELECT ` + workflowCols + ` FROM workflows w WHERE w.deleted_at IS NULL`
	var args []any
	if env != 0 {
		q, args = q+` AND w.environment_id = ?`, append(args, env)
	}
	return s.workflows(ctx, q+` ORDER BY w.environment_id, w.name`, args...)
}

// WorkflowsHolding lists the workflows whose targets include target.
func (s *Store) WorkflowsHolding(ctx context.Context, target int64) ([]*rewind.Workflow, error) {
	return s.workflows(ctx, `SELECT `+workflowCols+` FROM workflows w JOIN workflow_targets wt ON wt.workflow_id = w.id
		WHERE w.deleted_at IS NULL AND wt.target_id = ? ORDER BY w.name`, target)
}

func (s *Store) workflows(ctx context.Context, q string, args ...any) ([]*rewind.Workflow, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list workflows: %w", err)
	}
	defer rows.Close()
	var out []*rewind.Workflow
	for rows.Next() {
		w, err := scanWorkflow(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	return out, s.loadWorkflowTargets(ctx, out)
}

func (s *Store) loadWorkflowTargets(ctx context.Context, ws []*rewind.Workflow) error {
	if len(ws) == 0 {
		return nil
	}
	byID := make(map[int64]*rewind.Workflow, len(ws))
	args := make([]any, 0, len(ws))
	for _, w := range ws {
		byID[w.ID] = w
		args = append(args, w.ID)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT workflow_id, target_id FROM workflow_targets
		WHERE workflow_id IN (`+qmarks(len(args))+`) ORDER BY workflow_id, target_id`, args...)
	if err != nil {
		return fmt.Errorf("workflow targets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var w, t int64
		if err := rows.Scan(&w, &t); err != nil {
			return err
		}
		byID[w].TargetIDs = append(byID[w].TargetIDs, t)
	}
	return rows.Err()
}

func qmarks(n int) string {
	if n == 0 {
		return "NULL"
	}
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
