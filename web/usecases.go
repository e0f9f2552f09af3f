package web

import (
	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/plans"
	"github.com/rewindhq/rewind/internal/releases"
	"github.com/rewindhq/rewind/internal/requests"
)

// requests returns the request use cases that pages and API share.
func (s *Server) requests() *requests.Service { return requests.New(s.store, s.runner) }

// releases returns the workflow and release use cases.
func (s *Server) releases() *releases.Service { return releases.New(s.store) }

// plans returns the use cases of plans that span several targets.
func (s *Server) plans() *plans.Service {
	return plans.New(s.store, s.opt.Planners, s.releases(), s.requests())
}

// actor is who acts in c: the API token's actor, or the logged-in user.
func actor(c echo.Context) requests.Actor {
	if a, ok := c.Get("actor").(requests.Actor); ok {
		return a
	}
	if u := currentUser(c); u != nil {
		return requests.Actor{User: *u}
	}
	return requests.Actor{}
}
