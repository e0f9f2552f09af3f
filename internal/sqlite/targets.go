package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/rewindhq/rewind/internal/rewind"
)

const targetCols = `t.id, t.kind, t.environment_id, t.owner_id, t.namespace, t.workload, t.grp, t.name, t.created_at, t.deleted_at`

func scanTarget(row interface{ Scan(...any) error }, extra ...any) (*rewind.Target, error) {
	var t rewind.Target
	var created string
	var deleted sql.NullString
	dest := append([]any{&t.ID, &t.Kind, &t.EnvironmentID, &t.OwnerID, &t.Namespace, &t.Workload, &t.Group, &t.Name, &created, &deleted}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	t.CreatedAt = parseTime(created)
	t.DeletedAt = parseTimePtr(deleted)
	return &t, nil
}

// EnsureTarget returns the stored target with t's identity, creating it when
// missing (created is then true). A target marked deleted is brought back.
func (s *Store) EnsureTarget(ctx context.Context, t *rewind.Target) (created bool, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		got, err := scanTarget(tx.QueryRowContext(ctx, `SELECT `+targetCols+` FROM targets t
			WHERE kind = ? AND owner_id = ? AND namespace = ? AND workload = ? AND grp = ? AND name = ?`,
			t.Kind, t.OwnerID, t.Namespace, t.Workload, t.Group, t.Name))
		if err == nil {
			if got.DeletedAt != nil || got.EnvironmentID != t.EnvironmentID {
				if _, err := tx.ExecContext(ctx, `UPDATE targets SET deleted_at = NULL, environment_id = ? WHERE id = ?`, t.EnvironmentID, got.ID); err != nil {
					return err
				}
				got.DeletedAt, got.EnvironmentID = nil, t.EnvironmentID
			}
			*t = *got
			return nil
		}
		if err != sql.ErrNoRows {
			return err
		}
		t.CreatedAt = s.now()
		newID, err := insert(ctx, tx, `INSERT INTO targets (kind, environment_id, owner_id, namespace, workload, grp, name, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			t.Kind, t.EnvironmentID, t.OwnerID, t.Namespace, t.Workload, t.Group, t.Name, fmtTime(t.CreatedAt))
		if err != nil {
			return err
		}
		t.ID = newID
		created = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("ensure target %s: %w", t.Label(), err)
	}
	return created, nil
}

// MarkTargetDeleted records that a target disappeared from its owner.
func (s *Store) MarkTargetDeleted(ctx context.Context, id int64) error {
	_, err := s.db.ExecContext(ctx, `UPDATE targets SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL`, fmtTime(s.now()), id)
	return err
}

// Target returns the target with that ID.
func (s *Store) Target(ctx context.Context, id int64) (*rewind.Target, error) {
	t, err := scanTarget(s.db.QueryRowContext(ctx, `SELECT `+targetCols+` FROM targets t WHERE id = ?`, id))
	if err != nil {
		return nil, notFound("Target", err)
	}
	return t, nil
}

// TargetFilter selects targets; zero fields match everything.
type TargetFilter struct {
	Kind          rewind.TargetKind
	EnvironmentID int64
	// EnvironmentIDs, when not nil, keeps the targets of these environments
	// only (none when empty): those the reader sees.
	EnvironmentIDs []int64
	OwnerID        int64
	Namespace      string
	Search         string // part of the name
	WithDeleted    bool
}

// TargetSummary is a target with its latest version.
type TargetSummary struct {
	Target *rewind.Target
	Latest *rewind.Version // nil when nothing is recorded yet
	Count  int64           // number of versions
}

// Targets lists targets with their latest versions, ordered by namespace and name.
func (s *Store) Targets(ctx context.Context, f TargetFilter) ([]TargetSummary, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) { where = append(where, cond); args = append(args, arg) }
	if f.Kind != "" {
		add("t.kind = ?", f.Kind)
	}
	if f.EnvironmentID != 0 {
		add("t.environment_id = ?", f.EnvironmentID)
	}
	if f.EnvironmentIDs != nil {
		where = append(where, "t.environment_id IN (NULL"+strings.Repeat(", ?", len(f.EnvironmentIDs))+")")
		for _, id := range f.EnvironmentIDs {
			args = append(args, id)
		}
	}
	if f.OwnerID != 0 {
		add("t.owner_id = ?", f.OwnerID)
	}
	if f.Namespace != "" {
		add("t.namespace = ?", f.Namespace)
	}
	if f.Search != "" {
		add("t.name LIKE ? ESCAPE '\\'", "%"+likeEscape(f.Search)+"%")
	}
	if !f.WithDeleted {
		where = append(where, "t.deleted_at IS NULL")
	}
	q := `SELECT ` + targetCols + `, COALESCE(v.id, 0), (SELECT COUNT(*) FROM versions c WHERE c.target_id = t.id)
		FROM targets t LEFT JOIN versions v ON v.id = (SELECT MAX(id) FROM versions x WHERE x.target_id = t.id)`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY t.namespace, t.name, t.workload, t.grp"
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list targets: %w", err)
	}
	defer rows.Close()
	var out []TargetSummary
	var latest []int64
	for rows.Next() {
		var vid, count int64
		t, err := scanTarget(rows, &vid, &count)
		if err != nil {
			return nil, err
		}
		out = append(out, TargetSummary{Target: t, Count: count})
		latest = append(latest, vid)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	for i, id := range latest {
		if id == 0 {
			continue
		}
		v, err := s.Version(ctx, id)
		if err != nil {
			return nil, err
		}
		out[i].Latest = v
	}
	return out, nil
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
