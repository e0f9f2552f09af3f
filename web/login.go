package web

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/auth"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/templates"
)

// Bounds of the login form's fields.
var loginFields = []FieldLimit{{"username", "A username", 64}, {"password", "A password", 1024}, {"next", "The page to go to", 2048}}

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
	page := func(status int, msg string) error {
		view.Error = msg
		return s.render(c, status, s.meta(c, "Sign in", ""), templates.LoginPage(view))
	}
	if err := checkFields(c, loginFields...); err != nil {
		return page(http.StatusUnprocessableEntity, rewind.ErrorMessage(err))
	}
	addr := c.RealIP()
	done, wait := s.throttle.Begin(name, addr)
	if wait > 0 {
		return page(http.StatusTooManyRequests, "Too many failed logins. Try again in "+max(wait.Round(time.Second), time.Second).String()+".")
	}
	u, err := s.store.UserByName(ctx, name)
	hash := ""
	if err == nil {
		hash = u.PasswordHash
	}
	ok := auth.CheckPassword(hash, pw)
	done(ok)
	if !ok {
		if err := s.store.AddLoginFailure(ctx, auth.Bound(name, 64), auth.Bound(addr, 64)); err != nil {
			s.log.Warn("audit failed login", "err", err)
		}
		return page(http.StatusUnauthorized, "Wrong username or password.")
	}

	sess := session(c)
	if old := currentSession(c); old != nil {
		if err := s.store.DeleteSession(ctx, old.ID); err != nil {
			return err
		}
	}
	token, now := randomToken(), s.now()
	record := &rewind.Session{ID: sessionID(token), UserID: u.ID, CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(s.opt.SessionLifetime),
		Address: auth.Bound(addr, rewind.MaxSessionAddress), UserAgent: auth.Bound(c.Request().UserAgent(), rewind.MaxSessionUserAgent)}
	if err := s.store.CreateSession(ctx, record, s.opt.SessionIdle); err != nil {
		return err
	}
	for k := range sess.Values {
		delete(sess.Values, k) // a new session on login: no fixation
	}
	sess.Values[sessionIDKey] = token
	sess.Values["csrf"] = randomToken()
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	_ = s.store.AddAudit(ctx, rewind.AuditEvent{Actor: u.Username, Action: rewind.ActionLogin, Outcome: "ok", Detail: "from " + record.Address})
	return redirect(c, view.Next)
}

func (s *Server) logout(c echo.Context) error {
	ctx := c.Request().Context()
	if ss := currentSession(c); ss != nil {
		if err := s.store.DeleteSession(ctx, ss.ID); err != nil {
			return err
		}
	}
	if u := currentUser(c); u != nil {
		_ = s.store.AddAudit(ctx, rewind.AuditEvent{Actor: u.Username, Action: rewind.ActionLogout, Outcome: "ok"})
	}
	sess := session(c)
	sess.Options.MaxAge = -1
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	return redirect(c, "/login")
}

// safeNext keeps a post-login destination only when it is a path on this
// site: one leading slash, no backslash, no control character, nothing that
// a browser could read as another host (also once percent-decoded), and not
// the login page itself. Anything else gives "/".
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || len(next) > 2048 {
		return "/"
	}
	decoded := next
	for range 3 { // %252f%252f and the like
		d, err := url.PathUnescape(decoded)
		if err != nil {
			return "/"
		}
		if d == decoded {
			break
		}
		decoded = d
	}
	for _, p := range []string{next, decoded} {
		if strings.HasPrefix(p, "//") || strings.ContainsRune(p, '\\') || strings.HasPrefix(p, "/login") {
			return "/"
		}
		for _, r := range p {
			if r < 0x20 || r == 0x7f {
				return "/"
			}
		}
	}
	if u, err := url.Parse(next); err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return "/"
	}
	return next
}

func (s *Server) home(c echo.Context) error { return c.Redirect(http.StatusSeeOther, "/services") }
