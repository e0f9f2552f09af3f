package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/rewindhq/rewind/internal/rewind"
)

const versionCols = `id, target_id, number, revision, content, hash, source, author, change_cause, images, meta, created_at, COALESCE(request_id, 0)`

func scanVersion(row interface{ Scan(...any) error }) (*rewind.Version, error) {
	var v rewind.Version
	var images, meta, created string
	if err := row.Scan(&v.ID, &v.TargetID, &v.Number, &v.Revision, &v.Content, &v.Hash, &v.Source, &v.Author, &v.ChangeCause, &images, &meta, &created, &v.RequestID); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(images), &v.Images); err != nil {
		return nil, fmt.Errorf("version %d images: %w", v.ID, err)
	}
	if err := json.Unmarshal([]byte(meta), &v.Meta); err != nil {
		return nil, fmt.Errorf("version %d meta: %w", v.ID, err)
	}
	v.CreatedAt = parseTime(created)
	return &v, nil
}

// RecordVersion appends v to its target's versions unless the target's latest
// version already has the same hash, which makes recording idempotent. It
// returns the stored version (the new one or the latest) and whether it was added.
func (s *Store) RecordVersion(ctx context.Context, v *rewind.Version) (*rewind.Version, bool, error) {
	var out *rewind.Version
	added := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		latest, err := scanVersion(tx.QueryRowContext(ctx, `SELECT `+versionCols+` FROM versions WHERE target_id = ? ORDER BY number DESC LIMIT 1`, v.TargetID))
		switch {
		case err == sql.ErrNoRows:
		case err != nil:
			return err
		case latest.Hash == v.Hash:
			out = latest
			return nil
		}
		out, err = s.insertVersion(ctx, tx, v)
		added = err == nil
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("record version of target %d: %w", v.TargetID, err)
	}
	return out, added, nil
}

// ImportVersion appends v unless a version with the same revision and hash is
// already recorded, retention removed that revision, or the latest version
// has the same hash.
func (s *Store) ImportVersion(ctx context.Context, v *rewind.Version) (bool, error) {
	added := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM versions WHERE target_id = ? AND revision = ? AND hash = ?)
			+ (SELECT COUNT(*) FROM pruned_revisions WHERE target_id = ? AND revision = ? AND revision != '')`,
			v.TargetID, v.Revision, v.Hash, v.TargetID, v.Revision).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		var latest string
		err := tx.QueryRowContext(ctx, `SELECT hash FROM versions WHERE target_id = ? ORDER BY number DESC LIMIT 1`, v.TargetID).Scan(&latest)
		if err != nil && err != sql.ErrNoRows {
			return err
		}
		if latest == v.Hash {
			return nil
		}
		_, err = s.insertVersion(ctx, tx, v)
		added = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("import version of target %d: %w", v.TargetID, err)
	}
	return added, nil
}

func (s *Store) insertVersion(ctx context.Context, tx *sql.Tx, v *rewind.Version) (*rewind.Version, error) {
	images, err := json.Marshal(orEmpty(v.Images))
	if err != nil {
		return nil, err
	}
	meta, err := json.Marshal(orEmptyMap(v.Meta))
	if err != nil {
		return nil, err
	}
	if v.CreatedAt.IsZero() {
		v.CreatedAt = s.now()
	}
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(number), 0) + 1 FROM versions WHERE target_id = ?`, v.TargetID).Scan(&v.Number); err != nil {
		return nil, err
	}
	newID, err := insert(ctx, tx, `INSERT INTO versions (target_id, number, revision, content, hash, source, author, change_cause, images, meta, created_at, request_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		v.TargetID, v.Number, v.Revision, v.Content, v.Hash, v.Source, v.Author, v.ChangeCause, string(images), string(meta), fmtTime(v.CreatedAt), nullID(v.RequestID))
	if err != nil {
		return nil, err
	}
	v.ID = newID
	if v.RequestID != 0 {
		// The step of that request now running on this target made it.
		if _, err := tx.ExecContext(ctx, `UPDATE request_steps SET result_version_id = ?
			WHERE request_id = ? AND target_id = ? AND state = 'running' AND result_version_id IS NULL`, v.ID, v.RequestID, v.TargetID); err != nil {
			return nil, err
		}
	}
	out := *v
	return &out, nil
}

func orEmpty(images []rewind.Image) []rewind.Image {
	if images == nil {
		return []rewind.Image{}
	}
	return images
}

func orEmptyMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// Version returns the version with that ID.
func (s *Store) Version(ctx context.Context, id int64) (*rewind.Version, error) {
	v, err := scanVersion(s.db.QueryRowContext(ctx, `SELECT `+versionCols+` FROM versions WHERE id = ?`, id))
	if err != nil {
		return nil, notFound("Version", err)
	}
	return v, nil
}

// VersionByNumber returns a target's version with that number.
func (s *Store) VersionByNumber(ctx context.Context, targetID, number int64) (*rewind.Version, error) {
	v, err := scanVersion(s.db.QueryRowContext(ctx, `SELECT `+versionCols+` FROM versions WHERE target_id = ? AND number = ?`, targetID, number))
	if err != nil {
		return nil, notFound("Version", err)
	}
	return v, nil
}

// LatestVersion returns a target's newest version.
func (s *Store) LatestVersion(ctx context.Context, targetID int64) (*rewind.Version, error) {
	v, err := scanVersion(s.db.QueryRowContext(ctx, `SELECT `+versionCols+` FROM versions WHERE target_id = ? ORDER BY number DESC LIMIT 1`, targetID))
	if err != nil {
		return nil, notFound("Version", err)
	}
	return v, nil
}

// VersionAt returns the version a target held at time at: its newest
// version made at or before then.
func (s *Store) VersionAt(ctx context.Context, targetID int64, at time.Time) (*rewind.Version, error) {
	v, err := scanVersion(s.db.QueryRowContext(ctx, `SELECT `+versionCols+` FROM versions WHERE target_id = ? AND created_at <= ?
		ORDER BY created_at DESC, number DESC LIMIT 1`, targetID, fmtTime(at)))
	if err != nil {
		return nil, notFound("Version", err)
	}
	return v, nil
}

// Versions returns one page of a target's versions, newest first, and how many there are.
func (s *Store) Versions(ctx context.Context, targetID int64, offset, limit int) ([]*rewind.Version, int, error) {
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM versions WHERE target_id = ?`, targetID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count versions: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+versionCols+` FROM versions WHERE target_id = ? ORDER BY number DESC LIMIT ? OFFSET ?`, targetID, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("list versions: %w", err)
	}
	defer rows.Close()
	var out []*rewind.Version
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, v)
	}
	return out, total, rows.Err()
}

// MaxRevision returns the highest numeric revision recorded for a target, or 0.
func (s *Store) MaxRevision(ctx context.Context, targetID int64) (int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT revision FROM versions WHERE target_id = ? AND revision != ''`, targetID)
	if err != nil {
		return 0, fmt.Errorf("revisions of target %d: %w", targetID, err)
	}
	defer rows.Close()
	var most int64
	for rows.Next() {
		var rev string
		if err := rows.Scan(&rev); err != nil {
			return 0, err
		}
		if n, err := strconv.ParseInt(rev, 10, 64); err == nil && n > most {
			most = n
		}
	}
	return most, rows.Err()
}
