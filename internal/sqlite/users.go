package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/rewindhq/rewind/internal/rewind"
)

const userCols = `id, username, password_hash, role, created_at`

func scanUser(row interface{ Scan(...any) error }) (*rewind.User, error) {
	var u rewind.User
	var created string
	if err := row.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Role, &created); err != nil {
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
	res, err := s.db.ExecContext(ctx, `INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, ?, ?)`,
		u.Username, u.PasswordHash, u.Role, fmtTime(u.CreatedAt))
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return rewind.Errorf(rewind.ECONFLICT, "User %q already exists.", u.Username)
		}
		return fmt.Errorf("create user: %w", err)
	}
	u.ID, _ = res.LastInsertId()
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
