package web

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/diff"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/templates"
)

// serviceCompare compares two versions (b defaults to the current one).
func (s *Server) serviceCompare(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := s.serviceTarget(c)
	if err != nil {
		return err
	}
	latest, err := s.store.LatestVersion(ctx, t.ID)
	if err != nil {
		return rewind.Errorf(rewind.ENOTFOUND, "No version of %s is recorded yet.", t.Name)
	}
	a, err := s.versionParam(c, t, "a", max(latest.Number-1, 1))
	if err != nil {
		return err
	}
	b, err := s.versionParam(c, t, "b", latest.Number)
	if err != nil {
		return err
	}
	mode := c.QueryParam("mode")
	if mode != "split" {
		mode = "unified"
	}
	v := templates.CompareView{Target: t, BasePath: "/services/" + strconv.FormatInt(t.ID, 10), A: a, B: b, Mode: mode, Latest: latest.Number,
		Diff: diff.Compute(a.Content, b.Content, diff.DefaultOptions()), Images: rewind.ImageChanges(a.Images, b.Images),
		CanRollback: can(c, rewind.RoleOperator, t.EnvironmentID) && t.DeletedAt == nil}
	return s.render(c, http.StatusOK, s.meta(c, "Compare "+t.Name, "services"), templates.ComparePage(v))
}

// versionParam reads a version number from query parameter name, or uses def.
func (s *Server) versionParam(c echo.Context, t *rewind.Target, name string, def int64) (*rewind.Version, error) {
	n := def
	if raw := c.QueryParam(name); raw != "" {
		var err error
		if n, err = strconv.ParseInt(raw, 10, 64); err != nil || n < 1 {
			return nil, rewind.Errorf(rewind.EINVALID, "%q is not a version number.", raw)
		}
	}
	return s.store.VersionByNumber(c.Request().Context(), t.ID, n)
}
