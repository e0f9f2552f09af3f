package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/auth"
	"github.com/rewindhq/rewind/internal/i18n"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/templates"
)

// Bounds of the login form's fields.
var loginFields = []FieldLimit{{"username", "A username", 64}, {"password", "A password", 1024}, {"next", "The page to go to", 2048}}

func (s *Server) loginForm(c echo.Context) error {
	if currentUser(c) != nil {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	v := s.loginView(c, templates.LoginView{Next: safeNext(c.QueryParam("next"))})
	return s.render(c, http.StatusOK, s.meta(c, "Sign in", ""), templates.LoginPage(v))
}

func (s *Server) login(c echo.Context) error {
	ctx := c.Request().Context()
	name := strings.TrimSpace(c.FormValue("username"))
	pw := c.FormValue("password")
	view := s.loginView(c, templates.LoginView{Username: name, Next: safeNext(c.FormValue("next"))})
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
	u, source, err := s.checkPassword(ctx, name, pw, addr)
	done(err == nil)
	switch {
	case rewind.ErrorCode(err) == rewind.EUNAUTHORIZED:
		if err := s.store.AddLoginFailure(ctx, auth.Bound(name, 64), auth.Bound(addr, 64)); err != nil {
			s.log.Warn("audit failed login", "err", err)
		}
		return page(http.StatusUnauthorized, i18n.Error(ctx, err))
	case rewind.ErrorCode(err) == rewind.EINTERNAL:
		return err
	case err != nil:
		return page(statusOf(rewind.ErrorCode(err)), i18n.Error(ctx, err))
	}
	if err := s.startSession(c, u, source, ""); err != nil {
		return err
	}
	if source == rewind.SourceLocal {
		_ = s.store.AddAudit(ctx, rewind.AuditEvent{Actor: u.Username, Action: rewind.ActionLogin, Outcome: "ok",
			Detail: "from " + auth.Bound(addr, rewind.MaxSessionAddress) + " with a local password"})
	}
	return redirect(c, view.Next)
}

// errWrongPassword is the one answer to a wrong username or password.
var errWrongPassword = rewind.Errorf(rewind.EUNAUTHORIZED, "Wrong username or password.")

// checkPassword signs in with the password form: a local user against their
// password (when local passwords are on), anyone else against the LDAP
// directory, which makes or updates their user (audited there). It returns
// the user and how they signed in; an EUNAUTHORIZED error is a failed
// attempt, which the throttle and audit trail count.
func (s *Server) checkPassword(ctx context.Context, name, pw, addr string) (*rewind.User, string, error) {
	u, err := s.store.UserByName(ctx, name)
	if err != nil && rewind.ErrorCode(err) != rewind.ENOTFOUND {
		return nil, "", err
	}
	local := err == nil && u.Source == rewind.SourceLocal
	if local || s.opt.Signin.LDAP == nil {
		hash := ""
		if local {
			hash = u.PasswordHash
		}
		if !auth.CheckPassword(hash, pw) {
			return nil, "", errWrongPassword
		}
		if !s.localLogin(ctx) {
			return nil, "", rewind.Errorf(rewind.EFORBIDDEN, "An admin has turned off signing in with local passwords.")
		}
		return u, rewind.SourceLocal, nil
	}
	if err == nil && u.Source == rewind.SourceOIDC {
		auth.CheckPassword("", pw) // as long as a wrong password
		return nil, "", errWrongPassword
	}
	id, err := s.opt.Signin.LDAP.Authenticate(ctx, name, pw)
	if err != nil {
		return nil, "", err
	}
	u, err = s.opt.Signin.Service.Admit(ctx, id, "", auth.Bound(addr, rewind.MaxSessionAddress))
	if err != nil {
		return nil, "", err
	}
	return u, rewind.SourceLDAP, nil
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
