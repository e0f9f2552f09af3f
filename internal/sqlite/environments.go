package sqlite

import (
	"context"
	"fmt"

	"github.com/rewindhq/rewind/internal/rewind"
)

// SaveEnvironment inserts e, or updates it when e.ID is set.
func (s *Store) SaveEnvironment(ctx context.Context, e *rewind.Environment) error {
	if err := rewind.ValidateEnvironment(*e); err != nil {
		return err
	}
	if e.ID != 0 {
		_, err := s.db.ExecContext(ctx, `UPDATE environments SET name = ?, required_approvals = ? WHERE id = ?`, e.Name, e.RequiredApprovals, e.ID)
		if err != nil {
			return uniqueErr("An environment", e.Name, err)
		}
		return nil
	}
	e.CreatedAt = s.now()
	newID, err := insert(ctx, s.db, `INSERT INTO environments (name, required_approvals, created_at) VALUES (?, ?, ?)`,
		e.Name, e.RequiredApprovals, fmtTime(e.CreatedAt))
	if err != nil {
		return uniqueErr("An environment", e.Name, err)
	}
	e.ID = newID
	return nil
}

// EnsureEnvironment returns the environment named e.Name, creating it from e
// when missing and updating its policy when it differs.
func (s *Store) EnsureEnvironment(ctx context.Context, e *rewind.Environment) error {
	if got, err := s.EnvironmentByName(ctx, e.Name); err == nil {
		e.ID, e.CreatedAt = got.ID, got.CreatedAt
		if got.RequiredApprovals == e.RequiredApprovals {
			return nil
		}
	}
	return s.SaveEnvironment(ctx, e)
}

func uniqueErr(what, name string, err error) error {
	if isUnique(err) {
		return rewind.Errorf(rewind.ECONFLICT, "%s named %q already exists.", what, name)
	}
	return fmt.Errorf("save %q: %w", name, err)
}

// Environments lists the environments by name.
func (s *Store) Environments(ctx context.Context) ([]*rewind.Environment, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, required_approvals, created_at FROM environments ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list environments: %w", err)
	}
	defer rows.Close()
	var out []*rewind.Environment
	for rows.Next() {
		var e rewind.Environment
		var created string
		if err := rows.Scan(&e.ID, &e.Name, &e.RequiredApprovals, &created); err != nil {
			return nil, err
		}
		e.CreatedAt = parseTime(created)
		out = append(out, &e)
	}
	return out, rows.Err()
}

// Environment returns the environment with that ID.
func (s *Store) Environment(ctx context.Context, id int64) (*rewind.Environment, error) {
	return s.environmentWhere(ctx, `id = ?`, id)
}

// EnvironmentByName returns the environment with that name.
func (s *Store) EnvironmentByName(ctx context.Context, name string) (*rewind.Environment, error) {
	return s.environmentWhere(ctx, `name = ?`, name)
}

func (s *Store) environmentWhere(ctx context.Context, where string, arg any) (*rewind.Environment, error) {
	var e rewind.Environment
	var created string
	err := s.db.QueryRowContext(ctx, `SELECT id, name, required_approvals, created_at FROM environments WHERE `+where, arg).
		Scan(&e.ID, &e.Name, &e.RequiredApprovals, &created)
	if err != nil {
		return nil, notFound("Environment", err)
	}
	e.CreatedAt = parseTime(created)
	return &e, nil
}
