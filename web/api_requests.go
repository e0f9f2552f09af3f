package web

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/requests"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/sqlite"
)

type apiApproval struct {
	Approver  string    `json:"approver"`
	Approve   bool      `json:"approve"`
	Comment   string    `json:"comment,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

type apiRequestBody struct {
	ID                int64         `json:"id"`
	TargetID          int64         `json:"target_id"`
	Target            string        `json:"target"`
	Kind              string        `json:"kind"`
	Environment       string        `json:"environment"`
	ToVersion         int64         `json:"to_version,omitempty"`
	BaseVersion       int64         `json:"base_version,omitempty"`
	ResultVersion     int64         `json:"result_version,omitempty"`
	State             string        `json:"state"`
	Final             bool          `json:"final"`
	Requester         string        `json:"requester"`
	Reason            string        `json:"reason"`
	RequiredApprovals int           `json:"required_approvals"`
	Approvals         []apiApproval `json:"approvals"`
	Outcome           string        `json:"outcome"`
	CreatedAt         time.Time     `json:"created_at"`
	StartedAt         *time.Time    `json:"started_at,omitempty"`
	FinishedAt        *time.Time    `json:"finished_at,omitempty"`
	// Rollout is the live rollout of a service's request once it runs, on
	// GET /requests/{id} only; absent when the cluster cannot say.
	Rollout *apiRollout `json:"rollout,omitempty"`
	// RequestKind says rollback or change; ReleaseID the release a change
	// belongs to or a rollback rolls back. Steps are the plan.
	RequestKind string    `json:"request_kind"`
	ReleaseID   int64     `json:"release_id,omitempty"`
	Steps       []apiStep `json:"steps"`
}

// apiStep is one step of a request's plan.
type apiStep struct {
	Position      int    `json:"position"`
	TargetID      int64  `json:"target_id"`
	Detail        string `json:"detail"`
	State         string `json:"state"`
	Outcome       string `json:"outcome"`
	Note          string `json:"note,omitempty"`
	Attempts      int    `json:"attempts"`
	ResultVersion int64  `json:"result_version,omitempty"`
}

// apiRollout is a workload's rollout as the cluster reports it now.
type apiRollout struct {
	Phase     string `json:"phase"`
	Message   string `json:"message"`
	Desired   int32  `json:"desired"`
	Updated   int32  `json:"updated"`
	Ready     int32  `json:"ready"`
	Available int32  `json:"available"`
}

func (s *Server) toAPIRequest(c echo.Context, r *rewind.Request) (apiRequestBody, error) {
	ctx := c.Request().Context()
	it, err := s.requestItem(ctx, r, false)
	if err != nil {
		return apiRequestBody{}, err
	}
	if !actor(c).Sees(r.EnvironmentID) {
		return apiRequestBody{}, rewind.Errorf(rewind.ENOTFOUND, "No request with ID %d.", r.ID)
	}
	b := apiRequestBody{ID: r.ID, TargetID: r.First().TargetID, Target: it.Target.Label(), Kind: string(it.Target.Kind), Environment: it.Env,
		State: string(r.State), Final: r.State.Final(), Requester: r.Requester, Reason: r.Reason, RequiredApprovals: r.RequiredApprovals,
		Approvals: []apiApproval{}, Outcome: r.Outcome, CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt}
	number := func(id int64) int64 {
		if id == 0 {
			return 0
		}
		if v, err := s.store.Version(ctx, id); err == nil {
			return v.Number
		}
		return 0
	}
	b.ToVersion, b.BaseVersion, b.ResultVersion = number(r.First().VersionID), number(r.First().BaseVersionID), number(r.First().ResultVersionID)
	for _, a := range r.Approvals {
		if a.PlanHash == r.PlanHash {
			b.Approvals = append(b.Approvals, apiApproval{a.Approver, a.Approve, a.Comment, a.CreatedAt})
		}
	}
	b.RequestKind, b.ReleaseID, b.Steps = string(r.Kind), r.ReleaseID, []apiStep{}
	for _, st := range r.Steps {
		b.Steps = append(b.Steps, apiStep{Position: st.Position, TargetID: st.TargetID, Detail: st.Detail, State: string(st.State),
			Outcome: st.Outcome, Note: st.Note, Attempts: st.Attempts, ResultVersion: number(st.ResultVersionID)})
	}
	return b, nil
}

func (s *Server) apiRequests(c echo.Context) error {
	pageNo, perPage, err := pageParams(c)
	if err != nil {
		return err
	}
	f := sqlite.RequestFilter{}
	if st := c.QueryParam("state"); st != "" {
		f.States = []rewind.State{rewind.State(st)}
	}
	if k := c.QueryParam("kind"); k != "" {
		f.Kind = rewind.TargetKind(k)
	}
	if f.EnvironmentIDs, err = s.visibleEnvironmentIDs(c); err != nil {
		return err
	}
	all, err := s.store.Requests(c.Request().Context(), f)
	if err != nil {
		return err
	}
	from := min((pageNo-1)*perPage, len(all))
	to := min(from+perPage, len(all))
	out := make([]apiRequestBody, 0, to-from)
	for _, r := range all[from:to] {
		b, err := s.toAPIRequest(c, r)
		if err != nil {
			return err
		}
		out = append(out, b)
	}
	return apiJSON(c, 200, page{Items: out, Page: pageNo, PerPage: perPage, Total: len(all)})
}

// apiRequest shows one request with its live state and outcome.
func (s *Server) apiRequest(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	r, err := s.store.Request(ctx, id)
	if err != nil {
		return err
	}
	b, err := s.toAPIRequest(c, r)
	if err != nil {
		return err
	}
	if b.Kind == string(rewind.KindService) && (r.State == rewind.StateRunning || r.State.Final()) {
		if t, err := s.store.Target(ctx, r.First().TargetID); err == nil && t.DeletedAt == nil {
			if st, err := s.services.Status(ctx, t); err == nil && st != nil {
				b.Rollout = &apiRollout{Phase: string(st.Phase), Message: st.Message, Desired: st.Desired, Updated: st.Updated, Ready: st.Ready, Available: st.Available}
			}
		}
	}
	return apiJSON(c, 200, b)
}

// apiNewRequest is the body of POST /requests.
type apiNewRequest struct {
	TargetID  int64  `json:"target_id"`
	ToVersion int64  `json:"to_version"`
	Reason    string `json:"reason"`
	// Action, for a config, is "publish" (the default: publish the version's
	// content) or "delete" (the state without the config: before the version
	// created it, or as a deleted version recorded it).
	Action string `json:"action,omitempty"`
	// ConfirmDataID confirms a config's deletion: its data ID, typed.
	ConfirmDataID string `json:"confirm_data_id,omitempty"`
}

// apiRequestCreate asks for a rollback of a service or config to a version.
// With an Idempotency-Key header, the same key from the same actor returns
// the request it made first.
func (s *Server) apiRequestCreate(c echo.Context) error {
	ctx := c.Request().Context()
	a := actor(c)
	key := strings.TrimSpace(c.Request().Header.Get("Idempotency-Key"))
	if len(key) > 200 {
		return invalidField("Idempotency-Key", "An Idempotency-Key has at most 200 characters.")
	}
	if key != "" {
		if id, err := s.store.IdempotentRequest(ctx, a.Name(), key); err != nil {
			return err
		} else if id != 0 {
			return s.apiRequestShowID(c, http.StatusOK, id)
		}
	}
	var in apiNewRequest
	if err := bind(c, &in); err != nil {
		return err
	}
	if in.TargetID < 1 {
		return invalidField("target_id", "Give the target's ID.")
	}
	if _, err := rewind.ValidateReason(in.Reason); err != nil {
		return &fieldError{field: "reason", err: err.(*rewind.Error)}
	}
	t, err := s.store.Target(ctx, in.TargetID)
	if err == nil && !a.Sees(t.EnvironmentID) {
		err = rewind.Errorf(rewind.ENOTFOUND, "No target with ID %d.", in.TargetID)
	}
	if rewind.ErrorCode(err) == rewind.ENOTFOUND {
		return invalidField("target_id", "No target with ID %d.", in.TargetID)
	} else if err != nil {
		return err
	}
	to, err := s.store.VersionByNumber(ctx, t.ID, in.ToVersion)
	if rewind.ErrorCode(err) == rewind.ENOTFOUND {
		return invalidField("to_version", "Target %d has no version %d.", t.ID, in.ToVersion)
	} else if err != nil {
		return err
	}
	n := requests.NewRequest{Reason: in.Reason, Steps: []requests.NewStep{{Target: t, To: to}}}
	switch t.Kind {
	case rewind.KindService:
		if n.Steps[0].Base, err = s.store.LatestVersion(ctx, t.ID); err != nil {
			return err
		}
		if n.Steps[0].Expected, err = s.services.Preflight(ctx, t, to); err != nil {
			return err
		}
		n.Steps[0].Detail = "to version " + strconv.FormatInt(to.Number, 10) + " (revision " + to.Revision + ")"
	case rewind.KindConfig:
		if err := s.apiConfigRequest(c, t, to, in, &n); err != nil {
			return err
		}
	default:
		return invalidField("target_id", "A database is rolled back by a SQL change, not to a version.")
	}
	if in.Action != "" && t.Kind != rewind.KindConfig {
		return invalidField("action", "Only a config request has an action.")
	}
	r, err := s.requests().Create(ctx, a, n)
	if err != nil && key != "" && rewind.ErrorCode(err) == rewind.ECONFLICT {
		// A concurrent retry with the same key, here or at another
		// replica, may have made it meanwhile; its key follows at once.
		for range 10 {
			if id, kerr := s.store.IdempotentRequest(ctx, a.Name(), key); kerr == nil && id != 0 {
				return s.apiRequestShowID(c, http.StatusOK, id)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if err != nil {
		return err
	}
	if key != "" {
		if err := s.store.SaveIdempotencyKey(ctx, a.Name(), key, r.ID); err != nil {
			return err
		}
	}
	return s.apiRequestShowID(c, http.StatusCreated, r.ID)
}

// apiConfigRequest fills n for restoring config t to version to: the md5
// Nacos holds now is what execution will insist on.
func (s *Server) apiConfigRequest(c echo.Context, t *rewind.Target, to *rewind.Version, in apiNewRequest, n *requests.NewRequest) error {
	ctx := c.Request().Context()
	be, err := s.configBackend()
	if err != nil {
		return err
	}
	action := cmp.Or(in.Action, rewind.ConfigPublish)
	if action != rewind.ConfigPublish && action != rewind.ConfigDelete {
		return invalidField("action", "The action is publish or delete.")
	}
	live, err := be.Current(ctx, t)
	if err != nil {
		return err
	}
	if err := be.Preflight(ctx, t); err != nil {
		return err
	}
	deleting := action == rewind.ConfigDelete
	switch {
	case !deleting && to.Content == "":
		return invalidField("to_version", "Version %d is the config deleted: Nacos cannot publish empty content; ask for action delete instead.", to.Number)
	case !deleting && live.Exists && live.MD5 == to.Hash:
		return rewind.Errorf(rewind.ECONFLICT, "Nacos already holds the content of version %d; there is nothing to restore.", to.Number)
	case deleting && !live.Exists:
		return rewind.Errorf(rewind.ECONFLICT, "The config does not exist in Nacos now; there is nothing to delete.")
	case deleting && strings.TrimSpace(in.ConfirmDataID) != t.Name:
		return invalidField("confirm_data_id", "Give the data ID %s in confirm_data_id to confirm the deletion.", t.Name)
	}
	payload, err := rewind.ConfigRestore{Action: action}.Encode()
	if err != nil {
		return err
	}
	if n.Steps[0].Base, err = s.store.LiveConfigVersion(ctx, t.ID); err != nil {
		n.Steps[0].Base = nil
	}
	what := "restore version " + strconv.FormatInt(to.Number, 10) + " (md5 " + md5Shown(be, t, to.Content, to.Hash, false) + ")"
	if deleting {
		what = "delete the config (" + deletedAs(to) + ")"
	}
	n.Steps[0].Expected, n.Steps[0].Payload = live.MD5, payload
	n.Steps[0].Detail = what + ", seen as " + stateShown(be, t, live.Exists, live.Content, live.MD5)
	return nil
}

func (s *Server) apiRequestShowID(c echo.Context, status int, id int64) error {
	r, err := s.store.Request(c.Request().Context(), id)
	if err != nil {
		return err
	}
	b, err := s.toAPIRequest(c, r)
	if err != nil {
		return err
	}
	return c.JSON(status, b)
}

// apiComment is the body of approve, reject and cancel; it may be empty.
type apiComment struct {
	Comment string `json:"comment"`
}

func (s *Server) apiDecide(approve bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := idParam(c, "id")
		if err != nil {
			return err
		}
		var in apiComment
		if c.Request().ContentLength != 0 {
			if err := bind(c, &in); err != nil {
				return err
			}
		}
		if _, err := s.requests().Decide(c.Request().Context(), actor(c), id, approve, in.Comment); err != nil {
			return err
		}
		return s.apiRequestShowID(c, http.StatusOK, id)
	}
}

func (s *Server) apiCancel(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if _, err := s.requests().Cancel(c.Request().Context(), actor(c), id); err != nil {
		return err
	}
	return s.apiRequestShowID(c, http.StatusOK, id)
}

type apiAuditEvent struct {
	ID          int64     `json:"id"`
	At          time.Time `json:"at"`
	Actor       string    `json:"actor"`
	Action      string    `json:"action"`
	Environment string    `json:"environment"`
	TargetKind  string    `json:"target_kind"`
	Target      string    `json:"target"`
	RequestID   int64     `json:"request_id,omitempty"`
	Outcome     string    `json:"outcome"`
	Detail      string    `json:"detail"`
}

// auditScope lets an actor who does not see every environment (a token
// bound to environments, a user with roles in some only) read the audit
// trail of one of theirs at a time, named in the query parameter param.
func (s *Server) auditScope(param string, next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		names, err := s.visibleEnvironmentNames(c)
		if err != nil || names == nil {
			if err != nil {
				return err
			}
			return next(c)
		}
		if name := c.QueryParam(param); name != "" && slices.Contains(names, name) {
			return next(c)
		}
		return rewind.Errorf(rewind.EFORBIDDEN, "You see the audit trail of your own environments only: name one with %s=.", param)
	}
}

// apiAudit lists audit events newest first; filters actor, environment,
// target (part of the label), from and to (RFC 3339).
func (s *Server) apiAudit(c echo.Context) error {
	pageNo, perPage, err := pageParams(c)
	if err != nil {
		return err
	}
	f := rewind.AuditFilter{Actor: c.QueryParam("actor"), Environment: c.QueryParam("environment"), Target: c.QueryParam("target"),
		Offset: (pageNo - 1) * perPage, Limit: perPage}
	if f.Environments, err = s.visibleEnvironmentNames(c); err != nil {
		return err
	}
	for field, dst := range map[string]*time.Time{"from": &f.From, "to": &f.To} {
		if v := c.QueryParam(field); v != "" {
			if *dst, err = time.Parse(time.RFC3339, v); err != nil {
				return invalidField(field, "%s is a time such as 2026-12-01T22:00:00Z.", field)
			}
		}
	}
	evs, total, err := s.store.Audit(c.Request().Context(), f)
	if err != nil {
		return err
	}
	out := make([]apiAuditEvent, 0, len(evs))
	for _, e := range evs {
		out = append(out, apiAuditEvent{e.ID, e.At, e.Actor, e.Action, e.Environment, string(e.TargetKind), e.Target, e.RequestID, e.Outcome, e.Detail})
	}
	return apiJSON(c, 200, page{Items: out, Page: pageNo, PerPage: perPage, Total: total})
}
