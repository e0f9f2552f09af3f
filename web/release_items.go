package web

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/rewindhq/rewind/internal/diff"
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

// itemVersions loads the versions of a release's items, grouped by target
// in the order of the targets' first item, each group oldest first.
func (s *Server) itemVersions(ctx context.Context, items []rewind.ReleaseItem) ([]*rewind.Target, map[int64][]*rewind.Version, map[int64]rewind.ItemHow, error) {
	var targets []*rewind.Target
	byTarget := map[int64][]*rewind.Version{}
	how := map[int64]rewind.ItemHow{}
	for _, it := range items {
		v, err := s.store.Version(ctx, it.VersionID)
		if err != nil {
			return nil, nil, nil, err
		}
		if _, seen := byTarget[v.TargetID]; !seen {
			t, err := s.store.Target(ctx, v.TargetID)
			if err != nil {
				return nil, nil, nil, err
			}
			targets = append(targets, t)
			how[t.ID] = it.How
		}
		byTarget[v.TargetID] = append(byTarget[v.TargetID], v)
	}
	for _, vs := range byTarget {
		sort.Slice(vs, func(i, j int) bool {
			if !vs[i].CreatedAt.Equal(vs[j].CreatedAt) {
				return vs[i].CreatedAt.Before(vs[j].CreatedAt)
			}
			return vs[i].Number < vs[j].Number
		})
	}
	sort.SliceStable(targets, func(i, j int) bool { return targets[i].Label() < targets[j].Label() })
	return targets, byTarget, how, nil
}

// releaseItems builds the item views of a release: one per service and
// config it changed (from the state before its first item to its last), one
// per SQL change it ran.
func (s *Server) releaseItems(ctx context.Context, items []rewind.ReleaseItem) (services, configs []templates.ItemView, sqls []templates.SQLItemView, err error) {
	targets, byTarget, how, err := s.itemVersions(ctx, items)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, t := range targets {
		vs := byTarget[t.ID]
		switch t.Kind {
		case rewind.KindDatabase:
			for _, v := range vs {
				sqls = append(sqls, s.sqlItem(ctx, t, v, string(how[t.ID])))
			}
		default:
			from, err := s.store.VersionBefore(ctx, t.ID, vs[0].CreatedAt)
			if rewind.ErrorCode(err) == rewind.ENOTFOUND {
				from, err = nil, nil
			}
			if err != nil {
				return nil, nil, nil, err
			}
			it := s.itemDiff(t, from, vs[len(vs)-1])
			it.Versions, it.How = len(vs), string(how[t.ID])
			if t.Kind == rewind.KindService {
				services = append(services, it)
			} else {
				configs = append(configs, it)
			}
		}
	}
	return services, configs, sqls, nil
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
