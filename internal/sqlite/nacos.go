package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rewindhq/rewind/internal/rewind"
)

// SaveNacosServer inserts n, or updates it when n.ID is set, after
// normalising and checking it. The password is sealed before it is written;
// an update with an empty password keeps the old one. The configs of a
// server that moves to another environment move with it.
func (s *Store) SaveNacosServer(ctx context.Context, n *rewind.NacosServer) error {
	rewind.NormalizeNacosServer(n)
	if err := rewind.ValidateNacosServer(*n); err != nil {
		return err
	}
	var sealed []byte
	if n.Password != "" {
		var err error
		if sealed, err = s.box.Seal([]byte(n.Password)); err != nil {
			return fmt.Errorf("seal nacos password: %w", err)
		}
	}
	ns, keys := strings.Join(n.Namespaces, ","), strings.Join(n.MaskKeys, ",")
	if n.ID != 0 {
		return s.inTx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `UPDATE nacos_servers SET name = ?, environment_id = ?, addr = ?, context_path = ?, namespaces = ?,
				username = ?, password_enc = COALESCE(?, password_enc), mask_keys = ?, from_config = ? WHERE id = ?`,
				n.Name, n.EnvironmentID, n.Addr, n.ContextPath, ns, n.Username, sealed, keys, n.FromConfig, n.ID)
			if err != nil {
				return uniqueErr("A Nacos server", n.Name, err)
			}
			if k, _ := res.RowsAffected(); k == 0 {
				return notFound("Nacos server", sql.ErrNoRows)
			}
			_, err = tx.ExecContext(ctx, `UPDATE targets SET environment_id = ? WHERE kind = ? AND owner_id = ?`, n.EnvironmentID, rewind.KindConfig, n.ID)
			return err
		})
	}
	n.CreatedAt = s.now()
	newID, err := insert(ctx, s.db, `INSERT INTO nacos_servers (name, environment_id, addr, context_path, namespaces, username, password_enc, mask_keys, from_config, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		n.Name, n.EnvironmentID, n.Addr, n.ContextPath, ns, n.Username, sealed, keys, n.FromConfig, fmtTime(n.CreatedAt))
	if err != nil {
		return uniqueErr("A Nacos server", n.Name, err)
	}
	n.ID = newID
	return nil
}

const nacosServerCols = `id, name, environment_id, addr, context_path, namespaces, username, password_enc, mask_keys, from_config, created_at`

func (s *Store) scanNacosServer(row interface{ Scan(...any) error }) (*rewind.NacosServer, error) {
	var n rewind.NacosServer
	var sealed []byte
	var ns, keys, created string
	if err := row.Scan(&n.ID, &n.Name, &n.EnvironmentID, &n.Addr, &n.ContextPath, &ns, &n.Username, &sealed, &keys, &n.FromConfig, &created); err != nil {
		return nil, err
	}
	plain, err := s.box.Open(sealed)
	if err != nil {
		return nil, fmt.Errorf("nacos server %s: %w", n.Name, err)
	}
	n.Password = string(plain)
	n.Namespaces = strings.Split(ns, ",")
	n.MaskKeys = rewind.ParseList(keys)
	n.CreatedAt = parseTime(created)
	return &n, nil
}

// NacosServers lists the Nacos servers by name, with their passwords opened.
func (s *Store) NacosServers(ctx context.Context) ([]*rewind.NacosServer, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+nacosServerCols+` FROM nacos_servers ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list nacos servers: %w", err)
	}
	defer rows.Close()
	var out []*rewind.NacosServer
	for rows.Next() {
		n, err := s.scanNacosServer(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// NacosServer returns the Nacos server with that ID.
func (s *Store) NacosServer(ctx context.Context, id int64) (*rewind.NacosServer, error) {
	n, err := s.scanNacosServer(s.db.QueryRowContext(ctx, `SELECT `+nacosServerCols+` FROM nacos_servers WHERE id = ?`, id))
	if err != nil {
		return nil, notFound("Nacos server", err)
	}
	return n, nil
}

// NacosServerByName returns the Nacos server with that name.
func (s *Store) NacosServerByName(ctx context.Context, name string) (*rewind.NacosServer, error) {
	n, err := s.scanNacosServer(s.db.QueryRowContext(ctx, `SELECT `+nacosServerCols+` FROM nacos_servers WHERE name = ?`, name))
	if err != nil {
		return nil, notFound("Nacos server", err)
	}
	return n, nil
}

// DeleteNacosServer removes a Nacos server that no config history refers to.
func (s *Store) DeleteNacosServer(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM targets WHERE kind = ? AND owner_id = ?`, rewind.KindConfig, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return rewind.Errorf(rewind.ECONFLICT, "This Nacos server has recorded config history (%d configs); it cannot be removed.", n)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM nacos_servers WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("delete nacos server: %w", err)
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return notFound("Nacos server", sql.ErrNoRows)
		}
		return nil
	})
}

// liveVersion is the newest version of a config that Rewind saw live or made
// (imported history is older knowledge and does not count).
const liveVersion = `SELECT ` + versionCols + ` FROM versions WHERE target_id = ? AND source != 'imported' ORDER BY number DESC LIMIT 1`

// RecordConfigVersion appends v, a config's content seen live or made by a
// rollback, unless the newest such version of the target already has the
// same hash (a deletion has the empty hash). It returns the stored version
// (the new one or the newest) and whether it was added. Versions imported
// from Nacos history are not compared, as they may be older.
func (s *Store) RecordConfigVersion(ctx context.Context, v *rewind.Version) (*rewind.Version, bool, error) {
	var out *rewind.Version
	added := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		latest, err := scanVersion(tx.QueryRowContext(ctx, liveVersion, v.TargetID))
		switch {
		case errors.Is(err, sql.ErrNoRows):
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
		return nil, false, fmt.Errorf("record config version of target %d: %w", v.TargetID, err)
	}
	return out, added, nil
}

// LiveConfigVersion returns the newest version of a config that Rewind saw
// live or made by a rollback.
func (s *Store) LiveConfigVersion(ctx context.Context, targetID int64) (*rewind.Version, error) {
	v, err := scanVersion(s.db.QueryRowContext(ctx, liveVersion, targetID))
	if err != nil {
		return nil, notFound("Version", err)
	}
	return v, nil
}

// ImportConfigHistory appends the versions read from Nacos history (source
// imported, Revision the history ID) that are not recorded yet, oldest
// first, in one transaction, and returns how many it added.
func (s *Store) ImportConfigHistory(ctx context.Context, targetID int64, vs []*rewind.Version) (int, error) {
	added := 0
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		known := map[string]bool{}
		// Revisions that retention removed count as known: Nacos may still
		// keep them, and they are not imported again.
		rows, err := tx.QueryContext(ctx, `SELECT revision FROM versions WHERE target_id = ? AND source = 'imported'
			UNION SELECT revision FROM pruned_revisions WHERE target_id = ?`, targetID, targetID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var rev string
			if err := rows.Scan(&rev); err != nil {
				rows.Close()
				return err
			}
			known[rev] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for i := len(vs) - 1; i >= 0; i-- {
			v := vs[i]
			if v.Revision == "" || known[v.Revision] {
				continue
			}
			v.TargetID, v.Source = targetID, rewind.SourceImported
			if _, err := s.insertVersion(ctx, tx, v); err != nil {
				return err
			}
			known[v.Revision] = true
			added++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("import nacos history of target %d: %w", targetID, err)
	}
	return added, nil
}

// ConfigVersionList returns all versions of a config in the order they were
// recorded, without their content (Content stays empty; Hash tells them apart).
func (s *Store) ConfigVersionList(ctx context.Context, targetID int64) ([]*rewind.Version, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, target_id, number, revision, '', hash, source, author, change_cause, images, meta, created_at, COALESCE(request_id, 0)
		FROM versions WHERE target_id = ? ORDER BY number`, targetID)
	if err != nil {
		return nil, fmt.Errorf("list versions of target %d: %w", targetID, err)
	}
	defer rows.Close()
	var out []*rewind.Version
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// KnownConfig is a config of a Nacos server as Rewind last saw it live.
type KnownConfig struct {
	Target *rewind.Target
	// Hash is the md5 of the content last seen live or made by a rollback.
	Hash string
}

// KnownConfigs lists the configs of a Nacos server not marked deleted, each
// with the hash of its newest version seen live; configs with no such
// version are left out.
func (s *Store) KnownConfigs(ctx context.Context, serverID int64) ([]KnownConfig, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+targetCols+`, v.hash FROM targets t
		JOIN versions v ON v.id = (SELECT x.id FROM versions x WHERE x.target_id = t.id AND x.source != 'imported' ORDER BY x.number DESC LIMIT 1)
		WHERE t.kind = ? AND t.owner_id = ? AND t.deleted_at IS NULL ORDER BY t.id`, rewind.KindConfig, serverID)
	if err != nil {
		return nil, fmt.Errorf("list known configs of nacos server %d: %w", serverID, err)
	}
	defer rows.Close()
	var out []KnownConfig
	for rows.Next() {
		var k KnownConfig
		t, err := scanTarget(rows, &k.Hash)
		if err != nil {
			return nil, err
		}
		k.Target = t
		out = append(out, k)
	}
	return out, rows.Err()
}

// ConfigFilter selects configs; zero fields match everything.
type ConfigFilter struct {
	EnvironmentID int64
	ServerID      int64
	Namespace     string
	DataID        string // part of the data ID
	Group         string // part of the group
	WithDeleted   bool
}

// ConfigSummary is a config with its last recorded change.
type ConfigSummary struct {
	Target *rewind.Target
	// LastChange is the time of its newest version; LastAuthor who made it.
	LastChange time.Time
	LastAuthor string
	Count      int64 // number of recorded versions
}

// ConfigSummaries lists configs with their last change, by server, namespace,
// group and data ID.
func (s *Store) ConfigSummaries(ctx context.Context, f ConfigFilter) ([]ConfigSummary, error) {
	where := []string{"t.kind = ?"}
	args := []any{rewind.KindConfig}
	add := func(cond string, arg any) { where = append(where, cond); args = append(args, arg) }
	if f.EnvironmentID != 0 {
		add("t.environment_id = ?", f.EnvironmentID)
	}
	if f.ServerID != 0 {
		add("t.owner_id = ?", f.ServerID)
	}
	if f.Namespace != "" {
		add("t.namespace = ?", f.Namespace)
	}
	if f.DataID != "" {
		add(`t.name LIKE ? ESCAPE '\'`, "%"+likeEscape(f.DataID)+"%")
	}
	if f.Group != "" {
		add(`t.grp LIKE ? ESCAPE '\'`, "%"+likeEscape(f.Group)+"%")
	}
	if !f.WithDeleted {
		where = append(where, "t.deleted_at IS NULL")
	}
	q := `SELECT ` + targetCols + `, COALESCE(v.created_at, ''), COALESCE(v.author, ''), (SELECT COUNT(*) FROM versions c WHERE c.target_id = t.id)
		FROM targets t LEFT JOIN versions v ON v.id = (SELECT x.id FROM versions x WHERE x.target_id = t.id ORDER BY x.created_at DESC, x.number DESC LIMIT 1)
		WHERE ` + strings.Join(where, " AND ") + ` ORDER BY t.owner_id, t.namespace, t.grp, t.name`
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list configs: %w", err)
	}
	defer rows.Close()
	var out []ConfigSummary
	for rows.Next() {
		var sum ConfigSummary
		var last string
		t, err := scanTarget(rows, &last, &sum.LastAuthor, &sum.Count)
		if err != nil {
			return nil, err
		}
		sum.Target = t
		if last != "" {
			sum.LastChange = parseTime(last)
		}
		out = append(out, sum)
	}
	return out, rows.Err()
}
