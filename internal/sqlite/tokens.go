package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rewindhq/rewind/internal/rewind"
)

const tokenCols = `id, name, username, role, environments, environment_roles, read_only, prefix, created_by, created_at, expires_at, last_used_at, revoked_at`

func scanToken(row interface{ Scan(...any) error }) (*rewind.APIToken, error) {
	var t rewind.APIToken
	var envs, envRoles, created string
	var expires, used, revoked sql.NullString
	if err := row.Scan(&t.ID, &t.Name, &t.Username, &t.Role, &envs, &envRoles, &t.ReadOnly, &t.Prefix, &t.CreatedBy, &created, &expires, &used, &revoked); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(envs), &t.Environments); err != nil {
		return nil, fmt.Errorf("token %d environments: %w", t.ID, err)
	}
	if err := json.Unmarshal([]byte(envRoles), &t.EnvRoles); err != nil {
		return nil, fmt.Errorf("token %d roles per environment: %w", t.ID, err)
	}
	if len(t.EnvRoles) == 0 {
		t.EnvRoles = nil
	}
	t.CreatedAt = parseTime(created)
	t.ExpiresAt, t.LastUsedAt, t.RevokedAt = parseTimePtr(expires), parseTimePtr(used), parseTimePtr(revoked)
	return &t, nil
}

// CreateToken stores a new API token by its hash, with its audit event.
func (s *Store) CreateToken(ctx context.Context, t *rewind.APIToken, hash string, ev rewind.AuditEvent) error {
	envs, err := json.Marshal(orEmptyIDs(t.Environments))
	if err != nil {
		return err
	}
	envRoles := []byte("{}")
	if len(t.EnvRoles) > 0 {
		if envRoles, err = json.Marshal(t.EnvRoles); err != nil {
			return err
		}
	}
	t.CreatedAt = s.now()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		newID, err := insert(ctx, tx, `INSERT INTO api_tokens (name, username, role, environments, environment_roles, read_only, hash, prefix, created_by, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, t.Name, t.Username, t.Role, string(envs), string(envRoles), t.ReadOnly, hash, t.Prefix, t.CreatedBy, fmtTime(t.CreatedAt), fmtTimePtr(t.ExpiresAt))
		if err != nil {
			return uniqueErr("A token", t.Name, err)
		}
		t.ID = newID
		return s.addAudit(ctx, tx, ev)
	})
}

func orEmptyIDs(ids []int64) []int64 {
	if ids == nil {
		return []int64{}
	}
	return ids
}

// TokenByHash returns the token with that hash, revoked or not.
func (s *Store) TokenByHash(ctx context.Context, hash string) (*rewind.APIToken, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE hash = ?`, hash))
	return t, notFound("API token", err)
}

// Token returns the token with that ID.
func (s *Store) Token(ctx context.Context, id int64) (*rewind.APIToken, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE id = ?`, id))
	return t, notFound("API token", err)
}

// TouchToken records that a token was just used.
func (s *Store) TouchToken(ctx context.Context, id int64) error {
	_, err := s.db.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, fmtTime(s.now()), id)
	return err
}

// Tokens lists the tokens of a user, or the service tokens when username is
// empty, newest first, revoked ones included.
func (s *Store) Tokens(ctx context.Context, username string) ([]*rewind.APIToken, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE username = ? ORDER BY id DESC`, username)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []*rewind.APIToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken revokes a token for good, with its audit event.
func (s *Store) RevokeToken(ctx context.Context, id int64, ev rewind.AuditEvent) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, fmtTime(s.now()), id)
		if err != nil {
			return fmt.Errorf("revoke token %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return rewind.Errorf(rewind.ENOTFOUND, "API token not found or already revoked.")
		}
		return s.addAudit(ctx, tx, ev)
	})
}

// IdempotentRequest returns the request that actor made with key, or 0.
func (s *Store) IdempotentRequest(ctx context.Context, actor, key string) (int64, error) {
	var id int64
	err := s.db.QueryRowContext(ctx, `SELECT request_id FROM idempotency_keys WHERE actor = ? AND key = ?`, actor, key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return id, err
}

// SaveIdempotencyKey remembers that actor made request id with key.
func (s *Store) SaveIdempotencyKey(ctx context.Context, actor, key string, id int64) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO idempotency_keys (actor, key, request_id, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`, actor, key, id, fmtTime(s.now()))
	if err != nil {
		return fmt.Errorf("save idempotency key: %w", err)
	}
	return nil
}
