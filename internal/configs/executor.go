package configs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rewindhq/rewind/internal/nacos"
	"github.com/rewindhq/rewind/internal/rewind"
)

// Execute restores config t for request r: it publishes the content of
// version v with compare-and-swap on the md5 the requester saw (st.Expected),
// or deletes the config when r's payload says so, then reads the config back,
// checks its md5, and records the new version (source rollback). When the
// config changed since the request was made, nothing is written and the
// error says so; the content Nacos holds then is recorded as a version, so
// that the request page can show the new diff.
func (m *Manager) Execute(ctx context.Context, r *rewind.Request, st *rewind.Step, t *rewind.Target, v *rewind.Version, progress func(string)) (string, error) {
	srv, err := m.server(t.OwnerID)
	if err != nil {
		return "Nothing was changed.", err
	}
	client, err := srv.sessionClient()
	if err != nil {
		return "Nothing was changed.", err
	}
	restore, err := rewind.ParseConfigRestore(st.Payload)
	if err != nil {
		return "Nothing was changed: the request cannot be read.", err
	}
	if v == nil {
		return "Nothing was changed.", rewind.Errorf(rewind.EINVALID, "The request names no version to restore.")
	}
	key := keyOf(t)
	deleting := restore.Action == rewind.ConfigDelete
	content := v.Content
	if deleting {
		content = ""
	} else if content == "" {
		return "", rewind.Errorf(rewind.EINVALID, "Nothing was changed: version %d has empty content, and Nacos cannot publish empty content.", v.Number)
	}
	want := nacos.ContentMD5(content)
	m.expect(t.ID, expectation{hash: want, deleted: deleting, requestID: r.ID, requester: r.Requester})
	defer m.unexpect(t.ID)
	srv.forget(key)
	defer srv.forget(key)

	start := time.Now()
	if deleting {
		progress(fmt.Sprintf("Deleting %s from Nacos server %s…", key, srv.reg.Name))
		err = m.deleteIfUnchanged(ctx, client, key, st.Expected)
	} else {
		progress(fmt.Sprintf("Publishing version %d of %s to Nacos server %s…", v.Number, key, srv.reg.Name))
		err = m.publishIfUnchanged(ctx, client, key, content, st.Expected)
	}
	if errors.Is(err, nacos.ErrConflict) {
		return "", m.conflict(ctx, srv, client, r, st, t)
	}
	if err != nil && ctx.Err() != nil {
		return "The write may or may not have reached Nacos.", ctx.Err()
	}
	if err != nil {
		// The write may still have happened; reading the config back tells.
		m.log.Warn("restore write failed; reading the config back", "server", srv.reg.Name, "config", key.String(), "request", r.ID, "err", err)
	}
	progress("Reading the config back to check it…")
	cur, exists, rerr := client.Get(ctx, key)
	if rerr != nil {
		if err == nil {
			err = rerr
		}
		return "Rewind could not read the config back, so it cannot tell whether the restore reached Nacos; look at the config's page.",
			describe(srv.reg.Name, err)
	}
	done := (deleting && !exists) || (!deleting && exists && cur.MD5 == want)
	if !done {
		if _, oerr := srv.observe(ctx, key, cur.Content, cur.MD5, time.Now()); oerr != nil {
			m.log.Error("record config version", "config", key.String(), "err", oerr)
		}
		if err != nil {
			return "Nacos still holds " + m.describeState(t, exists, cur.Content, cur.MD5) + ".", describe(srv.reg.Name, err)
		}
		return "", rewind.Errorf(rewind.ECONFLICT, "The restore did not take: Nacos holds %s, not %s.",
			m.describeState(t, exists, cur.Content, cur.MD5), m.describeState(t, !deleting, content, want))
	}
	result := &rewind.Version{TargetID: t.ID, Content: content, Hash: want, Source: rewind.SourceRollback, Author: r.Requester,
		RequestID: r.ID, CreatedAt: time.Now().UTC(), Meta: map[string]string{}}
	if deleting {
		result.Meta[rewind.MetaOp] = rewind.NacosDelete
	}
	if typ := srv.typeOf(key); typ != "" {
		result.Meta[rewind.MetaType] = typ
	}
	if !deleting {
		// A restored deleted config exists again.
		if _, err := srv.target(context.WithoutCancel(ctx), key); err != nil {
			return "The restore reached Nacos and was checked, but Rewind could not record the new version.", err
		}
	}
	got, _, err := m.store.RecordConfigVersion(context.WithoutCancel(ctx), result)
	if err != nil {
		return "The restore reached Nacos and was checked, but Rewind could not record the new version.", err
	}
	if deleting {
		if err := m.store.MarkTargetDeleted(context.WithoutCancel(ctx), t.ID); err != nil {
			m.log.Error("mark config deleted", "config", key.String(), "err", err)
		}
	}
	srv.queueImport(key)
	took := time.Since(start).Round(time.Millisecond)
	m.log.Info("config restored", "server", srv.reg.Name, "config", key.String(), "request", r.ID, "version", got.Number, "took", took)
	if deleting {
		return fmt.Sprintf("Deleted %s from Nacos server %s and checked that it is gone (version %d records it). Took %s.", key, srv.reg.Name, got.Number, took), nil
	}
	return fmt.Sprintf("Published the content of version %d to %s on Nacos server %s and read it back: %s, as expected (version %d records it). Took %s.",
		v.Number, key, srv.reg.Name, m.describeState(t, true, content, want), got.Number, took), nil
}

// publishIfUnchanged publishes content if the config still has md5 expected
// ("" meaning that it did not exist).
func (m *Manager) publishIfUnchanged(ctx context.Context, client *nacos.Client, key nacos.ConfigKey, content, expected string) error {
	if expected == "" {
		// Nacos has no compare-and-swap for "does not exist"; check just before.
		_, exists, err := client.Get(ctx, key)
		if err != nil {
			return err
		}
		if exists {
			return fmt.Errorf("%w: the config exists again", nacos.ErrConflict)
		}
	}
	return client.Publish(ctx, key, content, expected)
}

// deleteIfUnchanged deletes the config if it still has md5 expected.
func (m *Manager) deleteIfUnchanged(ctx context.Context, client *nacos.Client, key nacos.ConfigKey, expected string) error {
	cur, exists, err := client.Get(ctx, key)
	if err != nil {
		return err
	}
	if !exists || cur.MD5 != expected {
		return fmt.Errorf("%w: md5 is %q", nacos.ErrConflict, cur.MD5)
	}
	return client.Delete(ctx, key)
}

// conflict records what Nacos holds now and explains that nothing was written.
func (m *Manager) conflict(ctx context.Context, srv *server, client *nacos.Client, r *rewind.Request, st *rewind.Step, t *rewind.Target) error {
	key := keyOf(t)
	now := "a content Rewind could not read"
	if cur, exists, err := client.Get(ctx, key); err == nil {
		now = m.describeState(t, exists, cur.Content, cur.MD5)
		if _, err := srv.observe(ctx, key, cur.Content, cur.MD5, time.Now()); err != nil {
			m.log.Error("record config version", "config", key.String(), "err", err)
		}
	}
	seen := m.seenState(ctx, r, st, t)
	held := fmt.Sprintf("Nacos now holds %s; the request was made when it held %s.", now, seen)
	if seen == now {
		// Both sides masked: the same words would say nothing.
		held = "Nacos now holds another content than when the request was made (" + now + ")."
	}
	next := "The diff on this page shows what a restore would change now; make a new request if it is still wanted."
	if len(r.Steps) > 1 {
		next = "Retry this step once the config holds what the plan saw again, skip it, or plan the rollback again."
	}
	return rewind.Errorf(rewind.ECONFLICT, "Nothing was written: the config changed after this request was made. %s %s", held, next)
}

// describeState says what config t holds: its md5, or that it does not
// exist. The md5 of a content with masked values is left out: request pages
// and the audit trail, which viewers read, mask secrets.
func (m *Manager) describeState(t *rewind.Target, exists bool, content, md5 string) string {
	if !exists {
		return "no config (it does not exist)"
	}
	if m.Mask(t, content) != content {
		return "md5 " + nacos.HiddenMD5
	}
	return "md5 " + md5
}

// seenState is describeState of what the requester of r saw.
func (m *Manager) seenState(ctx context.Context, r *rewind.Request, st *rewind.Step, t *rewind.Target) string {
	if st.Expected == "" {
		return m.describeState(t, false, "", "")
	}
	base, err := m.store.Version(ctx, st.BaseVersionID)
	if err != nil || base.Hash != st.Expected {
		return "md5 " + nacos.HiddenMD5
	}
	return m.describeState(t, true, base.Content, st.Expected)
}

// Reconcile decides the end of a restore found running when Rewind starts:
// it succeeded when the config holds the target state, which is then
// recorded.
func (m *Manager) Reconcile(ctx context.Context, r *rewind.Request, st *rewind.Step, t *rewind.Target, v *rewind.Version) (rewind.StepState, string, error) {
	srv, err := m.server(t.OwnerID)
	if err != nil {
		return "", "", err
	}
	client, err := srv.sessionClient()
	if err != nil {
		return "", "", err
	}
	restore, err := rewind.ParseConfigRestore(st.Payload)
	if err != nil || v == nil {
		return rewind.StepFailed, "The request cannot be read.", nil
	}
	deleting := restore.Action == rewind.ConfigDelete
	want := v.Hash
	if deleting {
		want = ""
	}
	key := keyOf(t)
	cur, exists, err := client.Get(ctx, key)
	if err != nil {
		return "", "", describe(srv.reg.Name, err)
	}
	if (deleting && exists) || (!deleting && (!exists || cur.MD5 != want)) {
		if _, err := srv.observe(ctx, key, cur.Content, cur.MD5, time.Now()); err != nil {
			m.log.Error("record config version", "config", key.String(), "err", err)
		}
		return rewind.StepFailed, fmt.Sprintf("Nacos holds %s, not the restored %s.",
			m.describeState(t, exists, cur.Content, cur.MD5), m.describeState(t, !deleting, v.Content, want)), nil
	}
	m.expect(t.ID, expectation{hash: want, deleted: deleting, requestID: r.ID, requester: r.Requester})
	defer m.unexpect(t.ID)
	if _, err := srv.observe(ctx, key, cur.Content, cur.MD5, time.Now()); err != nil {
		return "", "", err
	}
	return rewind.StepSucceeded, fmt.Sprintf("Nacos holds the restored %s.", m.describeState(t, !deleting, v.Content, want)), nil
}
