package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/rewindhq/rewind/internal/notify"
	"github.com/rewindhq/rewind/internal/rewind"
)

const requestCols = `id, kind, environment_id, COALESCE(release_id, 0), COALESCE(to_release_id, 0), state, requester, reason,
	required_approvals, plan_hash, outcome, created_at, updated_at, started_at, finished_at`

func scanRequest(row interface{ Scan(...any) error }) (*rewind.Request, error) {
	var r rewind.Request
	var created, updated string
	var started, finished sql.NullString
	if err := row.Scan(&r.ID, &r.Kind, &r.EnvironmentID, &r.ReleaseID, &r.ToReleaseID, &r.State, &r.Requester, &r.Reason,
		&r.RequiredApprovals, &r.PlanHash, &r.Outcome, &created, &updated, &started, &finished); err != nil {
		return nil, err
	}
	r.CreatedAt, r.UpdatedAt = parseTime(created), parseTime(updated)
	r.StartedAt, r.FinishedAt = parseTimePtr(started), parseTimePtr(finished)
	return &r, nil
}

const stepCols = `id, request_id, position, target_id, COALESCE(version_id, 0), COALESCE(base_version_id, 0), expected, payload, detail,
	state, outcome, note, COALESCE(result_version_id, 0), attempts, started_at, finished_at`

func scanStep(row interface{ Scan(...any) error }) (rewind.Step, error) {
	var st rewind.Step
	var started, finished sql.NullString
	err := row.Scan(&st.ID, &st.RequestID, &st.Position, &st.TargetID, &st.VersionID, &st.BaseVersionID, &st.Expected, &st.Payload, &st.Detail,
		&st.State, &st.Outcome, &st.Note, &st.ResultVersionID, &st.Attempts, &started, &finished)
	st.StartedAt, st.FinishedAt = parseTimePtr(started), parseTimePtr(finished)
	return st, err
}

// CreateRequest stores a new request, its plan and its audit event. A request
// that needs no approval is stored as approved. It is refused while one of
// its targets has an open request (pending, approved or running).
func (s *Store) CreateRequest(ctx context.Context, r *rewind.Request, ev rewind.AuditEvent) error {
	if len(r.Steps) == 0 {
		return rewind.Errorf(rewind.EINVALID, "The plan has no steps: there is nothing to do.")
	}
	now := s.now()
	r.CreatedAt, r.UpdatedAt = now, now
	r.State = rewind.StatePending
	if r.RequiredApprovals == 0 {
		r.State = rewind.StateApproved
	}
	if r.Kind == "" {
		r.Kind = rewind.RequestRollback
	}
	numberSteps(r.Steps)
	r.PlanHash = rewind.PlanHash(r.Steps)
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.checkPlanTargets(ctx, tx, r, 0); err != nil {
			return err
		}
		newID, err := insert(ctx, tx, `INSERT INTO requests (kind, environment_id, release_id, to_release_id, state, requester, reason, required_approvals, plan_hash, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.Kind, r.EnvironmentID, nullID(r.ReleaseID), nullID(r.ToReleaseID), r.State, r.Requester, r.Reason, r.RequiredApprovals, r.PlanHash, fmtTime(now), fmtTime(now))
		if err != nil {
			return fmt.Errorf("create request: %w", err)
		}
		r.ID = newID
		if err := insertSteps(ctx, tx, r.ID, r.Steps); err != nil {
			return err
		}
		ev.RequestID = r.ID
		if err := s.addAudit(ctx, tx, ev); err != nil {
			return err
		}
		if r.State != rewind.StatePending {
			return nil // it runs at once: its start is the first news
		}
		return s.notice(ctx, tx, notify.Event{Kind: notify.EventPending, RequestID: r.ID, EnvironmentID: r.EnvironmentID, Actor: ev.Actor, Detail: r.Reason})
	})
}

// numberSteps gives steps their positions, 1 to n, in order.
func numberSteps(steps []rewind.Step) {
	for i := range steps {
		steps[i].Position = i + 1
		steps[i].State = rewind.StepWaiting
	}
}

func insertSteps(ctx context.Context, tx *sql.Tx, requestID int64, steps []rewind.Step) error {
	for i := range steps {
		st := &steps[i]
		st.RequestID = requestID
		newID, err := insert(ctx, tx, `INSERT INTO request_steps (request_id, position, target_id, version_id, base_version_id, expected, payload, detail, state)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			requestID, st.Position, st.TargetID, nullID(st.VersionID), nullID(st.BaseVersionID), st.Expected, st.Payload, st.Detail, st.State)
		if err != nil {
			return fmt.Errorf("create step %d: %w", st.Position, err)
		}
		st.ID = newID
	}
	return nil
}

// checkPlanTargets refuses a plan whose targets lie outside the request's
// environment (one approval answers to one environment's policy; an
// EnvironmentID of 0 is taken from the first target), or while one of them
// has an open request other than except.
func (s *Store) checkPlanTargets(ctx context.Context, tx *sql.Tx, r *rewind.Request, except int64) error {
	for _, st := range r.Steps {
		var env int64
		if err := tx.QueryRowContext(ctx, `SELECT environment_id FROM targets WHERE id = ?`, st.TargetID).Scan(&env); err != nil {
			return notFound("Target", err)
		}
		if r.EnvironmentID == 0 {
			r.EnvironmentID = env
		}
		if env != r.EnvironmentID {
			return rewind.Errorf(rewind.EINVALID, "Every step of a plan acts in the request's environment; step %d does not.", st.Position)
		}
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT r.id FROM requests r JOIN request_steps s ON s.request_id = r.id
			WHERE s.target_id = ? AND r.state IN ('pending', 'approved', 'running') AND r.id != ? LIMIT 1`, st.TargetID, except).Scan(&id)
		switch {
		case err == nil:
			return rewind.Errorf(rewind.ECONFLICT, "A target of this plan already has an open request (#%d); finish or cancel it first.", id)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
	}
	return nil
}

// ReplacePlan gives a request that has not started a new plan, with its
// audit event. Approvals stay recorded but count only for the plan they saw,
// so a request that needs approval is pending again.
func (s *Store) ReplacePlan(ctx context.Context, id int64, steps []rewind.Step, ev rewind.AuditEvent) (*rewind.Request, error) {
	if len(steps) == 0 {
		return nil, rewind.Errorf(rewind.EINVALID, "The plan has no steps: there is nothing to do.")
	}
	var out *rewind.Request
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		r, err := s.request(ctx, tx, id)
		if err != nil {
			return err
		}
		if r.State != rewind.StatePending && r.State != rewind.StateApproved {
			return rewind.Errorf(rewind.ECONFLICT, "This request is %s; its plan can no longer change.", r.State)
		}
		numberSteps(steps)
		r.Steps = steps
		if err := s.checkPlanTargets(ctx, tx, r, id); err != nil {
			return err
		}
		hash := rewind.PlanHash(steps)
		next := rewind.StatePending
		if r.RequiredApprovals == 0 {
			next = rewind.StateApproved
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM request_steps WHERE request_id = ?`, id); err != nil {
			return err
		}
		if err := insertSteps(ctx, tx, id, steps); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE requests SET plan_hash = ?, state = ?, updated_at = ? WHERE id = ?`, hash, next, fmtTime(s.now()), id); err != nil {
			return err
		}
		if next == rewind.StatePending { // its approvers must look again
			if err := s.notice(ctx, tx, requestNotice(id, r.State, next, "", &ev)); err != nil {
				return err
			}
		}
		out, err = s.audited(ctx, tx, id, &ev)
		return err
	})
	return out, err
}

// Request returns the request with that ID, with its plan and approvals.
func (s *Store) Request(ctx context.Context, id int64) (*rewind.Request, error) {
	return s.request(ctx, s.db, id)
}

type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func (s *Store) request(ctx context.Context, q querier, id int64) (*rewind.Request, error) {
	r, err := scanRequest(q.QueryRowContext(ctx, `SELECT `+requestCols+` FROM requests WHERE id = ?`, id))
	if err != nil {
		return nil, notFound("Request", err)
	}
	if r.Steps, err = steps(ctx, q, id); err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, `SELECT id, request_id, approver, approve, comment, plan_hash, created_at FROM approvals WHERE request_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var a rewind.Approval
		var created string
		if err := rows.Scan(&a.ID, &a.RequestID, &a.Approver, &a.Approve, &a.Comment, &a.PlanHash, &created); err != nil {
			return nil, err
		}
		a.CreatedAt = parseTime(created)
		r.Approvals = append(r.Approvals, a)
	}
	return r, rows.Err()
}

func steps(ctx context.Context, q querier, requestID int64) ([]rewind.Step, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+stepCols+` FROM request_steps WHERE request_id = ? ORDER BY position`, requestID)
	if err != nil {
		return nil, fmt.Errorf("steps of request %d: %w", requestID, err)
	}
	defer rows.Close()
	var out []rewind.Step
	for rows.Next() {
		st, err := scanStep(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// Decide records an approver's decision on a pending request and moves it on
// when the decision completes it, all in one transaction.
func (s *Store) Decide(ctx context.Context, id int64, u rewind.User, approve bool, comment string, ev rewind.AuditEvent) (*rewind.Request, error) {
	var out *rewind.Request
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
		if _, err := tx.ExecContext(ctx, `INSERT INTO approvals (request_id, approver, approve, comment, plan_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			id, u.Username, approve, strings.TrimSpace(comment), r.PlanHash, fmtTime(now)); err != nil {
			return fmt.Errorf("record approval: %w", err)
		}
		if next != r.State {
			if err := s.move(ctx, tx, id, r.State, next, "", &ev); err != nil {
				return err
			}
		}
		out, err = s.audited(ctx, tx, id, &ev)
		return err
	})
	return out, err
}

// Move changes a request's state from one of from to next, recording the
// outcome text and the audit event in the same transaction. It fails with
// ECONFLICT when the request is not in one of the from states, so that two
// clicks or two workers never both move it.
func (s *Store) Move(ctx context.Context, id int64, from []rewind.State, next rewind.State, outcome string, ev *rewind.AuditEvent) (*rewind.Request, error) {
	var out *rewind.Request
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
		if err := s.move(ctx, tx, id, r.State, next, outcome, ev); err != nil {
			return err
		}
		out, err = s.audited(ctx, tx, id, ev)
		return err
	})
	return out, err
}

// move changes request id's state from from to next in tx, with the
// outcome text, and writes the event it reports to the outbox: by ev's
// actor, or the system's when ev is nil.
func (s *Store) move(ctx context.Context, tx *sql.Tx, id int64, from, next rewind.State, outcome string, ev *rewind.AuditEvent) error {
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
	if next == rewind.StateApproved {
		set += `, finished_at = NULL` // a failed plan resumed
	}
	args = append(args, id, from)
	res, err := tx.ExecContext(ctx, `UPDATE requests SET `+set+` WHERE id = ? AND state = ?`, args...)
	if err != nil {
		return fmt.Errorf("move request %d to %s: %w", id, next, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return rewind.Errorf(rewind.ECONFLICT, "The request changed meanwhile; reload the page.")
	}
	return s.notice(ctx, tx, requestNotice(id, from, next, outcome, ev))
}

// audited records ev (if any) about request id in tx and reads the request
// back as the transaction leaves it.
func (s *Store) audited(ctx context.Context, tx *sql.Tx, id int64, ev *rewind.AuditEvent) (*rewind.Request, error) {
	if ev != nil {
		ev.RequestID = id
		if err := s.addAudit(ctx, tx, *ev); err != nil {
			return nil, err
		}
	}
	return s.request(ctx, tx, id)
}

// SetOutcome updates the outcome text of a request (progress while it runs).
func (s *Store) SetOutcome(ctx context.Context, id int64, outcome string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE requests SET outcome = ?, updated_at = ? WHERE id = ?`, outcome, fmtTime(s.now()), id)
	return err
}

// MoveStep changes a step's state from one of from to next with its outcome
// (a skip's reason goes to note), and the audit event, in one transaction.
// Like Move it fails with ECONFLICT when the step is not in a from state, so
// that a step is never started twice.
func (s *Store) MoveStep(ctx context.Context, id int64, from []rewind.StepState, next rewind.StepState, outcome string, ev *rewind.AuditEvent) (*rewind.Step, error) {
	var out rewind.Step
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		st, err := scanStep(tx.QueryRowContext(ctx, `SELECT `+stepCols+` FROM request_steps WHERE id = ?`, id))
		if err != nil {
			return notFound("Step", err)
		}
		ok := false
		for _, f := range from {
			ok = ok || st.State == f
		}
		if !ok {
			return rewind.Errorf(rewind.ECONFLICT, "Step %d is %s; it cannot become %s.", st.Position, st.State, next)
		}
		now := fmtTime(s.now())
		set, args := `state = ?, outcome = ?`, []any{next, outcome}
		switch next {
		case rewind.StepRunning:
			set += `, attempts = attempts + 1, started_at = ?, finished_at = NULL`
			args = append(args, now)
		case rewind.StepSkipped:
			set, args = `state = ?, note = ?, finished_at = ?`, []any{next, outcome, now}
		default:
			set += `, finished_at = ?`
			args = append(args, now)
		}
		// The update is itself conditional on the state read: a step is
		// claimed once even by two runners at once.
		res, err := tx.ExecContext(ctx, `UPDATE request_steps SET `+set+` WHERE id = ? AND state = ?`, append(args, id, st.State)...)
		if err != nil {
			return fmt.Errorf("move step %d to %s: %w", id, next, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return rewind.Errorf(rewind.ECONFLICT, "Step %d changed meanwhile; it cannot become %s.", st.Position, next)
		}
		if ev != nil {
			ev.RequestID = st.RequestID
			if err := s.addAudit(ctx, tx, *ev); err != nil {
				return err
			}
		}
		if next == rewind.StepFailed {
			if err := s.notice(ctx, tx, notify.Event{Kind: notify.EventStepFailed, RequestID: st.RequestID, Step: st.Position, Detail: outcome}); err != nil {
				return err
			}
		}
		out, err = scanStep(tx.QueryRowContext(ctx, `SELECT `+stepCols+` FROM request_steps WHERE id = ?`, id))
		return err
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// SetStepOutcome updates the outcome text of a running step (its progress).
func (s *Store) SetStepOutcome(ctx context.Context, id int64, outcome string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE request_steps SET outcome = ? WHERE id = ?`, outcome, id)
	return err
}

// SetStepResult links a step to the version it made.
func (s *Store) SetStepResult(ctx context.Context, id, versionID int64) error {
	_, err := s.db.ExecContext(ctx, `UPDATE request_steps SET result_version_id = ? WHERE id = ?`, versionID, id)
	return err
}

// RequestFilter selects requests; zero fields match everything.
type RequestFilter struct {
	TargetID int64
	Kind     rewind.TargetKind
	States   []rewind.State
	// AwaitingFor keeps pending requests this user may still decide on: not
	// their own and not already decided by them.
	AwaitingFor string
	// ReleaseID keeps the requests that roll back, or belong to, that release.
	ReleaseID int64
	// EnvironmentIDs, when not nil, keeps the requests of these environments
	// only (none when empty): those the reader sees.
	EnvironmentIDs []int64
	Limit          int
}

// Requests lists requests, newest first.
func (s *Store) Requests(ctx context.Context, f RequestFilter) ([]*rewind.Request, error) {
	var where []string
	var args []any
	if f.TargetID != 0 {
		where, args = append(where, "EXISTS (SELECT 1 FROM request_steps s WHERE s.request_id = r.id AND s.target_id = ?)"), append(args, f.TargetID)
	}
	if f.Kind != "" {
		where = append(where, "EXISTS (SELECT 1 FROM request_steps s JOIN targets t ON t.id = s.target_id WHERE s.request_id = r.id AND t.kind = ?)")
		args = append(args, f.Kind)
	}
	if f.ReleaseID != 0 {
		where, args = append(where, "r.release_id = ?"), append(args, f.ReleaseID)
	}
	if f.EnvironmentIDs != nil {
		where = append(where, "r.environment_id IN (NULL"+strings.Repeat(", ?", len(f.EnvironmentIDs))+")")
		for _, id := range f.EnvironmentIDs {
			args = append(args, id)
		}
	}
	if len(f.States) > 0 {
		where = append(where, "r.state IN (?"+strings.Repeat(", ?", len(f.States)-1)+")")
		for _, st := range f.States {
			args = append(args, st)
		}
	}
	if f.AwaitingFor != "" {
		where = append(where, "r.state = 'pending' AND r.requester != ? AND NOT EXISTS (SELECT 1 FROM approvals a WHERE a.request_id = r.id AND a.approver = ? AND a.plan_hash = r.plan_hash)")
		args = append(args, f.AwaitingFor, f.AwaitingFor)
	}
	q := `SELECT r.id FROM requests r`
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
	out := make([]*rewind.Request, 0, len(ids))
	for _, id := range ids {
		r, err := s.Request(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Resume sends a failed plan on, in one transaction with its audit event:
// its failed step stepID waits to run again, or (skip) is skipped with note,
// and the request is approved again, for the runner to take.
func (s *Store) Resume(ctx context.Context, id, stepID int64, skip bool, note string, ev rewind.AuditEvent) (*rewind.Request, error) {
	var out *rewind.Request
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		next, set, args := rewind.StepWaiting, `state = ?`, []any{rewind.StepWaiting}
		if skip {
			next, set, args = rewind.StepSkipped, `state = ?, note = ?`, []any{rewind.StepSkipped, note}
		}
		res, err := tx.ExecContext(ctx, `UPDATE request_steps SET `+set+` WHERE id = ? AND request_id = ? AND state = 'failed'`, append(args, stepID, id)...)
		if err != nil {
			return fmt.Errorf("step %d to %s: %w", stepID, next, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return rewind.Errorf(rewind.ECONFLICT, "The step is no longer failed; reload the page.")
		}
		if err := s.move(ctx, tx, id, rewind.StateFailed, rewind.StateApproved, ev.Detail, &ev); err != nil {
			return err
		}
		out, err = s.audited(ctx, tx, id, &ev)
		return err
	})
	return out, err
}
