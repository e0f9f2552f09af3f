package sqlite

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/rewindhq/rewind/internal/rewind"
)

// What the replicas of one store share: keys, the leader's lease, the
// count of failed logins (see login_throttle.go).

// keyCheck is the text sealed under the name key_check: a store opens only
// with the secret key that sealed it.
const keyCheck = "rewind: the secret key of this store"

// checkKey makes sure that the store's credentials are sealed with this
// Rewind's secret key: a new store records keyCheck sealed with it, and
// a store sealed with another key is refused (nothing is changed).
func (s *Store) checkKey(ctx context.Context) error {
	if s.box == nil {
		return nil
	}
	sealed, err := s.box.Seal([]byte(keyCheck))
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO store_keys (name, sealed, created_at) VALUES ('key_check', ?, ?) ON CONFLICT DO NOTHING`,
		sealed, fmtTime(s.now())); err != nil {
		return fmt.Errorf("record the key check: %w", err)
	}
	var stored []byte
	if err := s.db.QueryRowContext(ctx, `SELECT sealed FROM store_keys WHERE name = 'key_check'`).Scan(&stored); err != nil {
		return fmt.Errorf("read the key check: %w", err)
	}
	if plain, err := s.box.Open(stored); err != nil || string(plain) != keyCheck {
		return rewind.Errorf(rewind.ECONFLICT, "This Rewind's secret key is not the one the store's credentials were sealed with: give every replica the same key (--secret-key-file or REWIND_SECRET_KEY). Nothing was changed.")
	}
	return nil
}

// SharedKey returns the store's key called name, of n bytes, the same for
// every replica. The first call makes it, from initial when that has n
// bytes (a key kept before in a file), else at random. It is kept sealed.
func (s *Store) SharedKey(ctx context.Context, name string, n int, initial []byte) ([]byte, error) {
	if s.box == nil {
		return nil, errors.New("shared key: the store has no secret key")
	}
	key := initial
	if len(key) != n {
		key = make([]byte, n)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
	}
	sealed, err := s.box.Seal(key)
	if err != nil {
		return nil, err
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO store_keys (name, sealed, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		name, sealed, fmtTime(s.now())); err != nil {
		return nil, fmt.Errorf("keep key %s: %w", name, err)
	}
	var stored []byte
	if err := s.db.QueryRowContext(ctx, `SELECT sealed FROM store_keys WHERE name = ?`, name).Scan(&stored); err != nil {
		return nil, fmt.Errorf("read key %s: %w", name, err)
	}
	got, err := s.box.Open(stored)
	if err != nil {
		return nil, fmt.Errorf("open key %s: %w", name, err)
	}
	if len(got) != n {
		return nil, fmt.Errorf("key %s has %d bytes, want %d", name, len(got), n)
	}
	return got, nil
}

// Lease returns the record of the lease called name and its version;
// ENOTFOUND when nobody took it yet.
func (s *Store) Lease(ctx context.Context, name string) ([]byte, int64, error) {
	var record string
	var version int64
	err := s.db.QueryRowContext(ctx, `SELECT record, version FROM leases WHERE name = ?`, name).Scan(&record, &version)
	if err != nil {
		return nil, 0, notFound("Lease", err)
	}
	return []byte(record), version, nil
}

// CreateLease records the first holder of the lease called name; false
// when the lease exists already.
func (s *Store) CreateLease(ctx context.Context, name string, record []byte) (bool, error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO leases (name, record, version) VALUES (?, ?, 1) ON CONFLICT DO NOTHING`, name, string(record))
	if err != nil {
		return false, fmt.Errorf("create lease %s: %w", name, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// UpdateLease replaces the record of the lease called name if it is still
// at version (the one read); false when another replica wrote it since.
func (s *Store) UpdateLease(ctx context.Context, name string, record []byte, version int64) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE leases SET record = ?, version = version + 1 WHERE name = ? AND version = ?`, string(record), name, version)
	if err != nil {
		return false, fmt.Errorf("update lease %s: %w", name, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
