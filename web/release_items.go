package web

import (
	"context"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/rewindhq/rewind/internal/diff"
	"github.com/rewindhq/rewind/internal/releases"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/templates"
)

// targetRef links a target from the workflow and release pages.
func targetRef(t *rewind.Target) templates.TargetRef {
	return templates.TargetRef{ID: t.ID, Kind: t.Kind, Label: t.Label(), URL: targetURL(t)}
}

// targetURL is the page of a target.
func targetURL(t *rewind.Target) string {
	id := strconv.FormatInt(t.ID, 10)
	switch t.Kind {
	case rewind.KindService:
		return "/services/" + id
	case rewind.KindConfig:
		return "/configs/" + id
	}
	return "/databases/" + id
}

// versionURL is where a version of a target shows: for a service or a config
// its diff with the version before, for a SQL change its request.
func versionURL(t *rewind.Target, v *rewind.Version) string {
	if t.Kind == rewind.KindDatabase {
		if v.RequestID != 0 {
			return "/requests/" + strconv.FormatInt(v.RequestID, 10)
		}
		return targetURL(t)
	}
	return targetURL(t) + "/compare?a=" + strconv.FormatInt(max(v.Number-1, 1), 10) + "&b=" + strconv.FormatInt(v.Number, 10)
}

// releaseItems builds the item views of a release (items ordered by kind,
// target and version): one per service and config it changed, from the
// state before the release to its last item there, and one per SQL change.
func (s *Server) releaseItems(ctx context.Context, items []releases.Item) (services, configs []templates.ItemView, sqls []templates.SQLItemView) {
	for i := 0; i < len(items); i++ {
		it := items[i]
		if it.Target.Kind == rewind.KindDatabase {
			sqls = append(sqls, s.sqlItem(ctx, it.Target, it.Version, string(it.How)))
			continue
		}
		n := 1
		for i+1 < len(items) && items[i+1].Target.ID == it.Target.ID {
			i, n = i+1, n+1
		}
		view := s.itemDiff(it.Target, it.Before, items[i].Version)
		view.Versions, view.How = n, string(it.How)
		if it.Target.Kind == rewind.KindService {
			services = append(services, view)
		} else {
			configs = append(configs, view)
		}
	}
	return services, configs, sqls
}

// itemDiff compares two versions of a service or config (from nil: the
// target did not exist). A config's secret values are always masked: these
// pages never reveal them, and without Nacos wired no config diff shows.
func (s *Server) itemDiff(t *rewind.Target, from, to *rewind.Version) templates.ItemView {
	it := templates.ItemView{Target: targetRef(t), From: from, To: to}
	fromContent := ""
	var fromImages []rewind.Image
	if from != nil {
		fromContent, fromImages = from.Content, from.Images
	}
	switch t.Kind {
	case rewind.KindService:
		it.Diff = diff.Compute(fromContent, to.Content, diff.DefaultOptions())
		it.Images = rewind.ImageChanges(fromImages, to.Images)
	case rewind.KindConfig:
		be := s.opt.Configs
		if be == nil {
			it.Note = "Configs are not connected to this Rewind, so their diff is not shown (secret values could not be masked)."
			return it
		}
		it.Diff, it.KeyChanges, it.ShowKeys = configDiff(be, t, fromContent, to.Content, false)
		it.Masked = shown(be, t, fromContent, false) != fromContent || shown(be, t, to.Content, false) != to.Content
		it.SecretsDiffer = secretsDiffer(be, t, fromContent, to.Content, false)
	}
	return it
}

// sqlExcerptLines and sqlExcerptBytes bound the SQL shown for a release's SQL change.
const (
	sqlExcerptLines = 12
	sqlExcerptBytes = 2000
)

// sqlItem shows a SQL change: the start of its SQL and its row counts.
func (s *Server) sqlItem(ctx context.Context, t *rewind.Target, v *rewind.Version, how string) templates.SQLItemView {
	it := templates.SQLItemView{Target: targetRef(t), Version: v, RequestID: v.RequestID, How: how}
	it.Excerpt, it.Truncated = excerpt(v.Content, sqlExcerptLines, sqlExcerptBytes)
	if ex, err := s.store.SQLExecution(ctx, v.ID); err == nil {
		it.Executed, it.Succeeded = true, ex.Succeeded
		it.Statements, it.RowsAffected, it.SavedRows = ex.StatementCount, ex.RowsAffected, ex.SavedRows
		if it.RequestID == 0 {
			it.RequestID = ex.RequestID
		}
	}
	return it
}

// excerpt is the start of text: at most lines lines and about n bytes, cut
// at a character boundary; cut says something was left out.
func excerpt(text string, lines, n int) (string, bool) {
	text = strings.TrimRight(text, "\n")
	cut := false
	if ls := strings.SplitN(text, "\n", lines+1); len(ls) > lines {
		text, cut = strings.Join(ls[:lines], "\n"), true
	}
	if len(text) > n {
		i := n
		for i > 0 && !utf8.RuneStart(text[i]) {
			i--
		}
		text, cut = text[:i], true
	}
	return text, cut
}
