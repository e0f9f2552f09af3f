package web

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/templates"
)

// workflowCompare compares two releases of a workflow target by target: the
// version each release left each target in, and the diff between them.
// a defaults to the release before b, b to the newest.
func (s *Server) workflowCompare(c echo.Context) error {
	ctx := c.Request().Context()
	sum, err := s.workflowParam(c)
	if err != nil {
		return err
	}
	w := sum.Workflow
	all, err := s.releases().Releases(ctx, actor(c), w.ID)
	if err != nil {
		return err
	}
	choices := releaseChoices(all)
	if len(choices) == 0 {
		return rewind.Errorf(rewind.ENOTFOUND, "%s has no release yet.", w.Name)
	}
	defA, defB := choices[min(1, len(choices)-1)].ID, choices[0].ID
	a, err := s.compareRelease(c, w, "a", defA)
	if err != nil {
		return err
	}
	b, err := s.compareRelease(c, w, "b", defB)
	if err != nil {
		return err
	}
	v := templates.ReleaseCompareView{W: w, Choices: choices, A: a, B: b}
	ids := append([]int64(nil), w.TargetIDs...)
	seen := map[int64]bool{}
	for _, id := range ids {
		seen[id] = true
	}
	for _, r := range []*rewind.Release{a, b} {
		for _, it := range r.Items {
			if !seen[it.TargetID] && it.TargetID != 0 {
				seen[it.TargetID] = true
				ids = append(ids, it.TargetID)
			}
		}
	}
	for _, id := range ids {
		t, err := s.store.Target(ctx, id)
		if err != nil {
			return err
		}
		va, err := s.versionAfter(ctx, w, a, t)
		if err != nil {
			return err
		}
		vb, err := s.versionAfter(ctx, w, b, t)
		if err != nil {
			return err
		}
		row := templates.CompareRow{Target: targetRef(t), A: va, B: vb, Same: sameVersion(t, va, vb)}
		if va != nil {
			row.AURL = versionURL(t, va)
		}
		if vb != nil {
			row.BURL = versionURL(t, vb)
		}
		if !row.Same && vb != nil && t.Kind != rewind.KindDatabase {
			row.Item = s.itemDiff(t, va, vb)
		}
		v.Rows = append(v.Rows, row)
	}
	return s.render(c, http.StatusOK, s.meta(c, "Compare releases of "+w.Name, "workflows"), templates.ReleaseComparePage(v))
}

// compareRelease loads the release of workflow w named by query parameter
// name, or def.
func (s *Server) compareRelease(c echo.Context, w *rewind.Workflow, name string, def int64) (*rewind.Release, error) {
	id := def
	if raw := c.QueryParam(name); raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 1 {
			return nil, rewind.Errorf(rewind.EINVALID, "%q is not a release.", raw)
		}
		id = n
	}
	d, err := s.releases().Release(c.Request().Context(), actor(c), id)
	if err != nil {
		return nil, err
	}
	if d.Release.WorkflowID != w.ID {
		return nil, rewind.Errorf(rewind.ENOTFOUND, "Release %d is not a release of %s.", id, w.Name)
	}
	return d.Release, nil
}

// versionAfter is the version release r left target t in: its last item on
// t, or else t's version when r ended (nil when t had none yet).
func (s *Server) versionAfter(ctx context.Context, w *rewind.Workflow, r *rewind.Release, t *rewind.Target) (*rewind.Version, error) {
	var last *rewind.Version
	for _, it := range r.Items {
		if it.TargetID != t.ID {
			continue
		}
		v, err := s.store.Version(ctx, it.VersionID)
		if err != nil {
			return nil, err
		}
		if last == nil || v.CreatedAt.After(last.CreatedAt) || v.CreatedAt.Equal(last.CreatedAt) && v.Number > last.Number {
			last = v
		}
	}
	if last != nil {
		return last, nil
	}
	end := r.StartedAt.Add(w.ReleaseTimeout)
	if r.FinishedAt != nil && r.FinishedAt.Before(end) {
		end = *r.FinishedAt
	}
	if now := time.Now(); end.After(now) {
		end = now
	}
	v, err := s.store.VersionAt(ctx, t.ID, end)
	if rewind.ErrorCode(err) == rewind.ENOTFOUND {
		return nil, nil
	}
	return v, err
}

// sameVersion says whether two releases left target t in the same state:
// the same version, or for a service or config the same content.
func sameVersion(t *rewind.Target, a, b *rewind.Version) bool {
	switch {
	case a == nil || b == nil:
		return a == b
	case a.ID == b.ID:
		return true
	}
	return t.Kind != rewind.KindDatabase && a.Hash != "" && a.Hash == b.Hash
}
