package web

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/diff"
	"github.com/rewindhq/rewind/internal/requests"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/templates"
)

// rollbackView builds the confirmation for rolling service t back to the
// version named by the "version" form or query value.
func (s *Server) rollbackView(c echo.Context, t *rewind.Target) (templates.RollbackView, error) {
	ctx := c.Request().Context()
	current, err := s.store.LatestVersion(ctx, t.ID)
	if err != nil {
		return templates.RollbackView{}, err
	}
	n, err := strconv.ParseInt(c.FormValue("version"), 10, 64)
	if err != nil || n < 1 {
		return templates.RollbackView{}, rewind.Errorf(rewind.EINVALID, "Choose the version to roll back to.")
	}
	to, err := s.store.VersionByNumber(ctx, t.ID, n)
	if err != nil {
		return templates.RollbackView{}, err
	}
	env, err := s.store.Environment(ctx, t.EnvironmentID)
	if err != nil {
		return templates.RollbackView{}, err
	}
	return templates.RollbackView{CSRF: csrfToken(c), Target: t, BasePath: "/services/" + strconv.FormatInt(t.ID, 10),
		Current: current, To: to, Env: env.Name, Approvals: env.RequiredApprovals,
		Diff: diff.Compute(current.Content, to.Content, diff.DefaultOptions()), Images: rewind.ImageChanges(current.Images, to.Images)}, nil
}

// rollbackForm shows what a rollback will change and asks for a reason.
func (s *Server) rollbackForm(c echo.Context) error {
	t, err := s.serviceTarget(c)
	if err != nil {
		return err
	}
	v, err := s.rollbackView(c, t)
	if err != nil {
		return err
	}
	if _, err := s.services.Preflight(c.Request().Context(), t, v.To); err != nil {
		v.Blocked = rewind.ErrorMessage(err)
	}
	return s.render(c, http.StatusOK, s.meta(c, "Roll back "+t.Name, "services"), templates.RollbackPage(v))
}

// rollbackCreate makes a rollback request for a service.
func (s *Server) rollbackCreate(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := s.serviceTarget(c)
	if err != nil {
		return err
	}
	v, err := s.rollbackView(c, t)
	if err != nil {
		return err
	}
	v.Reason = c.FormValue("reason")
	fail := func(msg string) error {
		v.Error = msg
		return s.render(c, http.StatusUnprocessableEntity, s.meta(c, "Roll back "+t.Name, "services"), templates.RollbackPage(v))
	}
	reason, err := rewind.ValidateReason(v.Reason)
	if err != nil {
		return fail(rewind.ErrorMessage(err))
	}
	if base := c.FormValue("base"); base != "" && base != strconv.FormatInt(v.Current.Number, 10) {
		return fail("The service changed while you were looking: the current version is now " + strconv.FormatInt(v.Current.Number, 10) + ". Check the diff below again, then submit.")
	}
	expected, err := s.services.Preflight(ctx, t, v.To)
	if err != nil {
		v.Blocked = rewind.ErrorMessage(err)
		return s.render(c, http.StatusConflict, s.meta(c, "Roll back "+t.Name, "services"), templates.RollbackPage(v))
	}
	r, err := s.requests().Create(ctx, actor(c), requests.NewRequest{Reason: reason, Steps: []requests.NewStep{{Target: t, To: v.To, Base: v.Current, Expected: expected, Detail: "to version " + strconv.FormatInt(v.To.Number, 10) + " (revision " + v.To.Revision + ")"}}})
	if err != nil {
		if rewind.ErrorCode(err) == rewind.ECONFLICT {
			return fail(rewind.ErrorMessage(err))
		}
		return err
	}
	flash(c, 's', "Rollback request #"+strconv.FormatInt(r.ID, 10)+" created.")
	return redirect(c, "/requests/"+strconv.FormatInt(r.ID, 10))
}
