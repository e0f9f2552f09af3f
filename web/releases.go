package web

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/templates"
)

// releaseView builds the page of the release named by :id.
func (s *Server) releaseView(c echo.Context) (templates.ReleaseView, error) {
	ctx := c.Request().Context()
	id, err := idParam(c, "id")
	if err != nil {
		return templates.ReleaseView{}, err
	}
	d, err := s.releases().Release(ctx, actor(c), id)
	if err != nil {
		return templates.ReleaseView{}, err
	}
	row := releaseRow(d.ReleaseView)
	v := templates.ReleaseView{CSRF: csrfToken(c), R: d.Release, Workflow: d.Workflow, Env: d.Environment.Name,
		States: row.States, Stable: row.Stable, Counts: row.Counts, CanOperate: can(c, rewind.RoleOperator, d.Workflow.EnvironmentID)}
	if d.Release.RollbackOf != 0 {
		if of, err := s.releases().Release(ctx, actor(c), d.Release.RollbackOf); err == nil {
			v.RollbackOf = releaseRef(&of.ReleaseView)
		}
	}
	v.Services, v.Configs, v.SQL = s.releaseItems(ctx, d.Items)
	return v, nil
}

// releaseShow shows a release: its header and its items grouped by kind,
// each with its diff against the state before the release.
func (s *Server) releaseShow(c echo.Context) error {
	v, err := s.releaseView(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, s.meta(c, releaseTitle(v.R), "workflows"), templates.ReleasePage(v))
}

func releaseTitle(r *rewind.Release) string {
	return "Release #" + strconv.FormatInt(r.Number, 10) + " " + r.Name
}

// releaseBlock blocks a release's name, so that CI refuses it.
func (s *Server) releaseBlock(c echo.Context) error { return s.releaseSetBlock(c, true) }

// releaseUnblock lifts the block of a release's name.
func (s *Server) releaseUnblock(c echo.Context) error { return s.releaseSetBlock(c, false) }

func (s *Server) releaseSetBlock(c echo.Context, block bool) error {
	ctx := c.Request().Context()
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	reason := c.FormValue("reason")
	if block {
		_, err = s.releases().Block(ctx, actor(c), id, reason)
	} else {
		_, err = s.releases().Unblock(ctx, actor(c), id, reason)
	}
	if rewind.ErrorCode(err) == rewind.EINVALID || rewind.ErrorCode(err) == rewind.ECONFLICT {
		v, verr := s.releaseView(c)
		if verr != nil {
			return verr
		}
		v.BlockError, v.Reason = rewind.ErrorMessage(err), reason
		return s.render(c, http.StatusUnprocessableEntity, s.meta(c, releaseTitle(v.R), "workflows"), templates.ReleasePage(v))
	}
	if err != nil {
		return err
	}
	if block {
		flash(c, 's', "Blocked: CI refuses this release's name until someone unblocks it.")
	} else {
		flash(c, 's', "Unblocked: CI accepts this release's name again.")
	}
	return redirect(c, "/releases/"+strconv.FormatInt(id, 10))
}
