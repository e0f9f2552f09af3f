package web

import (
	"context"

	"github.com/rewindhq/rewind/internal/rewind"
)

// ConfigBackend is what the config pages need of the Nacos side (s.opt.Configs).
type ConfigBackend interface {
	// Health returns each Nacos server's problem by name, nil when Rewind can use it.
	Health(ctx context.Context) map[string]error
	// Status returns what Rewind last learned of a server: its version and problem.
	Status(serverID int64) rewind.NacosStatus
	// Current reads a config as Nacos holds it now, recording it as a version
	// when Rewind had not seen it yet.
	Current(ctx context.Context, t *rewind.Target) (*rewind.ConfigState, error)
	// Versions returns a config's versions, Nacos history merged with Rewind's
	// snapshots, newest first.
	Versions(ctx context.Context, t *rewind.Target) ([]rewind.ConfigVersion, error)
	// Type returns Nacos' type of a config, "" when unknown.
	Type(t *rewind.Target) string
	// Format returns the format of a content of a config (yaml, properties,
	// json, xml, html or text).
	Format(t *rewind.Target, content string) string
	// Mask hides the values of the secret keys of a content of a config.
	Mask(t *rewind.Target, content string) string
	// SecretKey reports whether a key path of a config names a secret.
	SecretKey(t *rewind.Target, path string) bool
	// Preflight checks that a config's server can take a restore now.
	Preflight(ctx context.Context, t *rewind.Target) error
	// AddServer starts following a newly registered or changed server.
	AddServer(n *rewind.NacosServer) error
	// RemoveServer stops following a server.
	RemoveServer(id int64)
}
