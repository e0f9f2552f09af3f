package web

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/plans"
)

// apiPlan is a plan before it is asked for.
type apiPlan struct {
	ReleaseID   int64         `json:"release_id"`
	ToReleaseID int64         `json:"to_release_id,omitempty"`
	Plan        string        `json:"plan"` // the plan's fingerprint, to send back with the rollback
	Steps       []apiPlanStep `json:"steps"`
	Warnings    []string      `json:"warnings"`
}

type apiPlanStep struct {
	Key            string         `json:"key"`
	TargetID       int64          `json:"target_id"`
	Target         string         `json:"target"`
	Kind           string         `json:"kind"`
	Detail         string         `json:"detail"`
	Runnable       bool           `json:"runnable"`
	AlreadyThere   bool           `json:"already_there"`
	Blocked        string         `json:"blocked,omitempty"`
	Warnings       []string       `json:"warnings,omitempty"`
	Checks         []apiPlanCheck `json:"checks"`
	Confirm        string         `json:"confirm,omitempty"` // to type in confirm[key] to allow the step
	Rows           int            `json:"saved_rows,omitempty"`
	CurrentVersion int64          `json:"current_version,omitempty"`
	ToVersion      int64          `json:"to_version,omitempty"`
}

// apiPlanCheck is one pre-flight check of a step.
type apiPlanCheck struct {
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Message string `json:"message"`
}

func toAPIPlan(p *plans.Plan) apiPlan {
	out := apiPlan{ReleaseID: p.Release.Release.ID, Plan: p.Hash, Steps: []apiPlanStep{}, Warnings: p.Warnings}
	if out.Warnings == nil {
		out.Warnings = []string{}
	}
	if p.To != nil {
		out.ToReleaseID = p.To.ID
	}
	for _, st := range p.Steps {
		s := apiPlanStep{Key: st.Key, TargetID: st.Target.ID, Target: st.Target.Label(), Kind: string(st.Target.Kind), Detail: st.Step.Detail,
			Runnable: st.Runnable(), AlreadyThere: st.AlreadyThere, Blocked: st.Blocked, Warnings: st.Warnings, Checks: []apiPlanCheck{},
			Confirm: st.Confirm, Rows: st.Rows}
		for _, ch := range st.Checks {
			s.Checks = append(s.Checks, apiPlanCheck{ch.Name, ch.OK, ch.Message})
		}
		if st.Current != nil {
			s.CurrentVersion = st.Current.Number
		}
		if st.To != nil {
			s.ToVersion = st.To.Number
		}
		out.Steps = append(out.Steps, s)
	}
	return out
}

// apiReleasePlan shows the plan of rolling a release back (to=ID: to the
// end of that earlier release); it changes nothing.
func (s *Server) apiReleasePlan(c echo.Context) error {
	p, err := s.apiPlanOf(c, c.QueryParam("to"))
	if err != nil {
		return err
	}
	return apiJSON(c, http.StatusOK, toAPIPlan(p))
}

func (s *Server) apiPlanOf(c echo.Context, to string) (*plans.Plan, error) {
	id, err := idParam(c, "id")
	if err != nil {
		return nil, err
	}
	var toID int64
	if to != "" && to != "0" {
		if toID, err = strconv.ParseInt(to, 10, 64); err != nil || toID < 1 {
			return nil, invalidField("to_release_id", "Give the ID of the earlier release to return to.")
		}
	}
	return s.plans().ReleaseRollback(c.Request().Context(), actor(c), id, toID)
}

// apiNewReleaseRollback is the body of POST /releases/{id}/rollback.
type apiNewReleaseRollback struct {
	Reason      string `json:"reason"`
	Plan        string `json:"plan"`
	ToReleaseID int64  `json:"to_release_id,omitempty"`
	// Steps are the keys of the steps to run, in order; none means every
	// runnable step in the plan's order.
	Steps   []string          `json:"steps,omitempty"`
	Confirm map[string]string `json:"confirm,omitempty"`
	SQL     map[string]string `json:"sql,omitempty"`
}

// apiReleaseRollback asks for the rollback of a release as one plan. The
// plan must be the one shown (its fingerprint from GET .../plan), or it is
// refused with 409 and nothing is asked.
func (s *Server) apiReleaseRollback(c echo.Context) error {
	var in apiNewReleaseRollback
	if err := bind(c, &in); err != nil {
		return err
	}
	if in.Plan == "" {
		return invalidField("plan", "Send the plan's fingerprint from GET /releases/{id}/plan, so that what runs is what you saw.")
	}
	p, err := s.apiPlanOf(c, strconv.FormatInt(in.ToReleaseID, 10))
	if err != nil {
		return err
	}
	keys := in.Steps
	if len(keys) == 0 {
		for _, st := range p.Steps {
			if st.Runnable() {
				keys = append(keys, st.Key)
			}
		}
	}
	r, err := s.plans().Submit(c.Request().Context(), actor(c), p, plans.Choice{Keys: keys, SQL: in.SQL, Confirm: in.Confirm, Reason: in.Reason, SeenHash: in.Plan})
	if err != nil {
		return err
	}
	return s.apiRequestShowID(c, http.StatusCreated, r.ID)
}

// apiRetry runs the failed step of a failed plan again.
func (s *Server) apiRetry(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if _, err := s.requests().Retry(c.Request().Context(), actor(c), id); err != nil {
		return err
	}
	return s.apiRequestShowID(c, http.StatusOK, id)
}

// apiSkip skips the failed step of a failed plan, with a reason.
func (s *Server) apiSkip(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	var in struct {
		Reason string `json:"reason"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	if _, err := s.requests().Skip(c.Request().Context(), actor(c), id, in.Reason); err != nil {
		return err
	}
	return s.apiRequestShowID(c, http.StatusOK, id)
}
