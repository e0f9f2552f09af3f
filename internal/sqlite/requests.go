package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/rewindhq/rewind/internal/rewind"
)

const requestCols = `id, target_id, COALESCE(version_id, 0), COALESCE(base_version_id, 0), state, requester, reason, expected,
	required_approvals, outcome, COALESCE(result_version_id, 0), payload, created_at, updated_at, started_at, finished_at`

func scanRequest(row interface{ Scan(...any) error }) (*rewind.RollbackRequest, error) {
	var r rewind.RollbackRequest
	var created, updated string
	var started, finished sql.NullString
	if err := row.Scan(&r.ID, &r.TargetID, &r.VersionID, &r.BaseVersionID, &r.State, &r.Requester, &r.Reason, &r.Expected,
		&r.RequiredApprovals, &r.Outcome, &r.ResultVersionID, &r.Payload, &created, &updated, &started, &finished); err != nil {
		return nil, err
	}
	r.CreatedAt, r.UpdatedAt = parseTime(created), parseTime(updated)
	r.StartedAt, r.FinishedAt = parseTimePtr(started), parseTimePtr(finished)
	return &r, nil
}

// CreateRequest stores a new rollback request with its audit event. A request
// that needs no approval is stored as approved.
func (s *Store) CreateRequest(ctx context.Context, r *rewind.RollbackRequest, ev rewind.AuditEvent) error {
	now := s.now()
	r.CreatedAt, r.UpdatedAt = now, now
	r.State = rewind.StatePending
	if r.RequiredApprovals == 0 {
		r.State = rewind.StateApproved
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var open int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM rollback_requests WHERE target_id = ? AND state IN ('pending', 'approved', 'running')`, r.TargetID).Scan(&open); err != nil {
			return err
		}
		if open > 0 {
			return rewind.Errorf(rewind.ECONFLICT, "This target already has an open rollback request; finish or cancel it first.")
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO rollback_requests (target_id, version_id, base_version_id, state, requester, reason, expected, required_approvals, payload, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.TargetID, nullID(r.VersionID), nullID(r.BaseVersionID), r.State, r.Requester, r.Reason, r.Expected, r.RequiredApprovals, r.Payload, fmtTime(now), fmtTime(now))
		if err != nil {
			return fmt.Errorf("create request: %w", err)
		}
		r.ID, _ = res.LastInsertId()
		ev.RequestID = r.ID
		return s.addAudit(ctx, tx, ev)
	})
}

// Request returns the rollback request with that ID, with its approvals.
func (s *Store) Request(ctx context.Context, id int64) (*rewind.RollbackRequest, error) {
	return s.request(ctx, s.db, id)
}

type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func (s *Store) request(ctx context.Context, q querier, id int64) (*rewind.RollbackRequest, error) {
	r, err := scanRequest(q.QueryRowContext(ctx, `SELECT `+requestCols+` FROM rollback_requests WHERE id = ?`, id))
	if err != nil {
		return nil, notFound("Rollback request", err)
	}
	rows, err := q.QueryContext(ctx, `SELECT id, request_id, approver, approve, comment, created_at FROM approvals WHERE request_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var a rewind.Approval
		var created string
		if err := rows.Scan(&a.ID, &a.RequestID, &a.Approver, &a.Approve, &a.Comment, &created); err != nil {
			return nil, err
		}
		a.CreatedAt = parseTime(created)
		r.Approvals = append(r.Approvals, a)
	}
	return r, rows.Err()
}

// Decide records an approver's decision on a pending request and moves it on
// when the decision completes it, all in one transaction.
func (s *Store) Decide(ctx context.Context, id int64, u rewind.User, approve bool, comment string, ev rewind.AuditEvent) (*rewind.RollbackRequest, error) {
	var out *rewind.RollbackRequest
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		r, err := s.request(ctx, tx, id)
		if err != nil {
			return err
		}
		next, err := r.Decide(u, approve, comment)
		if err != nil {
			return err
		}
		now := s.now()
		if _, err := tx.ExecContext(ctx, `INSERT INTO approvals (request_id, approver, approve, comment, created_at) VALUES (?, ?, ?, ?, ?)`,
			id, u.Username, approve, strings.TrimSpace(comment), fmtTime(now)); err != nil {
			return fmt.Errorf("record approval: %w", err)
		}
		if next != r.State {
			if err := s.move(ctx, tx, id, r.State, next, ""); err != nil {
				return err
			}
		}
		ev.RequestID = id
		if err := s.addAudit(ctx, tx, ev); err != nil {
			return err
		}
		out, err = s.request(ctx, tx, id)
		return err
	})
	return out, err
}

// Move changes a request's state from one of from to next, recording the
// outcome text and the audit event in the same transaction. It fails with
// ECONFLICT when the request is not in one of the from states, so that two
// clicks or two workers never both move it.
func (s *Store) Move(ctx context.Context, id int64, from []rewind.State, next rewind.State, outcome string, ev *rewind.AuditEvent) (*rewind.RollbackRequest, error) {
	var out *rewind.RollbackRequest
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		r, err := s.request(ctx, tx, id)
		if err != nil {
			return err
		}
		ok := false
		for _, f := range from {
			ok = ok || r.State == f
		}
		if !ok {
			return rewind.Errorf(rewind.ECONFLICT, "This request is %s; it cannot become %s.", r.State, next)
		}
		if err := s.move(ctx, tx, id, r.State, next, outcome); err != nil {
			return err
		}
		if ev != nil {
			ev.RequestID = id
			if err := s.addAudit(ctx, tx, *ev); err != nil {
				return err
			}
		}
		out, err = s.request(ctx, tx, id)
		return err
	})
	return out, err
}

func (s *Store) move(ctx context.Context, tx *sql.Tx, id int64, from, next rewind.State, outcome string) error {
	if !from.CanMoveTo(next) {
		return rewind.Errorf(rewind.ECONFLICT, "A %s request cannot become %s.", from, next)
	}
	now := fmtTime(s.now())
	set := `state = ?, updated_at = ?`
	args := []any{next, now}
	if outcome != "" {
		set += `, outcome = ?`
		args = append(args, outcome)
	}
	if next == rewind.StateRunning {
		set += `, started_at = ?`
		args = append(args, now)
	}
	if next.Final() {
		set += `, finished_at = ?`
		args = append(args, now)
	}
	args = append(args, id, from)
	res, err := tx.ExecContext(ctx, `UPDATE rollback_requests SET `+set+` WHERE id = ? AND state = ?`, args...)
	if err != nil {
		return fmt.Errorf("move request %d to %s: %w", id, next, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return rewind.Errorf(rewind.ECONFLICT, "The request changed meanwhile; reload the page.")
	}
	return nil
}

// SetOutcome updates the outcome text of a request (progress while it runs).
func (s *Store) SetOutcome(ctx context.Context, id int64, outcome string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE rollback_requests SET outcome = ?, updated_at = ? WHERE id = ?`, outcome, fmtTime(s.now()), id)
	return err
}

// SetResultVersion links a request to the version it made.
func (s *Store) SetResultVersion(ctx context.Context, id, versionID int64) error {
	_, err := s.db.ExecContext(ctx, `UPDATE rollback_requests SET result_version_id = ? WHERE id = ?`, versionID, id)
	return err
}

// RequestFilter selects rollback requests; zero fields match everything.
type RequestFilter struct {
	TargetID int64
	Kind     rewind.TargetKind
	States   []rewind.State
	// AwaitingFor keeps pending requests this user may still decide on: not
	// their own and not already decided by them.
	AwaitingFor string
	Limit       int
}

// Requests lists rollback requests, newest first.
func (s *Store) Requests(ctx context.Context, f RequestFilter) ([]*rewind.RollbackRequest, error) {
	var where []string
	var args []any
	if f.TargetID != 0 {
		where, args = append(where, "r.target_id = ?"), append(args, f.TargetID)
	}
	if f.Kind != "" {
		where, args = append(where, "t.kind = ?"), append(args, f.Kind)
	}
	if len(f.States) > 0 {
		where = append(where, "r.state IN (?"+strings.Repeat(", ?", len(f.States)-1)+")")
		for _, st := range f.States {
			args = append(args, st)
		}
	}
	if f.AwaitingFor != "" {
		where = append(where, "r.state = 'pending' AND r.requester != ? AND NOT EXISTS (SELECT 1 FROM approvals a WHERE a.request_id = r.id AND a.approver = ?)")
		args = append(args, f.AwaitingFor, f.AwaitingFor)
	}
	q := `SELECT r.id FROM rollback_requests r JOIN targets t ON t.id = r.target_id`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY r.id DESC"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]*rewind.RollbackRequest, 0, len(ids))
	for _, id := range ids {
		r, err := s.Request(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
