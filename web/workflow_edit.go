package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/releases"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/sqlite"
	"github.com/rewindhq/rewind/templates"
)

// workflowNew shows the form for a new workflow.
func (s *Server) workflowNew(c echo.Context) error {
	v := templates.WorkflowFormView{Timeout: formatTimeout(rewind.DefaultReleaseTimeout)}
	if c.QueryParam("environment") != "" {
		v = workflowFormInput(c.QueryParams())
	}
	return s.renderWorkflowForm(c, http.StatusOK, v, nil)
}

// workflowEdit shows the form of an existing workflow.
func (s *Server) workflowEdit(c echo.Context) error {
	sum, err := s.workflowParam(c)
	if err != nil {
		return err
	}
	w := sum.Workflow
	v := templates.WorkflowFormView{ID: w.ID, Name: w.Name, EnvID: w.EnvironmentID, Description: w.Description,
		Timeout: formatTimeout(w.ReleaseTimeout), CanDelete: true}
	checked := w.TargetIDs
	if c.QueryParam("environment") != "" {
		v, checked = workflowFormInput(c.QueryParams()), nil
		v.ID, v.EnvID, v.CanDelete = w.ID, w.EnvironmentID, true
	}
	return s.renderWorkflowForm(c, http.StatusOK, v, checked)
}

// workflowCreate defines a new workflow.
func (s *Server) workflowCreate(c echo.Context) error {
	return s.saveWorkflow(c, nil)
}

// workflowUpdate changes a workflow.
func (s *Server) workflowUpdate(c echo.Context) error {
	sum, err := s.workflowParam(c)
	if err != nil {
		return err
	}
	return s.saveWorkflow(c, sum.Workflow)
}

// saveWorkflow saves the form's input as a new workflow (old nil) or as old,
// or shows the form again with the input kept and what is wrong (422).
func (s *Server) saveWorkflow(c echo.Context, old *rewind.Workflow) error {
	form, err := c.FormParams()
	if err != nil {
		return rewind.Errorf(rewind.EINVALID, "The form cannot be read.")
	}
	v := workflowFormInput(form)
	if old != nil {
		v.ID, v.EnvID, v.CanDelete = old.ID, old.EnvironmentID, true
	}
	v.FieldErrors = map[string]string{}
	name, err := rewind.ValidateName("workflow", v.Name)
	if err != nil {
		v.FieldErrors["name"] = rewind.ErrorMessage(err)
	}
	timeout, err := parseTimeout(v.Timeout)
	if err != nil {
		v.FieldErrors["release_timeout"] = rewind.ErrorMessage(err)
	}
	if v.EnvID == 0 {
		v.FieldErrors["environment"] = "Choose the environment the workflow releases in."
	}
	if utf8.RuneCountInString(v.Description) > rewind.MaxTextLen {
		v.FieldErrors["description"] = "A description has at most 2000 characters."
		v.Error = v.FieldErrors["description"]
	}
	targets := formIDs(form["target"])
	if len(v.FieldErrors) > 0 {
		return s.renderWorkflowForm(c, http.StatusUnprocessableEntity, v, targets)
	}
	in := releases.WorkflowInput{ID: v.ID, Name: name, EnvironmentID: v.EnvID, Description: strings.TrimSpace(v.Description),
		ReleaseTimeout: timeout, TargetIDs: targets}
	w, err := s.releases().SaveWorkflow(c.Request().Context(), actor(c), in)
	if err != nil {
		if code := rewind.ErrorCode(err); code != rewind.EINVALID && code != rewind.ECONFLICT {
			return err
		}
		v.Error = rewind.ErrorMessage(err)
		return s.renderWorkflowForm(c, http.StatusUnprocessableEntity, v, targets)
	}
	flash(c, 's', "Saved workflow "+w.Name+".")
	return redirect(c, "/workflows/"+strconv.FormatInt(w.ID, 10))
}

// workflowDelete deletes a workflow; its releases stay recorded.
func (s *Server) workflowDelete(c echo.Context) error {
	sum, err := s.workflowParam(c)
	if err != nil {
		return err
	}
	w := sum.Workflow
	if err := s.releases().DeleteWorkflow(c.Request().Context(), actor(c), w.ID); err != nil {
		return err
	}
	flash(c, 's', "Deleted workflow "+w.Name+".")
	return redirect(c, "/workflows")
}

// workflowFormInput reads the workflow form's fields as typed.
func workflowFormInput(q url.Values) templates.WorkflowFormView {
	env, _ := strconv.ParseInt(q.Get("environment"), 10, 64)
	return templates.WorkflowFormView{Name: q.Get("name"), EnvID: env, Description: q.Get("description"), Timeout: q.Get("release_timeout")}
}

// renderWorkflowForm shows the workflow form with the environments, and the
// targets of the chosen environment (the first when none is), those in
// checked ticked. A ticked target of another environment stays listed, so
// that no choice is lost silently.
func (s *Server) renderWorkflowForm(c echo.Context, status int, v templates.WorkflowFormView, checked []int64) error {
	ctx := c.Request().Context()
	v.CSRF = csrfToken(c)
	if checked == nil {
		checked = formIDs(c.QueryParams()["target"])
	}
	all, err := s.store.Environments(ctx)
	if err != nil {
		return err
	}
	var envs []*rewind.Environment // those the user may release in
	for _, e := range all {
		if can(c, rewind.RoleOperator, e.ID) {
			envs = append(envs, e)
		}
	}
	known := false
	for _, e := range envs {
		v.Envs = append(v.Envs, templates.EnvOption{ID: e.ID, Name: e.Name})
		known = known || e.ID == v.EnvID
	}
	if !known && len(envs) > 0 {
		if v.EnvID != 0 && v.FieldErrors["environment"] == "" {
			if v.FieldErrors == nil {
				v.FieldErrors = map[string]string{}
			}
			v.FieldErrors["environment"] = "That environment does not exist; choose another."
		}
		v.EnvID = envs[0].ID
	}
	if v.EnvID != 0 {
		ticked := map[int64]bool{}
		for _, id := range checked {
			ticked[id] = true
		}
		list, err := s.store.Targets(ctx, sqlite.TargetFilter{EnvironmentID: v.EnvID, WithDeleted: true})
		if err != nil {
			return err
		}
		for _, ts := range list {
			t := ts.Target
			if t.DeletedAt != nil && !ticked[t.ID] {
				continue
			}
			v.Targets = append(v.Targets, templates.TargetOption{ID: t.ID, Kind: t.Kind, Label: t.Label(), Checked: ticked[t.ID], Deleted: t.DeletedAt != nil})
			delete(ticked, t.ID)
		}
		for id := range ticked {
			if t, err := s.store.Target(ctx, id); err == nil {
				v.Targets = append(v.Targets, templates.TargetOption{ID: t.ID, Kind: t.Kind, Label: t.Label() + " (another environment)", Checked: true})
			}
		}
	}
	title := "New workflow"
	if v.ID != 0 {
		title = "Edit " + v.Name
	}
	if isHTMX(c) && c.Request().Method == http.MethodGet {
		return s.render(c, status, s.meta(c, title, "workflows"), templates.WorkflowForm(v))
	}
	return s.render(c, status, s.meta(c, title, "workflows"), templates.WorkflowFormPage(v))
}

// formIDs reads the positive numbers among values, each once.
func formIDs(values []string) []int64 {
	var out []int64
	seen := map[int64]bool{}
	for _, raw := range values {
		id, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || id <= 0 || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, id)
	}
	return out
}

// parseTimeout reads a release timeout such as "2h", "90m" or "1h30m"; a
// bare number counts minutes.
func parseTimeout(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, rewind.Errorf(rewind.EINVALID, "Give the release timeout, e.g. 2h.")
	}
	d, err := time.ParseDuration(s)
	if n, nerr := strconv.Atoi(s); nerr == nil {
		d, err = time.Duration(n)*time.Minute, nil
	}
	switch {
	case err != nil:
		return 0, rewind.Errorf(rewind.EINVALID, "%q is not a duration; write it like 2h, 45m or 1h30m.", s)
	case d < releases.MinTimeout:
		return 0, rewind.Errorf(rewind.EINVALID, "A release timeout is at least one minute.")
	case d > releases.MaxTimeout:
		return 0, rewind.Errorf(rewind.EINVALID, "A release timeout is at most 7 days (168h).")
	}
	return d.Truncate(time.Second), nil
}

// formatTimeout writes a duration as the form shows it: 2h, 45m, 1h30m.
func formatTimeout(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
