package web

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/diff"
	"github.com/rewindhq/rewind/internal/plans"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/templates"
)

// releaseRollbackPlan builds the plan of rolling back the release named by
// the path, to the release named by the "to" value (none: the state before).
func (s *Server) releaseRollbackPlan(c echo.Context) (*plans.Plan, error) {
	id, err := idParam(c, "id")
	if err != nil {
		return nil, err
	}
	var to int64
	if v := c.FormValue("to"); v != "" && v != "0" {
		if to, err = strconv.ParseInt(v, 10, 64); err != nil || to < 1 {
			return nil, rewind.Errorf(rewind.EINVALID, "Choose the release to return to.")
		}
	}
	return s.plans().ReleaseRollback(c.Request().Context(), actor(c), id, to)
}

// releaseRollbackForm shows the plan of a release's rollback: one step per
// target that differs, with its diff and checks, ready to untick or reorder.
func (s *Server) releaseRollbackForm(c echo.Context) error {
	p, err := s.releaseRollbackPlan(c)
	if err != nil {
		return err
	}
	v, err := s.planView(c, p)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, s.meta(c, v.Title, "workflows"), templates.PlanPage(v))
}

// releaseRollbackCreate asks for the plan as the requester chose it.
func (s *Server) releaseRollbackCreate(c echo.Context) error {
	p, err := s.releaseRollbackPlan(c)
	if err != nil {
		return err
	}
	ch := planChoice(c, p)
	r, err := s.plans().Submit(c.Request().Context(), actor(c), p, ch)
	if err != nil {
		return s.planRefused(c, p, ch, err)
	}
	steps := strconv.Itoa(len(r.Steps)) + " steps"
	if len(r.Steps) == 1 {
		steps = "1 step"
	}
	flash(c, 's', "Rollback request #"+strconv.FormatInt(r.ID, 10)+" created: "+steps+" under one approval.")
	return redirect(c, "/requests/"+strconv.FormatInt(r.ID, 10))
}

// undoPlan builds the plan that undoes the done steps of failed request :id.
func (s *Server) undoPlan(c echo.Context) (*plans.Plan, *rewind.Request, templates.PlanView, error) {
	id, err := idParam(c, "id")
	if err != nil {
		return nil, nil, templates.PlanView{}, err
	}
	p, of, err := s.plans().Undo(c.Request().Context(), actor(c), id)
	if err != nil {
		return nil, nil, templates.PlanView{}, err
	}
	v, err := s.planView(c, p)
	if err != nil {
		return nil, nil, v, err
	}
	v.Title, v.Action, v.Of = "Undo the done steps of request #"+strconv.FormatInt(of.ID, 10), fmt.Sprintf("/requests/%d/undo", of.ID), of.ID
	return p, of, v, nil
}

// requestUndoForm shows the plan that undoes the done steps of a failed plan.
func (s *Server) requestUndoForm(c echo.Context) error {
	_, _, v, err := s.undoPlan(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, s.meta(c, v.Title, "approvals"), templates.PlanPage(v))
}

// requestUndoCreate asks for the undoing plan; it needs approving again.
func (s *Server) requestUndoCreate(c echo.Context) error {
	p, of, v, err := s.undoPlan(c)
	if err != nil {
		return err
	}
	ch := planChoice(c, p)
	r, err := s.plans().SubmitUndo(c.Request().Context(), actor(c), of, p, ch)
	if err != nil {
		return s.planFailed(c, v, ch, err)
	}
	flash(c, 's', "Request #"+strconv.FormatInt(r.ID, 10)+" created: it undoes the done steps of request #"+strconv.FormatInt(of.ID, 10)+".")
	return redirect(c, "/requests/"+strconv.FormatInt(r.ID, 10))
}

// planChoice reads the requester's choice from the form: the ticked steps
// ("step" values) in the order of their "order-KEY" numbers.
func planChoice(c echo.Context, p *plans.Plan) plans.Choice {
	form, _ := c.FormParams()
	ch := plans.Choice{Reason: c.FormValue("reason"), SeenHash: c.FormValue("plan"), SQL: map[string]string{}, Confirm: map[string]string{}}
	type ticked struct {
		key   string
		order int
	}
	var keys []ticked
	for i, key := range form["step"] {
		order, err := strconv.Atoi(strings.TrimSpace(form.Get("order-" + key)))
		if err != nil {
			order = len(p.Steps) + i + 1
		}
		keys = append(keys, ticked{key, order})
	}
	slices.SortStableFunc(keys, func(a, b ticked) int { return a.order - b.order })
	for _, k := range keys {
		ch.Keys = append(ch.Keys, k.key)
		if sql := formSQL(c, "sql-"+k.key); sql != "" {
			ch.SQL[k.key] = sql
		}
		ch.Confirm[k.key] = c.FormValue("confirm-" + k.key)
	}
	return ch
}

// planRefused shows the release plan again with what the requester typed
// and why it was refused.
func (s *Server) planRefused(c echo.Context, p *plans.Plan, ch plans.Choice, err error) error {
	v, verr := s.planView(c, p)
	if verr != nil {
		return verr
	}
	return s.planFailed(c, v, ch, err)
}

func (s *Server) planFailed(c echo.Context, v templates.PlanView, ch plans.Choice, err error) error {
	code := rewind.ErrorCode(err)
	if code != rewind.EINVALID && code != rewind.ECONFLICT {
		return err
	}
	v.Error, v.Reason = rewind.ErrorMessage(err), ch.Reason
	chosen := map[string]int{}
	for i, k := range ch.Keys {
		chosen[k] = i + 1
	}
	for i := range v.Steps {
		st := &v.Steps[i]
		st.Ticked, st.Order = chosen[st.Key] > 0, chosen[st.Key]
		if st.Order == 0 {
			st.Order = i + 1
		}
		st.SQL, st.Confirmed = ch.SQL[st.Key], ch.Confirm[st.Key]
	}
	status := http.StatusUnprocessableEntity
	if code == rewind.ECONFLICT {
		status = http.StatusConflict
	}
	return s.render(c, status, s.meta(c, v.Title, "workflows"), templates.PlanPage(v))
}

// planView turns a plan into the page's view: each step with its diff,
// configs with their secrets masked.
func (s *Server) planView(c echo.Context, p *plans.Plan) (templates.PlanView, error) {
	ctx := c.Request().Context()
	v := templates.PlanView{CSRF: csrfToken(c), Hash: p.Hash, Warnings: p.Warnings}
	if p.Release != nil {
		rel := p.Release
		v.Title = "Roll back release " + rel.Workflow.Name + "/" + rel.Release.Name
		v.Action = fmt.Sprintf("/releases/%d/rollback", rel.Release.ID)
		v.Release, v.Workflow, v.Env, v.Approvals = rel.Release, rel.Workflow, rel.Environment.Name, rel.Environment.RequiredApprovals
		if p.To != nil {
			v.To = p.To.ID
		}
		views, err := s.releases().Releases(ctx, actor(c), rel.Workflow.ID)
		if err != nil {
			return v, err
		}
		for _, r := range views {
			if r.Release.Number < rel.Release.Number && r.Release.State == rewind.ReleaseSucceeded {
				v.Earlier = append(v.Earlier, r.Release)
			}
		}
	}
	be, _ := s.configBackend()
	for i, st := range p.Steps {
		row := templates.PlanStepRow{Key: st.Key, Target: st.Target, TargetPath: targetPath(st.Target), Plan: st.StepPlan,
			Ticked: st.Runnable(), Order: i + 1}
		switch {
		case st.AlreadyThere || st.To == nil:
		case st.Target.Kind == rewind.KindService && st.Current != nil:
			row.Diff = diff.Compute(st.Current.Content, st.To.Content, diff.DefaultOptions())
			row.Images = rewind.ImageChanges(st.Current.Images, st.To.Images)
		case st.Target.Kind == rewind.KindConfig && st.Current != nil && be != nil:
			to := st.To.Content
			if st.Confirm != "" {
				to = ""
			}
			row.Diff, _, _ = configDiff(be, st.Target, st.Current.Content, to, false)
		case st.Target.Kind == rewind.KindDatabase:
			if q, err := rewind.ParseSQLRequest(st.Step.Payload); err == nil {
				row.RollbackSQL = cutSQL(q.SQL, 4000)
			}
			if v.Env == "" {
				if env, err := s.store.Environment(ctx, st.Target.EnvironmentID); err == nil {
					v.Env, v.Approvals = env.Name, env.RequiredApprovals
				}
			}
		}
		if v.Env == "" {
			if env, err := s.store.Environment(ctx, st.Target.EnvironmentID); err == nil {
				v.Env, v.Approvals = env.Name, env.RequiredApprovals
			}
		}
		v.Steps = append(v.Steps, row)
	}
	return v, nil
}

// requestPlan builds the plan of release rollback request :id as it would be
// planned now, with the request's steps ticked in their order.
func (s *Server) requestPlan(c echo.Context) (*rewind.Request, *plans.Plan, templates.PlanView, error) {
	ctx := c.Request().Context()
	id, err := idParam(c, "id")
	if err != nil {
		return nil, nil, templates.PlanView{}, err
	}
	r, err := s.store.Request(ctx, id)
	if err != nil {
		return nil, nil, templates.PlanView{}, err
	}
	if r.Kind != rewind.RequestRollback || r.ReleaseID == 0 {
		return nil, nil, templates.PlanView{}, rewind.Errorf(rewind.EINVALID, "Only the plan of a release's rollback can be changed here; cancel this request and ask again.")
	}
	p, err := s.plans().ReleaseRollback(ctx, actor(c), r.ReleaseID, r.ToReleaseID)
	if err != nil {
		return nil, nil, templates.PlanView{}, err
	}
	p.Of(r.ID)
	v, err := s.planView(c, p)
	if err != nil {
		return nil, nil, v, err
	}
	v.Title, v.Action, v.Of = fmt.Sprintf("Change the plan of request #%d", r.ID), fmt.Sprintf("/requests/%d/plan", r.ID), r.ID
	order := map[string]int{}
	for _, st := range r.Steps {
		order[stepKey(st)] = st.Position
	}
	for i := range v.Steps {
		row := &v.Steps[i]
		row.Ticked, row.Order = order[row.Key] > 0, order[row.Key]
		if row.Order == 0 {
			row.Order = len(r.Steps) + i + 1
		}
	}
	return r, p, v, nil
}

// stepKey is the key a plan gives the work of step st.
func stepKey(st rewind.Step) string {
	if q, err := rewind.ParseSQLRequest(st.Payload); err == nil && q.OfVersion != 0 {
		return "sql" + strconv.FormatInt(q.OfVersion, 10)
	}
	return "t" + strconv.FormatInt(st.TargetID, 10)
}

// requestPlanForm shows a release rollback request's plan, to change it
// before it runs.
func (s *Server) requestPlanForm(c echo.Context) error {
	_, _, v, err := s.requestPlan(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, s.meta(c, v.Title, "approvals"), templates.PlanPage(v))
}

// requestPlanUpdate gives the request the plan as now chosen; it then needs
// approving again.
func (s *Server) requestPlanUpdate(c echo.Context) error {
	r, p, v, err := s.requestPlan(c)
	if err != nil {
		return err
	}
	ch := planChoice(c, p)
	got, err := s.plans().Replan(c.Request().Context(), actor(c), r.ID, p, ch)
	if err != nil {
		return s.planFailed(c, v, ch, err)
	}
	msg := "The plan is unchanged."
	if got.PlanHash != r.PlanHash {
		msg = "The plan of request #" + strconv.FormatInt(r.ID, 10) + " changed; it is " + string(got.State) + " and needs approving again."
		if got.State == rewind.StateApproved {
			msg = "The plan of request #" + strconv.FormatInt(r.ID, 10) + " changed; it needs no approval."
		}
	}
	flash(c, 's', msg)
	return redirect(c, "/requests/"+strconv.FormatInt(r.ID, 10))
}
