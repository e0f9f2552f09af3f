package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/auth"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/templates"
)

func (s *Server) loginForm(c echo.Context) error {
	if currentUser(c) != nil {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	return s.render(c, http.StatusOK, s.meta(c, "Sign in", ""), templates.LoginPage(templates.LoginView{CSRF: csrfToken(c), Next: safeNext(c.QueryParam("next"))}))
}

func (s *Server) login(c echo.Context) error {
	ctx := c.Request().Context()
	name := strings.TrimSpace(c.FormValue("username"))
	pw := c.FormValue("password")
	view := templates.LoginView{CSRF: csrfToken(c), Username: name, Next: safeNext(c.FormValue("next"))}
	key := strings.ToLower(name) + "|" + c.RealIP()
	if wait := s.throttle.Wait(key); wait > 0 {
		view.Error = "Too many failed logins. Try again in " + wait.Round(time.Second).String() + "."
		return s.render(c, http.StatusTooManyRequests, s.meta(c, "Sign in", ""), templates.LoginPage(view))
	}
	u, err := s.store.UserByName(ctx, name)
	hash := ""
	if err == nil {
		hash = u.PasswordHash
	}
	if !auth.CheckPassword(hash, pw) {
		s.throttle.Fail(key)
		_ = s.store.AddAudit(ctx, rewind.AuditEvent{Actor: name, Action: rewind.ActionLoginFailed, Outcome: "denied", Detail: "from " + c.RealIP()})
		view.Error = "Wrong username or password."
		return s.render(c, http.StatusUnauthorized, s.meta(c, "Sign in", ""), templates.LoginPage(view))
	}
	s.throttle.Succeed(key)
	sess := session(c)
	for k := range sess.Values {
		delete(sess.Values, k) // a new session on login: no fixation
	}
	sess.Values["user"] = u.Username
	sess.Values["csrf"] = randomToken()
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	_ = s.store.AddAudit(ctx, rewind.AuditEvent{Actor: u.Username, Action: rewind.ActionLogin, Outcome: "ok", Detail: "from " + c.RealIP()})
	return redirect(c, view.Next)
}

func (s *Server) logout(c echo.Context) error {
	sess := session(c)
	if u := currentUser(c); u != nil {
		_ = s.store.AddAudit(c.Request().Context(), rewind.AuditEvent{Actor: u.Username, Action: rewind.ActionLogout, Outcome: "ok"})
	}
	sess.Options.MaxAge = -1
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	return redirect(c, "/login")
}

// safeNext keeps a post-login destination only when it is a path on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.HasPrefix(next, "/login") {
		return "/"
	}
	return next
}

func (s *Server) home(c echo.Context) error { return c.Redirect(http.StatusSeeOther, "/services") }
