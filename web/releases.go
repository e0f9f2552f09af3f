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
	r, err := s.releases().Release(ctx, id)
	if err != nil {
		return templates.ReleaseView{}, err
	}
	w, err := s.releases().Workflow(ctx, r.Release.WorkflowID)
	if err != nil {
		return templates.ReleaseView{}, err
	}
	row := releaseRow(*r)
	v := templates.ReleaseView{CSRF: csrfToken(c), R: r.Release, Workflow: w, Env: s.environmentName(c, w.EnvironmentID),
		States: row.States, Stable: row.Stable, Counts: row.Counts, CanOperate: currentUser(c).Role.Allows(rewind.RoleOperator)}
	if r.Release.RollbackOf != 0 {
		if of, err := s.releases().Release(ctx, r.Release.RollbackOf); err == nil {
			v.RollbackOf = releaseRef(of.Release)
		}
	}
	if v.Services, v.Configs, v.SQL, err = s.releaseItems(ctx, r.Release.Items); err != nil {
		return templates.ReleaseView{}, err
	}
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
		err = s.releases().Block(ctx, actor(c), id, reason)
	} else {
		err = s.releases().Unblock(ctx, actor(c), id, reason)
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
