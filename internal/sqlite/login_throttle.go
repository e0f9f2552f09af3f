package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/rewindhq/rewind/internal/auth"
)

var _ auth.SharedTable = (*Store)(nil)

// UpdateThrottle keeps the login throttle's failures for every replica
// (auth.SharedTable): in one transaction it drops keys forgotten since
// forgetBefore, reads the failures of keys, lets fn change them and writes
// them back.
func (s *Store) UpdateThrottle(ctx context.Context, keys []string, forgetBefore time.Time, fn func(fs []*auth.Failures, held int)) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM login_throttle WHERE last < ? AND in_flight = 0`, fmtTime(forgetBefore)); err != nil {
			return err
		}
		var held int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM login_throttle`).Scan(&held); err != nil {
			return err
		}
		fs := make([]*auth.Failures, len(keys))
		for i, k := range keys {
			f := &auth.Failures{}
			var until, last string
			err := tx.QueryRowContext(ctx, `SELECT failures, in_flight, wait_until, last FROM login_throttle WHERE key = ?`, k).
				Scan(&f.Count, &f.InFlight, &until, &last)
			switch {
			case err == sql.ErrNoRows:
			case err != nil:
				return err
			default:
				f.Until, f.Last = parseTime(until), parseTime(last)
			}
			fs[i] = f
		}
		fn(fs, held)
		for i, k := range keys {
			f := fs[i]
			if f.Count == 0 && f.InFlight == 0 {
				if _, err := tx.ExecContext(ctx, `DELETE FROM login_throttle WHERE key = ?`, k); err != nil {
					return err
				}
				continue
			}
			until := ""
			if !f.Until.IsZero() {
				until = fmtTime(f.Until)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO login_throttle (key, failures, in_flight, wait_until, last) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, in_flight = excluded.in_flight,
				wait_until = excluded.wait_until, last = excluded.last`, k, f.Count, f.InFlight, until, fmtTime(f.Last)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("login throttle: %w", err)
	}
	return nil
}
