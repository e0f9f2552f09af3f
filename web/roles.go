package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/rewind"
)

// Scope says where a route's role must be held.
type Scope string

// The scopes of routes.
const (
	// Anywhere: the role in at least one environment. Lists show only what
	// the user may read; a use case checks the environment of what a form
	// names.
	Anywhere Scope = "anywhere"
	// Everywhere: the role everywhere (Settings, for admins).
	Everywhere Scope = "everywhere"
	// The role in the environment of the target, request, release or
	// workflow that the route's :id names.
	InTarget   Scope = "target"
	InRequest  Scope = "request"
	InRelease  Scope = "release"
	InWorkflow Scope = "workflow"
)

// need is what a route needs: a role, held in a scope. The zero need is a
// public route.
type need struct {
	role  rewind.Role
	scope Scope
}

// in returns n held in scope.
func (n need) in(scope Scope) need { return need{n.role, scope} }

// require lets a request through only for a signed-in user (or API token)
// with n's role in n's scope. A user who cannot read the environment of
// what the route names gets a 404, as if it did not exist.
func (s *Server) require(n need) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			u := currentUser(c)
			if u == nil {
				if c.Request().Method == http.MethodGet && c.Request().Header.Get("HX-Request") == "" {
					return c.Redirect(http.StatusSeeOther, "/login?next="+urlQueryEscape(c.Request().URL.RequestURI()))
				}
				if c.Request().Method != http.MethodGet {
					return rewind.Errorf(rewind.EFORBIDDEN, "Log in first.")
				}
				return rewind.Errorf(rewind.EUNAUTHORIZED, "Log in first.")
			}
			a := actor(c)
			switch n.scope {
			case Everywhere:
				if !u.Role.Allows(n.role) || u.DisabledAt != nil {
					return rewind.Errorf(rewind.EFORBIDDEN, "This needs the %s role in every environment.", n.role)
				}
			case Anywhere, "":
				if !a.Reaches(n.role) {
					return rewind.Errorf(rewind.EFORBIDDEN, "This needs the %s role, which you have in no environment.", n.role)
				}
			default:
				env, err := s.envOf(c, n.scope)
				if err != nil {
					return err
				}
				if !a.Sees(env) {
					return rewind.Errorf(rewind.ENOTFOUND, "Not found.")
				}
				if err := a.May(n.role, env); err != nil {
					return err
				}
			}
			return next(c)
		}
	}
}

// envOf returns the environment of what the :id parameter names in scope.
func (s *Server) envOf(c echo.Context, scope Scope) (int64, error) {
	ctx := c.Request().Context()
	id, err := idParam(c, "id")
	if err != nil {
		return 0, err
	}
	switch scope {
	case InTarget:
		t, err := s.store.Target(ctx, id)
		if err != nil {
			return 0, err
		}
		return t.EnvironmentID, nil
	case InRequest:
		r, err := s.store.Request(ctx, id)
		if err != nil {
			return 0, err
		}
		return r.EnvironmentID, nil
	case InRelease:
		r, err := s.store.Release(ctx, id)
		if err != nil {
			return 0, err
		}
		id = r.WorkflowID
	}
	w, err := s.store.Workflow(ctx, id)
	if err != nil {
		return 0, err
	}
	return w.EnvironmentID, nil
}

// environments returns the environments the actor of c may read.
func (s *Server) environments(c echo.Context) ([]*rewind.Environment, error) {
	all, err := s.store.Environments(c.Request().Context())
	if err != nil {
		return nil, err
	}
	a := actor(c)
	out := all[:0:0]
	for _, e := range all {
		if a.Sees(e.ID) {
			out = append(out, e)
		}
	}
	return out, nil
}

// visibleEnvironmentIDs returns the IDs of the environments the actor of c
// may read, or nil when they read every one, also those made later: the
// value for a store filter's EnvironmentIDs.
func (s *Server) visibleEnvironmentIDs(c echo.Context) ([]int64, error) {
	all, err := s.store.Environments(c.Request().Context())
	if err != nil {
		return nil, err
	}
	a := actor(c)
	ids, every := []int64{}, len(a.Environments) == 0 && a.User.Role.Valid() && a.User.DisabledAt == nil
	for _, e := range all {
		if a.Sees(e.ID) {
			ids = append(ids, e.ID)
		} else {
			every = false
		}
	}
	if every {
		return nil, nil
	}
	return ids, nil
}

// visibleEnvironmentNames is visibleEnvironmentIDs by name: nil when the
// actor reads every environment (and what belongs to none, such as
// settings changes in the audit trail).
func (s *Server) visibleEnvironmentNames(c echo.Context) ([]string, error) {
	ids, err := s.visibleEnvironmentIDs(c)
	if err != nil || ids == nil {
		return nil, err
	}
	names, err := s.envNames(c)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, id := range ids {
		out = append(out, names[id])
	}
	return out, nil
}

// can reports whether the actor of c may act with role min in environment
// env: whether a page shows the action.
func can(c echo.Context, min rewind.Role, env int64) bool {
	return actor(c).May(min, env) == nil
}
