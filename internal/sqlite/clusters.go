package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/rewindhq/rewind/internal/rewind"
)

// SaveCluster inserts c, or updates it when c.ID is set. A pasted kubeconfig
// is sealed before it is written; an update with no kubeconfig keeps the old one.
func (s *Store) SaveCluster(ctx context.Context, c *rewind.Cluster) error {
	if err := rewind.ValidateCluster(*c); err != nil {
		return err
	}
	sealed, err := s.box.Seal(c.Kubeconfig)
	if err != nil {
		return fmt.Errorf("seal kubeconfig: %w", err)
	}
	ns := strings.Join(c.Namespaces, ",")
	if c.ID != 0 {
		_, err := s.db.ExecContext(ctx, `UPDATE clusters SET name = ?, environment_id = ?, kubeconfig_path = ?, context = ?, in_cluster = ?,
			kubeconfig_enc = COALESCE(?, kubeconfig_enc), namespaces = ?, from_config = ? WHERE id = ?`,
			c.Name, c.EnvironmentID, c.KubeconfigPath, c.Context, c.InCluster, sealed, ns, c.FromConfig, c.ID)
		if err != nil {
			return uniqueErr("A cluster", c.Name, err)
		}
		return nil
	}
	c.CreatedAt = s.now()
	newID, err := insert(ctx, s.db, `INSERT INTO clusters (name, environment_id, kubeconfig_path, context, in_cluster, kubeconfig_enc, namespaces, from_config, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Name, c.EnvironmentID, c.KubeconfigPath, c.Context, c.InCluster, sealed, ns, c.FromConfig, fmtTime(c.CreatedAt))
	if err != nil {
		return uniqueErr("A cluster", c.Name, err)
	}
	c.ID = newID
	return nil
}

const clusterCols = `id, name, environment_id, kubeconfig_path, context, in_cluster, kubeconfig_enc, namespaces, from_config, created_at`

func (s *Store) scanCluster(row interface{ Scan(...any) error }) (*rewind.Cluster, error) {
	var c rewind.Cluster
	var sealed []byte
	var ns, created string
	if err := row.Scan(&c.ID, &c.Name, &c.EnvironmentID, &c.KubeconfigPath, &c.Context, &c.InCluster, &sealed, &ns, &c.FromConfig, &created); err != nil {
		return nil, err
	}
	plain, err := s.box.Open(sealed)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	c.Kubeconfig = plain
	c.Namespaces = rewind.ParseList(ns)
	c.CreatedAt = parseTime(created)
	return &c, nil
}

// Clusters lists the clusters by name, with their credentials opened.
func (s *Store) Clusters(ctx context.Context) ([]*rewind.Cluster, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+clusterCols+` FROM clusters ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list clusters: %w", err)
	}
	defer rows.Close()
	var out []*rewind.Cluster
	for rows.Next() {
		c, err := s.scanCluster(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Cluster returns the cluster with that ID.
func (s *Store) Cluster(ctx context.Context, id int64) (*rewind.Cluster, error) {
	c, err := s.scanCluster(s.db.QueryRowContext(ctx, `SELECT `+clusterCols+` FROM clusters WHERE id = ?`, id))
	if err != nil {
		return nil, notFound("Cluster", err)
	}
	return c, nil
}

// ClusterByName returns the cluster with that name.
func (s *Store) ClusterByName(ctx context.Context, name string) (*rewind.Cluster, error) {
	c, err := s.scanCluster(s.db.QueryRowContext(ctx, `SELECT `+clusterCols+` FROM clusters WHERE name = ?`, name))
	if err != nil {
		return nil, notFound("Cluster", err)
	}
	return c, nil
}

// DeleteCluster removes a cluster that no service history refers to.
func (s *Store) DeleteCluster(ctx context.Context, id int64) error {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM targets WHERE kind = ? AND owner_id = ?`, rewind.KindService, id).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return rewind.Errorf(rewind.ECONFLICT, "This cluster has recorded service history (%d services); it cannot be removed.", n)
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM clusters WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete cluster: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("Cluster", sql.ErrNoRows)
	}
	return nil
}
