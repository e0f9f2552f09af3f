package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/rewind"
)

const sessionName = "rewind"

// logRequests writes one structured log line per request; it never logs
// query strings or form values, which may hold secrets.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		user := ""
		if u := currentUser(c); u != nil {
			user = u.Username
		}
		s.log.Info("request", "method", c.Request().Method, "path", c.Request().URL.Path,
			"status", c.Response().Status, "ms", float64(time.Since(start).Microseconds())/1000, "user", user)
		return nil
	}
}

// securityHeaders forbids framing, sniffing and any script not served by Rewind.
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		return next(c)
	}
}

// loadSession reads the session cookie, makes sure it carries a CSRF token,
// and puts the logged-in user, if any, into the request.
func (s *Server) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sess, _ := s.sessions.Get(c.Request(), sessionName) // a bad cookie gives a new session
		token, _ := sess.Values["csrf"].(string)
		if token == "" {
			token = randomToken()
			sess.Values["csrf"] = token
			if err := sess.Save(c.Request(), c.Response()); err != nil {
				return err
			}
		}
		c.Set("session", sess)
		c.Set("csrf", token)
		if name, ok := sess.Values["user"].(string); ok && name != "" {
			if u, err := s.store.UserByName(c.Request().Context(), name); err == nil {
				c.Set("user", u)
			}
		}
		return next(c)
	}
}

// checkCSRF refuses any state-changing request without the session's token,
// given as form field csrf_token or header X-CSRF-Token.
func (s *Server) checkCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		want := c.Get("csrf").(string)
		got := c.Request().Header.Get("X-CSRF-Token")
		if got == "" {
			got = c.FormValue("csrf_token")
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			return rewind.Errorf(rewind.EFORBIDDEN, "The form has expired or did not come from Rewind. Reload the page and try again.")
		}
		return next(c)
	}
}

// require lets a request through only for a logged-in user with at least role min.
func (s *Server) require(min rewind.Role) echo.MiddlewareFunc {
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
			if !u.Role.Allows(min) {
				return rewind.Errorf(rewind.EFORBIDDEN, "This needs the %s role; you are %s.", min, u.Role)
			}
			return next(c)
		}
	}
}

func currentUser(c echo.Context) *rewind.User {
	u, _ := c.Get("user").(*rewind.User)
	return u
}

func session(c echo.Context) *sessions.Session {
	sess, _ := c.Get("session").(*sessions.Session)
	return sess
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
