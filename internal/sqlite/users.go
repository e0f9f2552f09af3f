package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rewindhq/rewind/internal/rewind"
)

const userCols = `id, username, password_hash, email, role, created_at, source, subject, display_name, provider_groups, disabled_at`

// userColsOf is userCols of the users table under alias a.
func userColsOf(a string) string {
	return a + "." + strings.ReplaceAll(userCols, ", ", ", "+a+".")
}

// userDest returns the scan destinations of userCols into u and a function
// that finishes u once scanned.
func userDest(u *rewind.User) ([]any, func() error) {
	var created, groups string
	var disabled sql.NullString
	return []any{&u.ID, &u.Username, &u.PasswordHash, &u.Email, &u.Role, &created, &u.Source, &u.Subject, &u.DisplayName, &groups, &disabled},
		func() error {
			u.CreatedAt, u.DisabledAt = parseTime(created), parseTimePtr(disabled)
			if err := json.Unmarshal([]byte(groups), &u.Groups); err != nil {
				return fmt.Errorf("user %s groups: %w", u.Username, err)
			}
			return nil
		}
}

func scanUser(row interface{ Scan(...any) error }) (*rewind.User, error) {
	var u rewind.User
	dst, done := userDest(&u)
	if err := row.Scan(dst...); err != nil {
		return nil, err
	}
	return &u, done()
}

// loadEnvRoles fills the per-environment roles of users.
func loadEnvRoles(ctx context.Context, q querier, users ...*rewind.User) error {
	if len(users) == 0 {
		return nil
	}
	byID := map[int64]*rewind.User{}
	args := make([]any, 0, len(users))
	for _, u := range users {
		byID[u.ID] = u
		args = append(args, u.ID)
	}
	rows, err := q.QueryContext(ctx, `SELECT user_id, environment_id, role FROM user_roles WHERE user_id IN (`+placeholders(len(args))+`)`, args...)
	if err != nil {
		return fmt.Errorf("load roles per environment: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var uid, env int64
		var role rewind.Role
		if err := rows.Scan(&uid, &env, &role); err != nil {
			return err
		}
		u := byID[uid]
		if u.EnvRoles == nil {
			u.EnvRoles = rewind.EnvRoles{}
		}
		u.EnvRoles[env] = role
	}
	return rows.Err()
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// CreateUser adds a user whose password is already hashed, with their roles.
func (s *Store) CreateUser(ctx context.Context, u *rewind.User) error {
	if err := rewind.ValidateUsername(u.Username); err != nil {
		return err
	}
	if err := rewind.ValidateRoles(u.Role, u.EnvRoles); err != nil {
		return err
	}
	if u.Source == "" {
		u.Source = rewind.SourceLocal
	}
	u.CreatedAt = s.now()
	groups, err := json.Marshal(orEmptyStrings(u.Groups))
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		newID, err := insert(ctx, tx, `INSERT INTO users (username, password_hash, email, role, created_at, source, subject, display_name, provider_groups, last_login_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.Username, u.PasswordHash, u.Email, u.Role, fmtTime(u.CreatedAt), u.Source, u.Subject, u.DisplayName, string(groups), loginTime(u, u.CreatedAt))
		if err != nil {
			if isUnique(err) {
				return rewind.Errorf(rewind.ECONFLICT, "User %q already exists.", u.Username)
			}
			return fmt.Errorf("create user: %w", err)
		}
		u.ID = newID
		return setEnvRoles(ctx, tx, u.ID, u.EnvRoles)
	})
}

// loginTime is when a provider's user signs in (now); nil for a local user
// being created.
func loginTime(u *rewind.User, now time.Time) any {
	if u.Source == rewind.SourceLocal {
		return nil
	}
	return fmtTime(now)
}

func orEmptyStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// setEnvRoles replaces the per-environment roles of user id.
func setEnvRoles(ctx context.Context, tx *sql.Tx, id int64, per rewind.EnvRoles) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM user_roles WHERE user_id = ?`, id); err != nil {
		return fmt.Errorf("set roles per environment: %w", err)
	}
	for env, role := range per {
		if _, err := tx.ExecContext(ctx, `INSERT INTO user_roles (user_id, environment_id, role) VALUES (?, ?, ?)`, id, env, role); err != nil {
			return fmt.Errorf("set role in environment %d: %w", env, err)
		}
	}
	return nil
}

// UserByName returns the user with that username.
func (s *Store) UserByName(ctx context.Context, name string) (*rewind.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE username = ?`, name))
	if err != nil {
		return nil, notFound("User", err)
	}
	return u, loadEnvRoles(ctx, s.db, u)
}

// UserBySubject returns the user a provider knows as subject.
func (s *Store) UserBySubject(ctx context.Context, source, subject string) (*rewind.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE source = ? AND subject = ?`, source, subject))
	if err != nil {
		return nil, notFound("User", err)
	}
	return u, loadEnvRoles(ctx, s.db, u)
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
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, loadEnvRoles(ctx, s.db, out...)
}

// CountUsers returns how many users there are.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n)
	return n, err
}

// SetPasswordHash replaces a user's password hash.
func (s *Store) SetPasswordHash(ctx context.Context, username, hash string) error {
	return s.updateUser(ctx, s.db, username, `password_hash = ?`, hash)
}

// SetRoles gives a user their role everywhere and per environment.
func (s *Store) SetRoles(ctx context.Context, username string, everywhere rewind.Role, per rewind.EnvRoles) error {
	if err := rewind.ValidateRoles(everywhere, per); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.updateUser(ctx, tx, username, `role = ?`, string(everywhere)); err != nil {
			return err
		}
		var id int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM users WHERE username = ?`, username).Scan(&id); err != nil {
			return notFound("User", err)
		}
		return setEnvRoles(ctx, tx, id, per)
	})
}

func (s *Store) updateUser(ctx context.Context, x execer, username, set string, arg any) error {
	res, err := x.ExecContext(ctx, `UPDATE users SET `+set+` WHERE username = ?`, arg, username)
	if err != nil {
		return fmt.Errorf("update user %s: %w", username, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("User", sql.ErrNoRows)
	}
	return nil
}

// SignedIn records a provider's user at sign-in: made at their first one,
// otherwise given the name, groups and roles the provider's groups give now,
// and enabled again if they were disabled. ev is audited with it.
func (s *Store) SignedIn(ctx context.Context, u *rewind.User, ev *rewind.AuditEvent) error {
	if err := rewind.ValidateRoles(u.Role, u.EnvRoles); err != nil {
		return err
	}
	groups, err := json.Marshal(orEmptyStrings(u.Groups))
	if err != nil {
		return err
	}
	now := s.now()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if u.ID == 0 {
			u.CreatedAt = now
			newID, err := insert(ctx, tx, `INSERT INTO users (username, password_hash, email, role, created_at, source, subject, display_name, provider_groups, last_login_at)
				VALUES (?, '', ?, ?, ?, ?, ?, ?, ?, ?)`, u.Username, u.Email, u.Role, fmtTime(now), u.Source, u.Subject, u.DisplayName, string(groups), fmtTime(now))
			if err != nil {
				if isUnique(err) {
					return rewind.Errorf(rewind.ECONFLICT, "The username %s is taken by another user; an admin must rename or remove that user first.", u.Username)
				}
				return fmt.Errorf("create user %s: %w", u.Username, err)
			}
			u.ID = newID
		} else {
			if _, err := tx.ExecContext(ctx, `UPDATE users SET role = ?, display_name = ?, email = ?, provider_groups = ?, disabled_at = NULL, last_login_at = ? WHERE id = ?`,
				u.Role, u.DisplayName, u.Email, string(groups), fmtTime(now), u.ID); err != nil {
				return fmt.Errorf("update user %s: %w", u.Username, err)
			}
			u.DisabledAt = nil
		}
		if err := setEnvRoles(ctx, tx, u.ID, u.EnvRoles); err != nil {
			return err
		}
		if ev == nil {
			return nil
		}
		return s.addAudit(ctx, tx, *ev)
	})
}

// DisableUser takes every role from a provider's user who is no longer in
// any mapped group: it sets their disabled time, ends their sessions and
// revokes their tokens, with ev audited. It returns how many sessions and
// tokens it ended.
func (s *Store) DisableUser(ctx context.Context, id int64, groups []string, ev rewind.AuditEvent) (sessions, tokens int, err error) {
	gs, err := json.Marshal(orEmptyStrings(groups))
	if err != nil {
		return 0, 0, err
	}
	now := fmtTime(s.now())
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var name string
		if err := tx.QueryRowContext(ctx, `SELECT username FROM users WHERE id = ?`, id).Scan(&name); err != nil {
			return notFound("User", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET disabled_at = COALESCE(disabled_at, ?), provider_groups = ? WHERE id = ?`, now, string(gs), id); err != nil {
			return fmt.Errorf("disable user %d: %w", id, err)
		}
		if err := setEnvRoles(ctx, tx, id, nil); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, id)
		if err != nil {
			return fmt.Errorf("end sessions of user %d: %w", id, err)
		}
		n, _ := res.RowsAffected()
		sessions = int(n)
		res, err = tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE username = ? AND revoked_at IS NULL`, now, name)
		if err != nil {
			return fmt.Errorf("revoke tokens of user %d: %w", id, err)
		}
		n, _ = res.RowsAffected()
		tokens = int(n)
		return s.addAudit(ctx, tx, ev)
	})
	return sessions, tokens, err
}

// Setting returns what an admin chose for key, and whether they chose.
func (s *Store) Setting(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read setting %s: %w", key, err)
	}
	return v, true, nil
}

// SetSetting stores an admin's choice for key, with ev audited.
func (s *Store) SetSetting(ctx context.Context, key, value string, ev rewind.AuditEvent) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM settings WHERE key = ?`, key); err != nil {
			return fmt.Errorf("set %s: %w", key, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?)`, key, value); err != nil {
			return fmt.Errorf("set %s: %w", key, err)
		}
		return s.addAudit(ctx, tx, ev)
	})
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
