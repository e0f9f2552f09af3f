package web

import (
	"context"

	"github.com/rewindhq/rewind/internal/diff"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/templates"
)

// configRestoreTarget is the content a request on a config restores: the
// version's, or none for a deletion.
func configRestoreTarget(r *rewind.Request, to *rewind.Version) (action, content string) {
	restore, err := rewind.ParseConfigRestore(r.First().Payload)
	if err != nil || restore.Action == rewind.ConfigDelete {
		return rewind.ConfigDelete, ""
	}
	return restore.Action, to.Content
}

// configRequestDiff is the diff a request on config t makes, from the
// content the requester saw to the restored one, with secrets masked.
func (s *Server) configRequestDiff(ctx context.Context, r *rewind.Request, t *rewind.Target, to *rewind.Version) *diff.Result {
	if s.opt.Configs == nil || to == nil || r.First().BaseVersionID == 0 {
		return nil
	}
	base, err := s.store.Version(ctx, r.First().BaseVersionID)
	if err != nil {
		return nil
	}
	_, content := configRestoreTarget(r, to)
	d, _, _ := configDiff(s.opt.Configs, t, base.Content, content, false)
	return d
}

// configRequestView says what a request on config t does and, while it has
// not succeeded, whether the config changed since the requester saw it: then
// the request fails (or failed) without writing, and the new diff shows what
// a restore would change now.
func (s *Server) configRequestView(ctx context.Context, r *rewind.Request, t *rewind.Target, to *rewind.Version) *templates.ConfigRequestView {
	if to == nil {
		return nil
	}
	action, content := configRestoreTarget(r, to)
	cv := &templates.ConfigRequestView{Action: action, Seen: "no config", Mask: templates.MaskNote{Masked: true}}
	if r.First().Expected != "" {
		cv.Seen = "md5 " + hiddenMD5
		if base, err := s.store.Version(ctx, r.First().BaseVersionID); err == nil && base.Hash == r.First().Expected && s.opt.Configs != nil {
			cv.Seen = stateShown(s.opt.Configs, t, true, base.Content, r.First().Expected)
		}
	}
	switch r.State {
	case rewind.StateSucceeded, rewind.StateRejected, rewind.StateCancelled:
		return cv
	}
	live, err := s.store.LiveConfigVersion(ctx, t.ID)
	if err != nil || live.Hash == r.First().Expected || s.opt.Configs == nil {
		return cv
	}
	cv.Changed, _, _ = configDiff(s.opt.Configs, t, live.Content, content, false)
	cv.Now = stateShown(s.opt.Configs, t, live.Hash != "", live.Content, live.Hash)
	return cv
}
