package web

import (
	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/requests"
)

// requests returns the request use cases that pages and API share.
func (s *Server) requests() *requests.Service { return requests.New(s.store, s.runner) }

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
