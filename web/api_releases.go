package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/releases"
	"github.com/rewindhq/rewind/internal/rewind"
)

type apiWorkflowTarget struct {
	ID    int64  `json:"id"`
	Kind  string `json:"kind"`
	Label string `json:"label"`
}

type apiWorkflow struct {
	ID             int64               `json:"id"`
	Name           string              `json:"name"`
	EnvironmentID  int64               `json:"environment_id"`
	Environment    string              `json:"environment"`
	Description    string              `json:"description"`
	ReleaseTimeout int64               `json:"release_timeout"` // seconds
	Targets        []apiWorkflowTarget `json:"targets"`
	Current        *apiRelease         `json:"current"`
	Stable         *apiRelease         `json:"stable"`
	Open           *apiRelease         `json:"open"`
	Unreleased     int                 `json:"unreleased"`
	Health         string              `json:"health"`
	CreatedBy      string              `json:"created_by"`
	CreatedAt      time.Time           `json:"created_at"`
}

type apiItemCounts struct {
	Services int    `json:"services"`
	Configs  int    `json:"configs"`
	SQL      int    `json:"sql"`
	Text     string `json:"text"`
}

type apiReleaseItem struct {
	TargetID      int64  `json:"target_id"`
	Target        string `json:"target"`
	Kind          string `json:"kind"`
	Version       int64  `json:"version"`
	BeforeVersion int64  `json:"before_version,omitempty"` // 0: the release created the target
	How           string `json:"how"`
}

type apiRelease struct {
	ID           int64            `json:"id"`
	WorkflowID   int64            `json:"workflow_id"`
	Number       int64            `json:"number"`
	Name         string           `json:"name"`
	Commit       string           `json:"commit"`
	URL          string           `json:"url"`
	StartedBy    string           `json:"started_by"`
	StartedAt    time.Time        `json:"started_at"`
	FinishedAt   *time.Time       `json:"finished_at,omitempty"`
	State        string           `json:"state"`
	Status       string           `json:"status"`
	Labels       []string         `json:"labels"`
	Note         string           `json:"note,omitempty"`
	RollbackOf   int64            `json:"rollback_of,omitempty"`
	RequestID    int64            `json:"request_id,omitempty"`
	RolledBackBy int64            `json:"rolled_back_by,omitempty"`
	Blocked      bool             `json:"blocked"`
	BlockedAt    *time.Time       `json:"blocked_at,omitempty"`
	BlockedBy    string           `json:"blocked_by,omitempty"`
	BlockReason  string           `json:"block_reason,omitempty"`
	Counts       apiItemCounts    `json:"counts"`
	Items        []apiReleaseItem `json:"items,omitempty"`
}

func toAPIRelease(v *releases.ReleaseView) *apiRelease {
	if v == nil {
		return nil
	}
	r := v.Release
	return &apiRelease{ID: r.ID, WorkflowID: r.WorkflowID, Number: r.Number, Name: r.Name, Commit: r.Commit, URL: r.URL,
		StartedBy: r.StartedBy, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, State: string(r.State),
		Status: string(v.Status.State), Labels: v.Status.Labels(), Note: r.Note,
		RollbackOf: r.RollbackOf, RequestID: r.RequestID, RolledBackBy: r.RolledBackBy,
		Blocked: r.Blocked(), BlockedAt: r.BlockedAt, BlockedBy: r.BlockedBy, BlockReason: r.BlockReason,
		Counts: apiItemCounts{v.Counts.Services, v.Counts.Configs, v.Counts.SQL, v.Counts.String()}}
}

func toAPIWorkflow(w *releases.WorkflowSummary) apiWorkflow {
	out := apiWorkflow{ID: w.Workflow.ID, Name: w.Workflow.Name, EnvironmentID: w.Workflow.EnvironmentID, Environment: w.Environment.Name,
		Description: w.Workflow.Description, ReleaseTimeout: int64(w.Workflow.ReleaseTimeout / time.Second), Targets: []apiWorkflowTarget{},
		Current: toAPIRelease(w.Current), Stable: toAPIRelease(w.Stable), Open: toAPIRelease(w.Open),
		Unreleased: w.Unreleased, Health: string(w.Health), CreatedBy: w.Workflow.CreatedBy, CreatedAt: w.Workflow.CreatedAt}
	for _, t := range w.Targets {
		out.Targets = append(out.Targets, apiWorkflowTarget{t.ID, string(t.Kind), t.Label()})
	}
	return out
}

// paged answers one page of items.
func paged[T any](c echo.Context, all []T) error {
	pageNo, perPage, err := pageParams(c)
	if err != nil {
		return err
	}
	from := min((pageNo-1)*perPage, len(all))
	to := min(from+perPage, len(all))
	items := all[from:to]
	if items == nil {
		items = []T{}
	}
	return apiJSON(c, http.StatusOK, page{Items: items, Page: pageNo, PerPage: perPage, Total: len(all)})
}

// apiWorkflows lists workflows with their current release and health;
// filters environment (name) and name.
func (s *Server) apiWorkflows(c echo.Context) error {
	ctx := c.Request().Context()
	f := releases.WorkflowFilter{Name: strings.TrimSpace(c.QueryParam("name"))}
	if name := c.QueryParam("environment"); name != "" {
		env, err := s.store.EnvironmentByName(ctx, name)
		if rewind.ErrorCode(err) == rewind.ENOTFOUND {
			return paged(c, []apiWorkflow{})
		} else if err != nil {
			return err
		}
		f.EnvironmentID = env.ID
	}
	ws, err := s.releases().Workflows(ctx, actor(c), f)
	if err != nil {
		return err
	}
	out := make([]apiWorkflow, 0, len(ws))
	for i := range ws {
		out = append(out, toAPIWorkflow(&ws[i]))
	}
	return paged(c, out)
}

// apiWorkflowShow shows one workflow with its targets and current release.
func (s *Server) apiWorkflowShow(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	w, err := s.releases().Workflow(c.Request().Context(), actor(c), id)
	if err != nil {
		return err
	}
	return apiJSON(c, http.StatusOK, toAPIWorkflow(w))
}

// apiWorkflowIn is the body of POST /workflows and PUT /workflows/{id}.
type apiWorkflowIn struct {
	Name string `json:"name"`
	// Environment (a name) or EnvironmentID; on PUT, it may be left out.
	Environment    string  `json:"environment"`
	EnvironmentID  int64   `json:"environment_id"`
	Description    string  `json:"description"`
	ReleaseTimeout int64   `json:"release_timeout"` // seconds; 0: two hours
	TargetIDs      []int64 `json:"target_ids"`
}

// apiWorkflowSave creates a workflow (POST /workflows) or changes one (PUT
// /workflows/{id}).
func (s *Server) apiWorkflowSave(c echo.Context) error {
	ctx := c.Request().Context()
	var id int64
	if c.Request().Method == http.MethodPut {
		var err error
		if id, err = idParam(c, "id"); err != nil {
			return err
		}
	}
	var in apiWorkflowIn
	if err := bind(c, &in); err != nil {
		return err
	}
	if in.ReleaseTimeout < 0 {
		return invalidField("release_timeout", "The release timeout is a number of seconds.")
	}
	w := releases.WorkflowInput{ID: id, Name: in.Name, EnvironmentID: in.EnvironmentID, Description: in.Description,
		ReleaseTimeout: time.Duration(in.ReleaseTimeout) * time.Second, TargetIDs: in.TargetIDs}
	if in.Environment != "" {
		env, err := s.store.EnvironmentByName(ctx, in.Environment)
		if rewind.ErrorCode(err) == rewind.ENOTFOUND {
			return invalidField("environment", "No environment named %q.", in.Environment)
		} else if err != nil {
			return err
		}
		if in.EnvironmentID != 0 && in.EnvironmentID != env.ID {
			return invalidField("environment_id", "environment and environment_id name different environments.")
		}
		w.EnvironmentID = env.ID
	}
	saved, err := s.releases().SaveWorkflow(ctx, actor(c), w)
	if err != nil {
		return err
	}
	sum, err := s.releases().Workflow(ctx, actor(c), saved.ID)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if id == 0 {
		status = http.StatusCreated
	}
	return c.JSON(status, toAPIWorkflow(sum))
}

func (s *Server) apiWorkflowDelete(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.releases().DeleteWorkflow(c.Request().Context(), actor(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// apiWorkflowReleases lists a workflow's releases newest first, with their
// status; filter name.
func (s *Server) apiWorkflowReleases(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	views, err := s.releases().Releases(c.Request().Context(), actor(c), id)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(c.QueryParam("name"))
	out := make([]*apiRelease, 0, len(views))
	for i := range views {
		if name == "" || views[i].Release.Name == name {
			out = append(out, toAPIRelease(&views[i]))
		}
	}
	return paged(c, out)
}

type apiChangeOut struct {
	TargetID int64       `json:"target_id"`
	Target   string      `json:"target"`
	Kind     string      `json:"kind"`
	Version  *apiVersion `json:"version"`
}

// apiWorkflowUnreleased lists the changes of a workflow's targets made
// outside any release, newest first.
func (s *Server) apiWorkflowUnreleased(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	pageNo, perPage, err := pageParams(c)
	if err != nil {
		return err
	}
	changes, total, err := s.releases().Unreleased(c.Request().Context(), actor(c), id, (pageNo-1)*perPage, perPage)
	if err != nil {
		return err
	}
	out := make([]apiChangeOut, 0, len(changes))
	for _, ch := range changes {
		out = append(out, apiChangeOut{ch.Target.ID, ch.Target.Label(), string(ch.Target.Kind), s.toAPIVersion(ch.Target, ch.Version)})
	}
	return apiJSON(c, http.StatusOK, page{Items: out, Page: pageNo, PerPage: perPage, Total: total})
}

// apiReleaseStartIn is the body of POST /releases: the workflow by ID, or
// by name (and environment, when the name is in several).
type apiReleaseStartIn struct {
	WorkflowID  int64  `json:"workflow_id"`
	Workflow    string `json:"workflow"`
	Environment string `json:"environment"`
	Name        string `json:"name"`
	Commit      string `json:"commit"`
	URL         string `json:"url"`
}

func (s *Server) apiReleaseStart(c echo.Context) error {
	var in apiReleaseStartIn
	if err := bind(c, &in); err != nil {
		return err
	}
	if in.WorkflowID == 0 && strings.TrimSpace(in.Workflow) == "" {
		return invalidField("workflow", "Name the workflow (workflow, or workflow_id).")
	}
	r, err := s.releases().Start(c.Request().Context(), actor(c), releases.NewRelease{
		Ref:  releases.Ref{WorkflowID: in.WorkflowID, Workflow: in.Workflow, Environment: in.Environment},
		Name: in.Name, Commit: in.Commit, URL: in.URL})
	if err != nil {
		return err
	}
	return s.apiReleaseShowID(c, http.StatusCreated, r.ID)
}

func (s *Server) apiReleaseShowID(c echo.Context, status int, id int64) error {
	d, err := s.releases().Release(c.Request().Context(), actor(c), id)
	if err != nil {
		return err
	}
	out := toAPIRelease(&d.ReleaseView)
	out.Items = []apiReleaseItem{}
	for _, it := range d.Items {
		item := apiReleaseItem{TargetID: it.Target.ID, Target: it.Target.Label(), Kind: string(it.Target.Kind), Version: it.Version.Number, How: string(it.How)}
		if it.Before != nil {
			item.BeforeVersion = it.Before.Number
		}
		out.Items = append(out.Items, item)
	}
	if c.Request().Method == http.MethodGet {
		return apiJSON(c, status, out)
	}
	return c.JSON(status, out)
}

// apiReleaseShow shows one release with its items.
func (s *Server) apiReleaseShow(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	return s.apiReleaseShowID(c, http.StatusOK, id)
}

// apiReleaseEndIn is the body of finish and fail; it may be empty.
type apiReleaseEndIn struct {
	// Items name versions as TARGET_ID@VERSION.
	Items []string `json:"items"`
	Note  string   `json:"note"`
}

func (s *Server) apiReleaseEnd(fail bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := idParam(c, "id")
		if err != nil {
			return err
		}
		var in apiReleaseEndIn
		if c.Request().ContentLength != 0 {
			if err := bind(c, &in); err != nil {
				return err
			}
		}
		if !fail && in.Note != "" {
			return invalidField("note", "Only a failed release has a note.")
		}
		var named []releases.ItemRef
		for _, item := range in.Items {
			ref, err := releases.ParseItemRef(item)
			if err != nil {
				return &fieldError{field: "items", err: err.(*rewind.Error)}
			}
			named = append(named, ref)
		}
		ctx := c.Request().Context()
		if fail {
			_, err = s.releases().Fail(ctx, actor(c), id, in.Note, named)
		} else {
			_, err = s.releases().Finish(ctx, actor(c), id, named)
		}
		if err != nil {
			return err
		}
		return s.apiReleaseShowID(c, http.StatusOK, id)
	}
}

// apiReason is the body of block and unblock.
type apiReason struct {
	Reason string `json:"reason"`
}

func (s *Server) apiReleaseBlock(block bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := idParam(c, "id")
		if err != nil {
			return err
		}
		var in apiReason
		if err := bind(c, &in); err != nil {
			return err
		}
		ctx := c.Request().Context()
		if block {
			_, err = s.releases().Block(ctx, actor(c), id, in.Reason)
		} else {
			_, err = s.releases().Unblock(ctx, actor(c), id, in.Reason)
		}
		if err != nil {
			return err
		}
		return s.apiReleaseShowID(c, http.StatusOK, id)
	}
}

type apiCheck struct {
	Blocked    bool       `json:"blocked"`
	WorkflowID int64      `json:"workflow_id"`
	Name       string     `json:"name"`
	ReleaseID  int64      `json:"release_id,omitempty"` // the blocked release
	Reason     string     `json:"reason,omitempty"`
	BlockedBy  string     `json:"blocked_by,omitempty"`
	BlockedAt  *time.Time `json:"blocked_at,omitempty"`
	Message    string     `json:"message"`
}

// apiReleaseCheck says whether release name may go out: 200 with blocked
// true or false, so that CI decides.
func (s *Server) apiReleaseCheck(c echo.Context) error {
	ref := releases.Ref{Workflow: c.QueryParam("workflow"), Environment: c.QueryParam("environment"), Release: c.QueryParam("name")}
	if strings.TrimSpace(ref.Workflow) == "" {
		return invalidField("workflow", "Name the workflow: ?workflow=W&name=N.")
	}
	if strings.TrimSpace(ref.Release) == "" {
		return invalidField("name", "Name the release: ?workflow=W&name=N.")
	}
	res, err := s.releases().Check(c.Request().Context(), actor(c), ref)
	if err != nil {
		return err
	}
	out := apiCheck{WorkflowID: res.Workflow.ID, Name: strings.TrimSpace(ref.Release),
		Message: "Release " + strings.TrimSpace(ref.Release) + " of " + res.Workflow.Name + " is not blocked."}
	if b := res.Blocked; b != nil {
		out.Blocked, out.ReleaseID, out.Reason, out.BlockedBy, out.BlockedAt = true, b.ID, b.BlockReason, b.BlockedBy, b.BlockedAt
		out.Message = "Release " + b.Name + " of " + res.Workflow.Name + " is blocked by " + b.BlockedBy + ": " + b.BlockReason
	}
	return c.JSON(http.StatusOK, out)
}
