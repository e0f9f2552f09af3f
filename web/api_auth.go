package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/requests"
	"github.com/rewindhq/rewind/internal/rewind"
)

// apiAuth lets an /api/v1 request through only with a valid bearer token.
// The API takes no session cookie at all, so a browser session can never
// drive it without CSRF protection, and tokens never reach the pages,
// whose middleware reads only the session cookie.
func (s *Server) apiAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		h := c.Request().Header.Get("Authorization")
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || !strings.HasPrefix(token, rewind.TokenPrefix) {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="rewind"`)
			return rewind.Errorf(rewind.EUNAUTHORIZED, "Give an API token as Authorization: Bearer rwd_...")
		}
		t, err := s.store.TokenByHash(ctx, rewind.HashToken(strings.TrimSpace(token)))
		if rewind.ErrorCode(err) == rewind.ENOTFOUND {
			return rewind.Errorf(rewind.EUNAUTHORIZED, "Unknown API token.")
		}
		if err != nil {
			return err
		}
		if err := t.Usable(timeNow()); err != nil {
			return err
		}
		a := requests.Actor{Token: t.Name, ReadOnly: t.ReadOnly, Environments: t.Environments}
		if t.Service() {
			a.User = t.User()
		} else {
			u, err := s.store.UserByName(ctx, t.Username)
			if err != nil {
				return rewind.Errorf(rewind.EUNAUTHORIZED, "The owner of this API token no longer exists.")
			}
			if u.DisabledAt != nil {
				return rewind.Errorf(rewind.EUNAUTHORIZED, "The owner of this API token has no access any more.")
			}
			a.User = *u
		}
		if a.ReadOnly && c.Request().Method != http.MethodGet && c.Request().Method != http.MethodHead {
			return rewind.Errorf(rewind.EFORBIDDEN, "This token is read-only.")
		}
		if err := s.store.TouchToken(ctx, t.ID); err != nil {
			return err
		}
		c.Set("actor", a)
		c.Set("user", &a.User)
		return next(c)
	}
}
