package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/rewindhq/rewind/internal/rewind"
)

const userCols = `id, username, password_hash, role, email, created_at`

func scanUser(row interface{ Scan(...any) error }) (*rewind.User, error) {
	var u rewind.User
	var created string
	if err := row.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Role, &u.Email, &created); err != nil {
		return nil, err
	}
	u.CreatedAt = parseTime(created)
	return &u, nil
}

// CreateUser adds a user whose password is already hashed.
func (s *Store) CreateUser(ctx context.Context, u *rewind.User) error {
	if err := rewind.ValidateUsername(u.Username); err != nil {
		return err
	}
	if !u.Role.Valid() {
		return rewind.Errorf(rewind.EINVALID, "Unknown role %q.", u.Role)
	}
	u.CreatedAt = s.now()
	newID, err := insert(ctx, s.db, `INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, ?, ?)`,
		u.Username, u.PasswordHash, u.Role, fmtTime(u.CreatedAt))
	if err != nil {
		if isUnique(err) {
			return rewind.Errorf(rewind.ECONFLICT, "User %q already exists.", u.Username)
		}
		return fmt.Errorf("create user: %w", err)
	}
	u.ID = newID
	return nil
}

// UserByName returns the user with that username.
func (s *Store) UserByName(ctx context.Context, name string) (*rewind.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE username = ?`, name))
	if err != nil {
		return nil, notFound("User", err)
	}
	return u, nil
}

// Users lists all users by name.
func (s *Store) Users(ctx context.Context) ([]*rewind.User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []*rewind.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// CountUsers returns how many users there are.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n)
	return n, err
}

// SetPasswordHash replaces a user's password hash.
func (s *Store) SetPasswordHash(ctx context.Context, username, hash string) error {
	return s.updateUser(ctx, username, `password_hash = ?`, hash)
}

// SetRole changes a user's role.
func (s *Store) SetRole(ctx context.Context, username string, role rewind.Role) error {
	if !role.Valid() {
		return rewind.Errorf(rewind.EINVALID, "Unknown role %q.", role)
	}
	return s.updateUser(ctx, username, `role = ?`, string(role))
}

func (s *Store) updateUser(ctx context.Context, username, set string, arg any) error {
	res, err := s.db.ExecContext(ctx, `UPDATE users SET `+set+` WHERE username = ?`, arg, username)
	if err != nil {
		return fmt.Errorf("update user %s: %w", username, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("User", sql.ErrNoRows)
	}
	return nil
}

// MaxLoginFailureRows is how many failed-login rows the audit trail takes in
// a minute; the attempts beyond it are counted in one row of LoginFailureOthers.
const MaxLoginFailureRows = 100

// LoginFailureOthers is the actor of the row that counts the failed logins
// beyond MaxLoginFailureRows in a minute; no username can be spelt so.
const LoginFailureOthers = "(others)"

// AddLoginFailure records a failed login of username from addr, both
// already bounded by the caller. An anonymous flood cannot grow the audit
// trail without bound: there is at most one row per username and address a
// minute, which counts the attempts ("from ADDR (N attempts)"), and at most
// MaxLoginFailureRows such rows a minute, the rest counted in one more row.
func (s *Store) AddLoginFailure(ctx context.Context, username, addr string) error {
	now := s.now()
	window := fmtTime(now.Truncate(time.Minute))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var rows int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_events WHERE action = ? AND at >= ? AND actor <> ?`,
			rewind.ActionLoginFailed, window, LoginFailureOthers).Scan(&rows); err != nil {
			return err
		}
		actor, from := username, addr
		id, count, err := loginFailureRow(ctx, tx, window, actor, from)
		if err != nil {
			return err
		}
		if id == 0 && rows >= MaxLoginFailureRows {
			actor, from = LoginFailureOthers, "many addresses"
			if id, count, err = loginFailureRow(ctx, tx, window, actor, from); err != nil {
				return err
			}
		}
		if id != 0 {
			_, err := tx.ExecContext(ctx, `UPDATE audit_events SET detail = ? WHERE id = ?`,
				fmt.Sprintf("from %s (%d attempts)", from, count+1), id)
			return err
		}
		return s.addAudit(ctx, tx, rewind.AuditEvent{At: now, Actor: actor, Action: rewind.ActionLoginFailed, Outcome: "denied", Detail: "from " + from})
	})
	if err != nil {
		return fmt.Errorf("audit failed login: %w", err)
	}
	return nil
}

// loginFailureRow finds this minute's failed-login row of actor from addr
// and how many attempts it counts.
func loginFailureRow(ctx context.Context, tx *sql.Tx, window, actor, addr string) (id int64, count int, err error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, detail FROM audit_events WHERE action = ? AND at >= ? AND actor = ?`,
		rewind.ActionLoginFailed, window, actor)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	prefix := "from " + addr
	for rows.Next() {
		var rid int64
		var detail string
		if err := rows.Scan(&rid, &detail); err != nil {
			return 0, 0, err
		}
		if detail == prefix {
			return rid, 1, nil
		}
		if rest, ok := strings.CutPrefix(detail, prefix+" ("); ok {
			var n int
			if _, err := fmt.Sscanf(rest, "%d attempts)", &n); err == nil {
				return rid, n, nil
			}
		}
	}
	return 0, 0, rows.Err()
}
