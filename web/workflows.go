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
	list, err := s.releases().Workflows(ctx, actor(c), releases.WorkflowFilter{})
	if err != nil {
		return err
	}
	v := templates.WorkflowsView{CanEdit: actor(c).Reaches(rewind.RoleOperator)}
	group := map[int64]int{}
	for _, w := range list {
		i, ok := group[w.Environment.ID]
		if !ok {
			i = len(v.Groups)
			group[w.Environment.ID] = i
			v.Groups = append(v.Groups, templates.WorkflowGroup{Env: w.Environment.Name})
		}
		v.Groups[i].Rows = append(v.Groups[i].Rows, workflowRow(w))
	}
	return s.render(c, http.StatusOK, s.meta(c, "Workflows", "workflows"), templates.WorkflowsPage(v))
}

// workflowRow shows one workflow of the list.
func workflowRow(w releases.WorkflowSummary) templates.WorkflowRow {
	return templates.WorkflowRow{ID: w.Workflow.ID, Name: w.Workflow.Name, Description: w.Workflow.Description,
		Current: releaseRef(w.Current), Open: releaseRef(w.Open), Unreleased: w.Unreleased, Targets: len(w.Workflow.TargetIDs),
		Health: healthWord(w)}
}

// healthWord is a workflow's health in the words of the version list:
// open while a release runs, stable when the current release is the stable one.
func healthWord(w releases.WorkflowSummary) string {
	switch w.Health {
	case releases.HealthNone:
		return ""
	case releases.HealthReleasing:
		return "open"
	case releases.HealthTimedOut:
		return "open, timed out"
	case releases.HealthOK:
		if w.Stable != nil && w.Current != nil && w.Stable.Release.ID == w.Current.Release.ID {
			return "stable"
		}
		return "ok"
	}
	return string(w.Health)
}

// releaseRef names a release from another page; nil for none.
func releaseRef(v *releases.ReleaseView) *templates.ReleaseRef {
	if v == nil {
		return nil
	}
	r := v.Release
	ref := &templates.ReleaseRef{ID: r.ID, Number: r.Number, Name: r.Name, At: r.StartedAt}
	if r.FinishedAt != nil {
		ref.At = *r.FinishedAt
	}
	return ref
}

// workflowParam loads the workflow named by the :id parameter.
func (s *Server) workflowParam(c echo.Context) (*releases.WorkflowSummary, error) {
	id, err := idParam(c, "id")
	if err != nil {
		return nil, err
	}
	return s.releases().Workflow(c.Request().Context(), actor(c), id)
}

// workflowShow shows a workflow's version list: a page of its releases,
// newest first, and the unreleased changes of its targets.
func (s *Server) workflowShow(c echo.Context) error {
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
	nav := templates.PageNav{Page: pageParam(c), PerPage: releasesPerPage, Total: len(all), BaseURL: c.Request().URL.Path}
	page := nav.Current() // a page past the last shows the last
	v := templates.WorkflowView{W: w, Env: sum.Environment.Name, CanEdit: can(c, rewind.RoleOperator, w.EnvironmentID), Nav: nav}
	for _, t := range sum.Targets {
		v.Targets = append(v.Targets, targetRef(t))
	}
	from := min(pageOffset(page, releasesPerPage), len(all))
	operator := can(c, rewind.RoleOperator, w.EnvironmentID)
	if sum.Current != nil && operator {
		v.CurrentID = sum.Current.Release.ID
	}
	for _, r := range all[from:min(from+releasesPerPage, len(all))] {
		row := releaseRow(r)
		row.ReturnTo = v.CurrentID != 0 && r.Status.State == releases.StateSuperseded
		v.Releases = append(v.Releases, row)
	}
	v.Choices = releaseChoices(all)
	if len(v.Choices) >= 2 {
		v.CompareA, v.CompareB = v.Choices[1].ID, v.Choices[0].ID
	}
	changes, total, err := s.releases().Unreleased(ctx, actor(c), w.ID, 0, unreleasedShown)
	if err != nil {
		return err
	}
	for _, ch := range changes {
		v.Unreleased = append(v.Unreleased, templates.UnreleasedRow{Target: targetRef(ch.Target), Version: ch.Version, URL: versionURL(ch.Target, ch.Version)})
	}
	v.UnreleasedMore = max(total-len(changes), 0)
	return s.render(c, http.StatusOK, s.meta(c, w.Name, "workflows"), templates.WorkflowPage(v))
}

// releaseRow shows one release of a version list.
func releaseRow(r releases.ReleaseView) templates.ReleaseRow {
	row := templates.ReleaseRow{R: r.Release, Stable: r.Status.Stable, Counts: r.Counts.String()}
	for _, l := range r.Status.Labels() {
		if l != "stable" {
			row.States = append(row.States, l)
		}
	}
	return row
}

// maxReleaseChoices bounds the releases a compare form offers.
const maxReleaseChoices = 200

// releaseChoices lists a workflow's newest releases for a release picker.
func releaseChoices(all []releases.ReleaseView) []templates.ReleaseChoice {
	var out []templates.ReleaseChoice
	for _, r := range all[:min(len(all), maxReleaseChoices)] {
		out = append(out, templates.ReleaseChoice{ID: r.Release.ID, Label: "#" + strconv.FormatInt(r.Release.Number, 10) + " " + r.Release.Name})
	}
	return out
}
