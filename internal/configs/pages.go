package configs

import (
	"context"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rewindhq/rewind/internal/nacos"
	"github.com/rewindhq/rewind/internal/rewind"
)

// Current reads config t as Nacos holds it now. When Rewind had not recorded
// that content yet (its follower has not caught up), it records it now, so
// that the current content is always one of the config's versions. A read is
// reused for liveCacheTTL unless a change of the config is seen meanwhile
// (the SDK allows only a few reads of one config per second); a restore
// compares md5 at the server anyway.
func (m *Manager) Current(ctx context.Context, t *rewind.Target) (*rewind.ConfigState, error) {
	srv, err := m.server(t.OwnerID)
	if err != nil {
		return nil, err
	}
	key := keyOf(t)
	if st, ok := srv.cached(key); ok {
		return st, nil
	}
	// A server known to fail is not asked (pages stay fast); it is checked
	// again at once.
	client, err := srv.sessionClient()
	if err != nil {
		srv.askRecheck()
		return nil, err
	}
	cfg, exists, err := client.Get(ctx, key)
	if err != nil {
		return nil, describe(srv.reg.Name, err)
	}
	st := &rewind.ConfigState{Exists: exists, Content: cfg.Content, MD5: cfg.MD5, Type: srv.typeOf(key)}
	srv.cache(key, st)
	live, err := m.store.LiveConfigVersion(ctx, t.ID)
	seen := err == nil && live.Hash == st.MD5
	if err != nil && rewind.ErrorCode(err) != rewind.ENOTFOUND {
		return nil, err
	}
	if !seen && (exists || err == nil) {
		if _, err := srv.observe(ctx, key, st.Content, st.MD5, time.Now()); err != nil {
			return nil, err
		}
	}
	if n, err := m.store.MaxRevision(ctx, t.ID); err == nil && n == 0 {
		srv.queueImport(key)
	}
	return st, nil
}

// Type returns Nacos' type of config t (yaml, properties, json, xml, text,
// html) as its server's last listing gave it; "" when unknown.
func (m *Manager) Type(t *rewind.Target) string {
	srv, err := m.server(t.OwnerID)
	if err != nil {
		return ""
	}
	return srv.typeOf(keyOf(t))
}

// Format returns the format of a content of config t: its Nacos type when
// that says more than "text", else what the content looks like.
func (m *Manager) Format(t *rewind.Target, content string) string {
	return nacos.DetectFormat(m.Type(t), content)
}

// maskWords returns the words that make a key of t's server secret.
func (m *Manager) maskWords(t *rewind.Target) []string {
	srv, err := m.server(t.OwnerID)
	if err != nil || len(srv.reg.MaskKeys) == 0 {
		return rewind.DefaultMaskKeys
	}
	return srv.reg.MaskKeys
}

// Mask hides the values of the secret keys of a content of config t.
func (m *Manager) Mask(t *rewind.Target, content string) string {
	return nacos.Mask(m.Format(t, content), content, m.maskWords(t))
}

// SecretKey reports whether a key path of config t (dotted, with [i] for
// list items, as diff.KeyChanges writes it) names a secret or lies under one.
func (m *Manager) SecretKey(t *rewind.Target, path string) bool {
	words := m.maskWords(t)
	for _, part := range strings.FieldsFunc(strings.ToLower(path), func(r rune) bool { return r == '.' || r == '[' || r == ']' }) {
		for _, w := range words {
			if strings.Contains(part, strings.ToLower(w)) {
				return true
			}
		}
	}
	return false
}

// Preflight checks that config t's server can take a restore now: it is
// registered, answers, and runs Nacos 2.x or 3.x.
func (m *Manager) Preflight(ctx context.Context, t *rewind.Target) error {
	srv, err := m.server(t.OwnerID)
	if err != nil {
		return err
	}
	if srv.setupErr != nil {
		return srv.setupErr
	}
	major, _, err := srv.probe.DetectVersion(ctx)
	if err != nil {
		return describe(srv.reg.Name, err)
	}
	if major == "1" {
		return describe(srv.reg.Name, nacos.ErrReadOnly)
	}
	return nil
}

// Versions returns the versions of config t, newest first: the versions
// imported from Nacos history merged with Rewind's snapshots and restores
// (nacos.Merge), so that one change is listed once. It reads only the store.
func (m *Manager) Versions(ctx context.Context, t *rewind.Target) ([]rewind.ConfigVersion, error) {
	stored, err := m.store.ConfigVersionList(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	return mergeVersions(keyOf(t), stored), nil
}

// mergeVersions merges a config's recorded versions with nacos.Merge and
// finds the recorded version that stands for each merged one.
func mergeVersions(key nacos.ConfigKey, stored []*rewind.Version) []rewind.ConfigVersion {
	type stamp struct {
		md5 string
		at  int64
	}
	var history, snapshots []nacos.Version
	byHistoryID := map[string]*rewind.Version{}
	byStamp := map[stamp]*rewind.Version{}
	var rollbacks []*rewind.Version
	for _, v := range stored {
		nv := nacos.Version{Key: key, MD5: v.Hash, At: v.CreatedAt, Operator: v.Author, SourceIP: v.Meta[rewind.MetaSourceIP],
			Op: v.Meta[rewind.MetaOp], Sources: []string{string(v.Source)}}
		if v.Source == rewind.SourceImported {
			nv.HistoryID = v.Revision
			byHistoryID[v.Revision] = v
			history = append(history, nv)
			continue
		}
		if v.Source == rewind.SourceRollback {
			rollbacks = append(rollbacks, v)
		}
		// Only Nacos history knows the operation; a snapshot of a deletion
		// keeps its op for the case that no history row matches it.
		if nv.Op != rewind.NacosDelete {
			nv.Op = ""
		}
		byStamp[stamp{v.Hash, v.CreatedAt.UnixNano()}] = v
		snapshots = append(snapshots, nv)
	}
	merged := nacos.Merge(history, snapshots)
	out := make([]rewind.ConfigVersion, 0, len(merged))
	for _, mv := range merged {
		var rep *rewind.Version
		if mv.HistoryID != "" {
			rep = byHistoryID[mv.HistoryID]
		}
		if rep == nil {
			rep = byStamp[stamp{mv.MD5, mv.At.UnixNano()}]
		}
		if rep == nil {
			continue
		}
		cv := rewind.ConfigVersion{Number: rep.Number, At: mv.At, Operator: mv.Operator, SourceIP: mv.SourceIP, Op: mv.Op,
			MD5: mv.MD5, Deleted: mv.MD5 == "", HistoryID: mv.HistoryID}
		for _, src := range mv.Sources {
			cv.Sources = append(cv.Sources, rewind.Source(src))
		}
		if slices.Contains(mv.Sources, string(rewind.SourceRollback)) {
			if r := nearest(rollbacks, mv.MD5, mv.At); r != nil {
				cv.RequestID = r.RequestID
				if cv.Operator == "" {
					cv.Operator = r.Author
				}
			}
		}
		out = append(out, cv)
	}
	// Nacos history has whole seconds: changes within one second keep the
	// order Rewind recorded them in, newest first.
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.After(out[j].At)
		}
		return out[i].Number > out[j].Number
	})
	return out
}

// nearest returns the version with that hash whose time is closest to at.
func nearest(vs []*rewind.Version, md5 string, at time.Time) *rewind.Version {
	var best *rewind.Version
	var bestGap time.Duration
	for _, v := range vs {
		if v.Hash != md5 {
			continue
		}
		gap := v.CreatedAt.Sub(at).Abs()
		if best == nil || gap < bestGap {
			best, bestGap = v, gap
		}
	}
	return best
}
