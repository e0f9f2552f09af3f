package client

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Release is one run of a workflow.
type Release struct {
	ID          int64      `json:"id"`
	WorkflowID  int64      `json:"workflow_id"`
	Number      int64      `json:"number"`
	Name        string     `json:"name"`
	Commit      string     `json:"commit"`
	URL         string     `json:"url"`
	StartedBy   string     `json:"started_by"`
	StartedAt   time.Time  `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at"`
	State       string     `json:"state"`
	Status      string     `json:"status"`
	Labels      []string   `json:"labels"`
	Note        string     `json:"note"`
	Blocked     bool       `json:"blocked"`
	BlockedBy   string     `json:"blocked_by"`
	BlockReason string     `json:"block_reason"`
	Counts      struct {
		Services int    `json:"services"`
		Configs  int    `json:"configs"`
		SQL      int    `json:"sql"`
		Text     string `json:"text"`
	} `json:"counts"`
	Items []ReleaseItem `json:"items"`
}

// ReleaseItem is a version a release produced.
type ReleaseItem struct {
	TargetID      int64  `json:"target_id"`
	Target        string `json:"target"`
	Kind          string `json:"kind"`
	Version       int64  `json:"version"`
	BeforeVersion int64  `json:"before_version"`
	How           string `json:"how"`
}

// Workflow is a named way of releasing a set of targets in one environment.
type Workflow struct {
	ID          int64    `json:"id"`
	Name        string   `json:"name"`
	Environment string   `json:"environment"`
	Description string   `json:"description"`
	Current     *Release `json:"current"`
	Stable      *Release `json:"stable"`
	Open        *Release `json:"open"`
	Unreleased  int      `json:"unreleased"`
	Health      string   `json:"health"`
	Targets     []struct {
		ID    int64  `json:"id"`
		Kind  string `json:"kind"`
		Label string `json:"label"`
	} `json:"targets"`
}

// ReleaseCheck says whether a release name is blocked.
type ReleaseCheck struct {
	Blocked   bool   `json:"blocked"`
	ReleaseID int64  `json:"release_id"`
	Reason    string `json:"reason"`
	BlockedBy string `json:"blocked_by"`
	Message   string `json:"message"`
}

// Workflows lists workflows; q may hold environment and name.
func (c *Client) Workflows(ctx context.Context, q url.Values) (*Page[Workflow], error) {
	var p Page[Workflow]
	return &p, c.do(ctx, "GET", "/workflows?"+q.Encode(), nil, &p)
}

// FindWorkflow returns the workflow named name, in environment env when
// given; without it the name must be unique among the workflows the token sees.
func (c *Client) FindWorkflow(ctx context.Context, name, env string) (*Workflow, error) {
	p, err := c.Workflows(ctx, url.Values{"name": {name}, "environment": {env}, "per_page": {"200"}})
	if err != nil {
		return nil, err
	}
	switch len(p.Items) {
	case 0:
		if env != "" {
			return nil, fmt.Errorf("no workflow named %q in %s", name, env)
		}
		return nil, fmt.Errorf("no workflow named %q", name)
	case 1:
		return &p.Items[0], nil
	}
	var envs []string
	for _, w := range p.Items {
		envs = append(envs, w.Environment)
	}
	return nil, fmt.Errorf("workflow %q exists in %s: give --env", name, strings.Join(envs, " and "))
}

// Releases lists one page of a workflow's releases, newest first; name,
// when not empty, keeps those with that name.
func (c *Client) Releases(ctx context.Context, workflow int64, name string, page, perPage int) (*Page[Release], error) {
	var p Page[Release]
	q := url.Values{"name": {name}, "page": {strconv.Itoa(page)}, "per_page": {strconv.Itoa(perPage)}}
	return &p, c.do(ctx, "GET", fmt.Sprintf("/workflows/%d/releases?%s", workflow, q.Encode()), nil, &p)
}

// FindRelease returns the newest release named name of the workflow named
// workflow (in env, when given).
func (c *Client) FindRelease(ctx context.Context, workflow, env, name string) (*Release, error) {
	w, err := c.FindWorkflow(ctx, workflow, env)
	if err != nil {
		return nil, err
	}
	p, err := c.Releases(ctx, w.ID, name, 1, 1)
	if err != nil {
		return nil, err
	}
	if len(p.Items) == 0 {
		return nil, fmt.Errorf("workflow %s has no release named %q", w.Name, name)
	}
	return &p.Items[0], nil
}

// NewRelease is what a pipeline gives when a release starts.
type NewRelease struct {
	Workflow    string `json:"workflow"`
	Environment string `json:"environment,omitempty"`
	Name        string `json:"name"`
	Commit      string `json:"commit,omitempty"`
	URL         string `json:"url,omitempty"`
}

// StartRelease starts a release of a workflow.
func (c *Client) StartRelease(ctx context.Context, n NewRelease) (*Release, error) {
	var r Release
	return &r, c.do(ctx, "POST", "/releases", n, &r)
}

// Release returns one release with its items.
func (c *Client) Release(ctx context.Context, id int64) (*Release, error) {
	var r Release
	return &r, c.do(ctx, "GET", "/releases/"+strconv.FormatInt(id, 10), nil, &r)
}

// FinishRelease finishes an open release; items name versions as
// TARGET_ID@VERSION.
func (c *Client) FinishRelease(ctx context.Context, id int64, items []string) (*Release, error) {
	var r Release
	return &r, c.do(ctx, "POST", fmt.Sprintf("/releases/%d/finish", id), map[string]any{"items": items}, &r)
}

// FailRelease fails an open release with a note.
func (c *Client) FailRelease(ctx context.Context, id int64, note string, items []string) (*Release, error) {
	var r Release
	return &r, c.do(ctx, "POST", fmt.Sprintf("/releases/%d/fail", id), map[string]any{"items": items, "note": note}, &r)
}

// BlockRelease blocks (or, with block false, unblocks) a release's name.
func (c *Client) BlockRelease(ctx context.Context, id int64, block bool, reason string) (*Release, error) {
	var r Release
	action := "block"
	if !block {
		action = "unblock"
	}
	return &r, c.do(ctx, "POST", fmt.Sprintf("/releases/%d/%s", id, action), map[string]string{"reason": reason}, &r)
}

// CheckRelease says whether release name of workflow (in env, when given)
// is blocked.
func (c *Client) CheckRelease(ctx context.Context, workflow, env, name string) (*ReleaseCheck, error) {
	var r ReleaseCheck
	q := url.Values{"workflow": {workflow}, "name": {name}}
	if env != "" {
		q.Set("environment", env)
	}
	return &r, c.do(ctx, "GET", "/releases/check?"+q.Encode(), nil, &r)
}

// Plan is the plan of rolling a release back, before it is asked for.
type Plan struct {
	ReleaseID   int64      `json:"release_id"`
	ToReleaseID int64      `json:"to_release_id"`
	Plan        string     `json:"plan"`
	Steps       []PlanStep `json:"steps"`
	Warnings    []string   `json:"warnings"`
}

// PlanStep is one planned step.
type PlanStep struct {
	Key            string `json:"key"`
	TargetID       int64  `json:"target_id"`
	Target         string `json:"target"`
	Kind           string `json:"kind"`
	Detail         string `json:"detail"`
	Runnable       bool   `json:"runnable"`
	AlreadyThere   bool   `json:"already_there"`
	Blocked        string `json:"blocked"`
	Confirm        string `json:"confirm"`
	SavedRows      int    `json:"saved_rows"`
	CurrentVersion int64  `json:"current_version"`
	ToVersion      int64  `json:"to_version"`
	Checks         []struct {
		Name    string `json:"name"`
		OK      bool   `json:"ok"`
		Message string `json:"message"`
	} `json:"checks"`
}

// ReleasePlan returns the plan of rolling release id back, to the end of
// release to when it is not 0; it changes nothing.
func (c *Client) ReleasePlan(ctx context.Context, id, to int64) (*Plan, error) {
	var p Plan
	path := "/releases/" + strconv.FormatInt(id, 10) + "/plan"
	if to != 0 {
		path += "?to=" + strconv.FormatInt(to, 10)
	}
	return &p, c.do(ctx, "GET", path, nil, &p)
}

// ReleaseRollback asks for the rollback of a release as one plan.
type ReleaseRollback struct {
	Reason      string            `json:"reason"`
	Plan        string            `json:"plan"`
	ToReleaseID int64             `json:"to_release_id,omitempty"`
	Steps       []string          `json:"steps,omitempty"`
	Confirm     map[string]string `json:"confirm,omitempty"`
}

// RollbackRelease asks for plan in of release id.
func (c *Client) RollbackRelease(ctx context.Context, id int64, in ReleaseRollback) (*Request, error) {
	var r Request
	return &r, c.do(ctx, "POST", "/releases/"+strconv.FormatInt(id, 10)+"/rollback", in, &r)
}

// Retry runs the failed step of failed plan id again.
func (c *Client) Retry(ctx context.Context, id int64) (*Request, error) {
	var r Request
	return &r, c.do(ctx, "POST", "/requests/"+strconv.FormatInt(id, 10)+"/retry", map[string]string{}, &r)
}

// Skip skips the failed step of failed plan id, with a reason.
func (c *Client) Skip(ctx context.Context, id int64, reason string) (*Request, error) {
	var r Request
	return &r, c.do(ctx, "POST", "/requests/"+strconv.FormatInt(id, 10)+"/skip", map[string]string{"reason": reason}, &r)
}
