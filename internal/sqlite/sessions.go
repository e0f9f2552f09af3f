package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/rewindhq/rewind/internal/rewind"
)

var _ rewind.SessionStore = (*Store)(nil)

const sessionCols = `s.id, s.user_id, u.username, s.created_at, s.last_seen, s.expires_at, s.address, s.user_agent, s.source, s.refresh_enc, s.recheck_at`

func (s *Store) scanSession(row interface{ Scan(...any) error }, extra ...any) (*rewind.Session, error) {
	var ss rewind.Session
	var created, seen, expires string
	var refresh []byte
	var recheck sql.NullString
	dst := append([]any{&ss.ID, &ss.UserID, &ss.Username, &created, &seen, &expires, &ss.Address, &ss.UserAgent, &ss.Source, &refresh, &recheck}, extra...)
	if err := row.Scan(dst...); err != nil {
		return nil, err
	}
	ss.CreatedAt, ss.LastSeen, ss.ExpiresAt, ss.RecheckAt = parseTime(created), parseTime(seen), parseTime(expires), parseTimePtr(recheck)
	if len(refresh) > 0 {
		plain, err := s.box.Open(refresh)
		if err != nil {
			return nil, fmt.Errorf("open the refresh token of a session: %w", err)
		}
		ss.RefreshToken = string(plain)
	}
	return &ss, nil
}

// sealRefresh seals a session's refresh token; nil for none.
func (s *Store) sealRefresh(token string) ([]byte, error) {
	if token == "" {
		return nil, nil
	}
	return s.box.Seal([]byte(token))
}

// CreateSession records a new session for ss.UserID. In the same
// transaction it drops sessions past their lifetime or idle for longer than
// idle, and the user's oldest beyond rewind.MaxUserSessions.
func (s *Store) CreateSession(ctx context.Context, ss *rewind.Session, idle time.Duration) error {
	now := ss.CreatedAt
	if now.IsZero() {
		now = s.now()
		ss.CreatedAt = now
	}
	if ss.LastSeen.IsZero() {
		ss.LastSeen = now
	}
	if ss.Source == "" {
		ss.Source = rewind.SourceLocal
	}
	refresh, err := s.sealRefresh(ss.RefreshToken)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ? OR last_seen <= ?`,
			fmtTime(now), fmtTime(now.Add(-idle))); err != nil {
			return fmt.Errorf("drop stale sessions: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND id NOT IN
			(SELECT id FROM sessions WHERE user_id = ? ORDER BY last_seen DESC LIMIT ?)`, ss.UserID, ss.UserID, rewind.MaxUserSessions-1); err != nil {
			return fmt.Errorf("drop old sessions of user %d: %w", ss.UserID, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, user_id, created_at, last_seen, expires_at, address, user_agent, source, refresh_enc, recheck_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, ss.ID, ss.UserID, fmtTime(ss.CreatedAt), fmtTime(ss.LastSeen), fmtTime(ss.ExpiresAt),
			ss.Address, ss.UserAgent, ss.Source, refresh, fmtTimePtr(ss.RecheckAt)); err != nil {
			return fmt.Errorf("create session for user %d: %w", ss.UserID, err)
		}
		return nil
	})
}

// SessionUser returns the session with that ID and its user.
func (s *Store) SessionUser(ctx context.Context, id string) (*rewind.Session, *rewind.User, error) {
	var u rewind.User
	dst, done := userDest(&u)
	ss, err := s.scanSession(s.db.QueryRowContext(ctx, `SELECT `+sessionCols+`, `+userColsOf("u")+`
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?`, id), dst...)
	if err != nil {
		return nil, nil, notFound("Session", err)
	}
	if err := done(); err != nil {
		return nil, nil, err
	}
	return ss, &u, loadEnvRoles(ctx, s.db, &u)
}

// RecheckedSession records that a provider's session was checked again: the
// refresh token to use next time and when to check again.
func (s *Store) RecheckedSession(ctx context.Context, id, refresh string, next time.Time) error {
	sealed, err := s.sealRefresh(refresh)
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE sessions SET refresh_enc = ?, recheck_at = ? WHERE id = ?`, sealed, fmtTime(next), id); err != nil {
		return fmt.Errorf("record the session's recheck: %w", err)
	}
	return nil
}

// TouchSession sets a session's last-seen time.
func (s *Store) TouchSession(ctx context.Context, id string, at time.Time) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE sessions SET last_seen = ? WHERE id = ?`, fmtTime(at), id); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession ends one session; ending one that is gone is no error.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// DeleteUserSessions ends a user's sessions except keep (which may be "").
func (s *Store) DeleteUserSessions(ctx context.Context, username, keep string) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE username = ?) AND id <> ?`, username, keep)
	if err != nil {
		return 0, fmt.Errorf("end sessions of %s: %w", username, err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// ActiveSessions lists the sessions active at now, last seen first.
func (s *Store) ActiveSessions(ctx context.Context, now time.Time, idle time.Duration) ([]*rewind.Session, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+sessionCols+` FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.expires_at > ? AND s.last_seen > ? ORDER BY s.last_seen DESC, s.created_at DESC`, fmtTime(now), fmtTime(now.Add(-idle)))
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	var out []*rewind.Session
	for rows.Next() {
		ss, err := s.scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		out = append(out, ss)
	}
	return out, rows.Err()
}
