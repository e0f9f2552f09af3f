package web

import (
	"context"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/diff"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/sqlite"
	"github.com/rewindhq/rewind/templates"
)

// requestView loads everything the request page shows.
func (s *Server) requestView(c echo.Context, withDiff bool) (templates.RequestView, error) {
	ctx := c.Request().Context()
	id, err := idParam(c, "id")
	if err != nil {
		return templates.RequestView{}, err
	}
	r, err := s.store.Request(ctx, id)
	if err != nil {
		return templates.RequestView{}, err
	}
	item, err := s.requestItem(ctx, r, withDiff)
	if err != nil {
		return templates.RequestView{}, err
	}
	u := currentUser(c)
	v := templates.RequestView{CSRF: csrfToken(c), R: r, Target: item.Target, Env: item.Env, To: item.To, Diff: item.Diff,
		TargetPath: targetPath(item.Target)}
	_, decideErr := r.Decide(*u, true, "")
	v.CanDecide = decideErr == nil
	v.CanCancel = r.CanCancel(*u) == nil
	v.CanResume = r.CanResume(*u) == nil && can(c, rewind.RoleOperator, r.EnvironmentID)
	if err := s.planSteps(ctx, &v); err != nil {
		return v, err
	}
	if r.First().BaseVersionID != 0 {
		v.Base, _ = s.store.Version(ctx, r.First().BaseVersionID)
	}
	if r.First().ResultVersionID != 0 {
		v.Result, _ = s.store.Version(ctx, r.First().ResultVersionID)
	}
	if v.Base != nil && v.To != nil {
		v.Images = rewind.ImageChanges(v.Base.Images, v.To.Images)
	}
	if len(r.Steps) > 1 {
		// A plan of several steps shows each step; the targets' pages show their diffs.
		v.To, v.Base, v.Result = nil, nil, nil
		return v, nil
	}
	if item.Target.Kind == rewind.KindService && item.Target.DeletedAt == nil && (r.State == rewind.StateRunning || r.State.Final()) {
		v.Status, _ = s.services.Status(ctx, item.Target)
	}
	if item.Target.Kind == rewind.KindConfig && withDiff {
		v.Config = s.configRequestView(ctx, r, item.Target, item.To)
	}
	if item.Target.Kind == rewind.KindDatabase && withDiff {
		if v.Change, err = s.changeView(c, r, item.Target); err != nil {
			return v, err
		}
	}
	return v, nil
}

// requestItem loads the target, environment and version of a request, and
// the diff from the version the requester saw to the target version.
func (s *Server) requestItem(ctx context.Context, r *rewind.Request, withDiff bool) (templates.RequestItem, error) {
	it := templates.RequestItem{R: r}
	withDiff = withDiff && len(r.Steps) == 1 // a plan of several steps is shown step by step
	var err error
	if it.Target, err = s.store.Target(ctx, r.First().TargetID); err != nil {
		return it, err
	}
	if env, err := s.store.Environment(ctx, it.Target.EnvironmentID); err == nil {
		it.Env = env.Name
	}
	if r.First().VersionID != 0 {
		if it.To, err = s.store.Version(ctx, r.First().VersionID); err != nil {
			return it, err
		}
	}
	if it.Target.Kind == rewind.KindDatabase {
		it.SQL = sqlExcerpt(r)
		it.SQLPreviewErrors = sqlPreviewErrors(r)
	}
	if withDiff && it.Target.Kind == rewind.KindConfig {
		// Configs are diffed with their secrets masked.
		it.Diff = s.configRequestDiff(ctx, r, it.Target, it.To)
	} else if withDiff && it.To != nil && r.First().BaseVersionID != 0 {
		if base, err := s.store.Version(ctx, r.First().BaseVersionID); err == nil {
			it.Diff = diff.Compute(base.Content, it.To.Content, diff.DefaultOptions())
		}
	}
	return it, nil
}

// planSteps fills the steps of a plan of more than one step (or any plan
// that stopped at a failed step, or belongs to a release) into v.
func (s *Server) planSteps(ctx context.Context, v *templates.RequestView) error {
	r := v.R
	if r.ReleaseID != 0 {
		if rel, err := s.store.Release(ctx, r.ReleaseID); err == nil {
			v.Release = rel
			if w, err := s.store.Workflow(ctx, rel.WorkflowID); err == nil {
				v.Workflow = w
			}
		}
	}
	if len(r.Steps) < 2 && r.Failed() == nil && r.ReleaseID == 0 {
		return nil
	}
	for _, st := range r.Steps {
		t, err := s.store.Target(ctx, st.TargetID)
		if err != nil {
			return err
		}
		row := templates.StepRow{Step: st, Target: t, TargetPath: targetPath(t)}
		if st.ResultVersionID != 0 {
			row.Result, _ = s.store.Version(ctx, st.ResultVersionID)
		}
		if t.Kind == rewind.KindService && st.VersionID != 0 && st.BaseVersionID != 0 {
			to, err1 := s.store.Version(ctx, st.VersionID)
			base, err2 := s.store.Version(ctx, st.BaseVersionID)
			if err1 == nil && err2 == nil {
				row.Images = rewind.ImageChanges(base.Images, to.Images)
			}
		}
		v.Steps = append(v.Steps, row)
	}
	return nil
}

func targetPath(t *rewind.Target) string {
	return "/" + string(t.Kind) + "s/" + strconv.FormatInt(t.ID, 10)
}

func (s *Server) requestShow(c echo.Context) error {
	v, err := s.requestView(c, true)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, s.meta(c, "Request #"+strconv.FormatInt(v.R.ID, 10), "approvals"), templates.RequestPage(v))
}

// requestProgress is the live part of the request page. For a request on
// a database whose state changed since the page was drawn it has htmx
// reload the whole page, which then shows what the SQL did.
func (s *Server) requestProgress(c echo.Context) error {
	v, err := s.requestView(c, false)
	if err != nil {
		return err
	}
	if seen := c.QueryParam("seen"); seen != "" && seen != string(v.R.State) && v.Target.Kind == rewind.KindDatabase {
		c.Response().Header().Set("HX-Refresh", "true")
	}
	return s.render(c, http.StatusOK, s.meta(c, "Request", "approvals"), templates.RequestProgress(v))
}

func (s *Server) requestApprove(c echo.Context) error { return s.decide(c, true) }
func (s *Server) requestReject(c echo.Context) error  { return s.decide(c, false) }

// decide records an approval or rejection.
func (s *Server) decide(c echo.Context, approve bool) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	r, err := s.requests().Decide(c.Request().Context(), actor(c), id, approve, c.FormValue("comment"))
	// A comment the rule refuses (missing, too long) gets the page back with
	// what was typed.
	if rewind.ErrorCode(err) == rewind.EINVALID {
		v, verr := s.requestView(c, true)
		if verr != nil {
			return verr
		}
		v.Comment, v.DecideError = c.FormValue("comment"), rewind.ErrorMessage(err)
		return s.render(c, http.StatusUnprocessableEntity, s.meta(c, "Request #"+strconv.FormatInt(id, 10), "approvals"), templates.RequestPage(v))
	}
	if err != nil {
		return err
	}
	outcome := "approved"
	if !approve {
		outcome = "rejected"
	}
	flash(c, 's', "You "+outcome+" request #"+strconv.FormatInt(id, 10)+"; it is now "+string(r.State)+".")
	return redirect(c, "/requests/"+strconv.FormatInt(id, 10))
}

// requestRetry runs the failed step of a failed plan again.
func (s *Server) requestRetry(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if _, err := s.requests().Retry(c.Request().Context(), actor(c), id); err != nil {
		return err
	}
	flash(c, 's', "The failed step of request #"+strconv.FormatInt(id, 10)+" runs again.")
	return redirect(c, "/requests/"+strconv.FormatInt(id, 10))
}

// requestSkip skips the failed step of a failed plan, with a reason, and
// goes on with the next.
func (s *Server) requestSkip(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	_, err = s.requests().Skip(c.Request().Context(), actor(c), id, c.FormValue("reason"))
	if rewind.ErrorCode(err) == rewind.EINVALID {
		v, verr := s.requestView(c, true)
		if verr != nil {
			return verr
		}
		v.SkipReason, v.SkipError = c.FormValue("reason"), rewind.ErrorMessage(err)
		return s.render(c, http.StatusUnprocessableEntity, s.meta(c, "Request #"+strconv.FormatInt(id, 10), "approvals"), templates.RequestPage(v))
	}
	if err != nil {
		return err
	}
	flash(c, 's', "The failed step of request #"+strconv.FormatInt(id, 10)+" is skipped; the plan goes on.")
	return redirect(c, "/requests/"+strconv.FormatInt(id, 10))
}

// requestCancel lets the requester (or an admin) withdraw a request not yet running.
func (s *Server) requestCancel(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if _, err := s.requests().Cancel(c.Request().Context(), actor(c), id); err != nil {
		return err
	}
	flash(c, 's', "Request #"+strconv.FormatInt(id, 10)+" cancelled.")
	return redirect(c, "/requests/"+strconv.FormatInt(id, 10))
}

// approvalsList is the inbox of requests awaiting the user's decision.
func (s *Server) approvalsList(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	a := actor(c)
	v := templates.ApprovalsView{CSRF: csrfToken(c), CanApprove: a.Reaches(rewind.RoleApprover)}
	visible, err := s.visibleEnvironmentIDs(c)
	if err != nil {
		return err
	}
	load := func(f sqlite.RequestFilter, withDiff bool, keep func(*rewind.Request) bool) ([]templates.RequestItem, error) {
		f.EnvironmentIDs = visible
		rs, err := s.store.Requests(ctx, f)
		if err != nil {
			return nil, err
		}
		var out []templates.RequestItem
		for _, r := range rs {
			if keep != nil && !keep(r) {
				continue
			}
			it, err := s.requestItem(ctx, r, withDiff)
			if err != nil {
				return nil, err
			}
			out = append(out, it)
		}
		return out, nil
	}
	if v.CanApprove {
		approves := func(r *rewind.Request) bool { return a.May(rewind.RoleApprover, r.EnvironmentID) == nil }
		if v.Awaiting, err = load(sqlite.RequestFilter{AwaitingFor: u.Username}, true, approves); err != nil {
			return err
		}
	}
	if v.Mine, err = load(sqlite.RequestFilter{States: openStates}, false, func(r *rewind.Request) bool { return r.Requester == u.Username }); err != nil {
		return err
	}
	if v.Recent, err = load(sqlite.RequestFilter{Limit: 20}, false, nil); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, s.meta(c, "Approvals", "approvals"), templates.ApprovalsPage(v))
}
