package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"

	"github.com/rewindhq/rewind/internal/rewind"
)

// AddAudit appends an audit event.
func (s *Store) AddAudit(ctx context.Context, ev rewind.AuditEvent) error {
	return s.addAudit(ctx, s.db, ev)
}

type execer interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

func (s *Store) addAudit(ctx context.Context, x execer, ev rewind.AuditEvent) error {
	if ev.At.IsZero() {
		ev.At = s.now()
	}
	_, err := x.ExecContext(ctx, `INSERT INTO audit_events (at, actor, action, environment, target_kind, target, request_id, outcome, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		fmtTime(ev.At), ev.Actor, ev.Action, ev.Environment, ev.TargetKind, ev.Target, nullID(ev.RequestID), ev.Outcome, ev.Detail)
	if err != nil {
		return fmt.Errorf("add audit event: %w", err)
	}
	return nil
}

// Audit returns one page of audit events matching f, newest first, and how many match.
func (s *Store) Audit(ctx context.Context, f rewind.AuditFilter) ([]rewind.AuditEvent, int, error) {
	var where []string
	var args []any
	if f.Actor != "" {
		where, args = append(where, "actor = ?"), append(args, f.Actor)
	}
	if f.Environment != "" {
		where, args = append(where, "environment = ?"), append(args, f.Environment)
	}
	if f.Environments != nil {
		where = append(where, "environment IN (NULL"+strings.Repeat(", ?", len(f.Environments))+")")
		for _, e := range f.Environments {
			args = append(args, e)
		}
	}
	if f.Target != "" {
		where, args = append(where, `target LIKE ? ESCAPE '\'`), append(args, "%"+likeEscape(f.Target)+"%")
	}
	if !f.From.IsZero() {
		where, args = append(where, "at >= ?"), append(args, fmtTime(f.From))
	}
	if !f.To.IsZero() {
		where, args = append(where, "at < ?"), append(args, fmtTime(f.To))
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_events`+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count audit events: %w", err)
	}
	limit := int64(f.Limit)
	if limit <= 0 {
		limit = math.MaxInt64 // no limit; both engines take it
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, at, actor, action, environment, target_kind, target, COALESCE(request_id, 0), outcome, detail
		FROM audit_events`+cond+` ORDER BY id DESC LIMIT ? OFFSET ?`, append(args, limit, f.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list audit events: %w", err)
	}
	defer rows.Close()
	var out []rewind.AuditEvent
	for rows.Next() {
		var ev rewind.AuditEvent
		var at string
		if err := rows.Scan(&ev.ID, &at, &ev.Actor, &ev.Action, &ev.Environment, &ev.TargetKind, &ev.Target, &ev.RequestID, &ev.Outcome, &ev.Detail); err != nil {
			return nil, 0, err
		}
		ev.At = parseTime(at)
		out = append(out, ev)
	}
	return out, total, rows.Err()
}
