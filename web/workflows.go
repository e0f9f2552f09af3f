package web

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/releases"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/templates"
)

// releasesPerPage is how many releases a workflow's version list shows at once.
const releasesPerPage = 25

// unreleasedShown bounds the unreleased changes listed on a workflow's page.
const unreleasedShown = 50

// workflowsList shows each environment's workflows with their current
// release and health.
func (s *Server) workflowsList(c echo.Context) error {
	ctx := c.Request().Context()
	envs, err := s.store.Environments(ctx)
	if err != nil {
		return err
	}
	v := templates.WorkflowsView{CanEdit: currentUser(c).Role.Allows(rewind.RoleOperator)}
	for _, env := range envs {
		list, err := s.releases().Workflows(ctx, env.ID)
		if err != nil {
			return err
		}
		if len(list) == 0 {
			continue
		}
		g := templates.WorkflowGroup{Env: env.Name}
		for _, w := range list {
			g.Rows = append(g.Rows, workflowRow(w))
		}
		v.Groups = append(v.Groups, g)
	}
	return s.render(c, http.StatusOK, s.meta(c, "Workflows", "workflows"), templates.WorkflowsPage(v))
}

// workflowRow shows one workflow of the list.
func workflowRow(w releases.WorkflowSummary) templates.WorkflowRow {
	row := templates.WorkflowRow{ID: w.Workflow.ID, Name: w.Workflow.Name, Description: w.Workflow.Description,
		Current: releaseRef(w.Current), Open: releaseRef(w.Open), Unreleased: w.Unreleased, Targets: len(w.Workflow.TargetIDs)}
	switch {
	case w.Drifted:
		row.Health = "drifted"
	case w.Open != nil:
		row.Health = "open"
	case w.Current != nil && w.Current.BlockedAt != nil:
		row.Health = "blocked"
	case w.Current != nil:
		row.Health = "stable"
	}
	return row
}

// releaseRef names a release from another page; nil for none.
func releaseRef(r *rewind.Release) *templates.ReleaseRef {
	if r == nil {
		return nil
	}
	ref := &templates.ReleaseRef{ID: r.ID, Number: r.Number, Name: r.Name, At: r.StartedAt}
	if r.FinishedAt != nil {
		ref.At = *r.FinishedAt
	}
	return ref
}

// workflowParam loads the workflow named by the :id parameter.
func (s *Server) workflowParam(c echo.Context) (*rewind.Workflow, error) {
	id, err := idParam(c, "id")
	if err != nil {
		return nil, err
	}
	return s.releases().Workflow(c.Request().Context(), id)
}

// environmentName is the name of an environment, "" when it is gone.
func (s *Server) environmentName(c echo.Context, id int64) string {
	if env, err := s.store.Environment(c.Request().Context(), id); err == nil {
		return env.Name
	}
	return ""
}

// workflowShow shows a workflow's version list: a page of its releases,
// newest first, and the unreleased changes of its targets.
func (s *Server) workflowShow(c echo.Context) error {
	ctx := c.Request().Context()
	w, err := s.workflowParam(c)
	if err != nil {
		return err
	}
	page := pageParam(c)
	list, total, err := s.releases().Releases(ctx, w.ID, pageOffset(page, releasesPerPage), releasesPerPage)
	if err != nil {
		return err
	}
	v := templates.WorkflowView{W: w, Env: s.environmentName(c, w.EnvironmentID), CanEdit: currentUser(c).Role.Allows(rewind.RoleOperator),
		Nav: templates.PageNav{Page: page, PerPage: releasesPerPage, Total: total, BaseURL: c.Request().URL.Path}}
	targets := map[int64]*rewind.Target{}
	for _, id := range w.TargetIDs {
		t, err := s.store.Target(ctx, id)
		if err != nil {
			return err
		}
		targets[id] = t
		v.Targets = append(v.Targets, targetRef(t))
	}
	for _, r := range list {
		v.Releases = append(v.Releases, releaseRow(r))
	}
	if v.Choices, err = s.releaseChoices(c, w.ID); err != nil {
		return err
	}
	if len(v.Choices) >= 2 {
		v.CompareA, v.CompareB = v.Choices[1].ID, v.Choices[0].ID
	}
	unreleased, err := s.releases().Unreleased(ctx, w.ID)
	if err != nil {
		return err
	}
	for i, ver := range unreleased {
		if i == unreleasedShown {
			v.UnreleasedMore = len(unreleased) - unreleasedShown
			break
		}
		t := targets[ver.TargetID]
		if t == nil {
			if t, err = s.store.Target(ctx, ver.TargetID); err != nil {
				return err
			}
		}
		v.Unreleased = append(v.Unreleased, templates.UnreleasedRow{Target: targetRef(t), Version: ver, URL: versionURL(t, ver)})
	}
	return s.render(c, http.StatusOK, s.meta(c, w.Name, "workflows"), templates.WorkflowPage(v))
}

// releaseRow shows one release of a version list.
func releaseRow(r releases.ReleaseSummary) templates.ReleaseRow {
	row := templates.ReleaseRow{R: r.Release, Stable: r.Stable, Counts: r.Counts.String()}
	for _, st := range r.Status {
		row.States = append(row.States, string(st))
	}
	return row
}

// maxReleaseChoices bounds the releases a compare form offers.
const maxReleaseChoices = 200

// releaseChoices lists a workflow's newest releases for a release picker.
func (s *Server) releaseChoices(c echo.Context, workflowID int64) ([]templates.ReleaseChoice, error) {
	list, _, err := s.releases().Releases(c.Request().Context(), workflowID, 0, maxReleaseChoices)
	if err != nil {
		return nil, err
	}
	var out []templates.ReleaseChoice
	for _, r := range list {
		out = append(out, templates.ReleaseChoice{ID: r.Release.ID, Label: "#" + strconv.FormatInt(r.Release.Number, 10) + " " + r.Release.Name})
	}
	return out, nil
}
