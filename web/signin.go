package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/auth"
	"github.com/rewindhq/rewind/internal/i18n"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/signin"
	"github.com/rewindhq/rewind/templates"
)

// Signin is how people sign in besides local passwords; a nil provider is
// not offered.
type Signin struct {
	OIDC *signin.OIDC
	LDAP *signin.LDAP
	// Service admits the people a provider signs in; needed with one.
	Service *signin.Service
	// Recheck is how often a provider is asked again whether a signed-in
	// person still holds their groups; default 10 minutes.
	Recheck time.Duration
}

// settingLocalLogin is the setting that turns the password form of local
// users off ("off").
const settingLocalLogin = "local_login"

// localLogin reports whether local users may sign in with their password.
func (s *Server) localLogin(ctx context.Context) bool {
	v, _, err := s.store.Setting(ctx, settingLocalLogin)
	return err != nil || v != "off"
}

// loginView is the login page: the password form when local users or an
// LDAP directory may use it, and "Sign in with …" for an OIDC provider.
func (s *Server) loginView(c echo.Context, v templates.LoginView) templates.LoginView {
	v.CSRF = csrfToken(c)
	v.PasswordForm = s.opt.Signin.LDAP != nil || s.localLogin(c.Request().Context())
	if s.opt.Signin.OIDC != nil {
		v.OIDCName = s.opt.Signin.OIDC.Name()
	}
	return v
}

// pendingKey holds a started OIDC sign-in in the session cookie.
const pendingKey = "oidc"

// oidcStart sends the browser to the OIDC provider to sign in.
func (s *Server) oidcStart(c echo.Context) error {
	o := s.opt.Signin.OIDC
	if o == nil {
		return echo.ErrNotFound
	}
	url, pend, err := o.Start(c.Request().Context(), safeNext(c.QueryParam("next")))
	if err != nil {
		return s.loginRefused(c, http.StatusServiceUnavailable, err, "/")
	}
	b, err := json.Marshal(pend)
	if err != nil {
		return err
	}
	sess := session(c)
	sess.Values[pendingKey] = string(b)
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, url)
}

// oidcCallback finishes an OIDC sign-in: the pending sign-in of this
// browser is used once, whatever comes of it.
func (s *Server) oidcCallback(c echo.Context) error {
	ctx := c.Request().Context()
	o := s.opt.Signin.OIDC
	if o == nil {
		return echo.ErrNotFound
	}
	sess := session(c)
	var pend signin.Pending
	if raw, ok := sess.Values[pendingKey].(string); ok {
		_ = json.Unmarshal([]byte(raw), &pend)
	}
	delete(sess.Values, pendingKey)
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	if e := c.QueryParam("error"); e != "" {
		return s.loginRefused(c, http.StatusUnauthorized, rewind.Errorf(rewind.EUNAUTHORIZED, "%s did not sign you in: %s",
			o.Name(), auth.Bound(e+" "+c.QueryParam("error_description"), 200)), pend.Next)
	}
	id, tokens, err := o.Finish(ctx, pend, c.QueryParam("state"), c.QueryParam("code"))
	if err != nil {
		s.log.Warn("oidc sign-in refused", "err", err, "address", c.RealIP())
		return s.loginRefused(c, http.StatusUnauthorized, err, pend.Next)
	}
	u, err := s.opt.Signin.Service.Admit(ctx, id, o.Name(), auth.Bound(c.RealIP(), rewind.MaxSessionAddress))
	if err != nil {
		return s.loginRefused(c, statusOf(rewind.ErrorCode(err)), err, pend.Next)
	}
	if err := s.startSession(c, u, rewind.SourceOIDC, tokens.Refresh); err != nil {
		return err
	}
	return redirect(c, safeNext(pend.Next))
}

// loginRefused shows the login page with why signing in failed.
func (s *Server) loginRefused(c echo.Context, status int, err error, next string) error {
	if rewind.ErrorCode(err) == rewind.EINTERNAL {
		return err
	}
	v := s.loginView(c, templates.LoginView{Next: safeNext(next), Error: i18n.Error(c.Request().Context(), err)})
	return s.render(c, status, s.meta(c, "Sign in", ""), templates.LoginPage(v))
}

// startSession signs u in on this browser: a new server-side session (the
// old one of this browser ends), a new cookie and CSRF token. A provider's
// session is checked with the provider again after Recheck.
func (s *Server) startSession(c echo.Context, u *rewind.User, source, refresh string) error {
	ctx := c.Request().Context()
	sess := session(c)
	if old := currentSession(c); old != nil {
		if err := s.store.DeleteSession(ctx, old.ID); err != nil {
			return err
		}
	}
	token, now := randomToken(), s.now()
	record := &rewind.Session{ID: sessionID(token), UserID: u.ID, CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(s.opt.SessionLifetime),
		Address: auth.Bound(c.RealIP(), rewind.MaxSessionAddress), UserAgent: auth.Bound(c.Request().UserAgent(), rewind.MaxSessionUserAgent),
		Source: source, RefreshToken: refresh}
	if source != rewind.SourceLocal {
		at := now.Add(s.recheckEvery())
		record.RecheckAt = &at
	}
	if err := s.store.CreateSession(ctx, record, s.opt.SessionIdle); err != nil {
		return err
	}
	for k := range sess.Values {
		delete(sess.Values, k) // a new session on login: no fixation
	}
	sess.Values[sessionIDKey] = token
	sess.Values["csrf"] = randomToken()
	return sess.Save(c.Request(), c.Response())
}

func (s *Server) recheckEvery() time.Duration {
	if s.opt.Signin.Recheck > 0 {
		return s.opt.Signin.Recheck
	}
	return 10 * time.Minute
}

// rechecks serialises the checks of one session, so that two requests do
// not spend the same refresh token.
var rechecks sync.Map // session ID → *sync.Mutex

// recheck asks the provider again about the user of a session due for it:
// an OIDC refresh, an LDAP look-up. Their roles follow their groups; a
// person the provider refuses, or who lost every role, is signed out (the
// second also loses their other sessions and tokens). It returns the user
// to go on with, or nil when the session has ended.
func (s *Server) recheck(ctx context.Context, ss *rewind.Session, u *rewind.User) (*rewind.User, error) {
	mu, _ := rechecks.LoadOrStore(ss.ID, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	defer rechecks.Delete(ss.ID)
	// Another request may have done it meanwhile.
	fresh, fu, err := s.store.SessionUser(ctx, ss.ID)
	if rewind.ErrorCode(err) == rewind.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	if fresh.RecheckAt == nil || now.Before(*fresh.RecheckAt) {
		return fu, nil
	}
	var id signin.Identity
	refresh := ""
	cfg := s.opt.Signin
	switch {
	case fresh.Source == rewind.SourceOIDC && cfg.OIDC != nil:
		var tokens signin.Tokens
		id, tokens, err = cfg.OIDC.Refresh(ctx, fresh.RefreshToken)
		refresh = tokens.Refresh
	case fresh.Source == rewind.SourceLDAP && cfg.LDAP != nil:
		id, err = cfg.LDAP.Lookup(ctx, u.Subject)
	default:
		err = rewind.Errorf(rewind.EUNAUTHORIZED, "The way you signed in is no longer offered; sign in again.")
	}
	if err == nil {
		name := ""
		if fresh.Source == rewind.SourceOIDC {
			name = cfg.OIDC.Name()
		}
		fu, err = cfg.Service.Recheck(ctx, id, name)
	}
	if err == nil && id.Subject != u.Subject {
		err = rewind.Errorf(rewind.EUNAUTHORIZED, "The provider now names someone else; sign in again.")
	}
	if err != nil {
		s.log.Info("session ended at its recheck", "user", u.Username, "source", fresh.Source, "reason", err)
		if errors.Is(err, signin.ErrNoRole) {
			return nil, nil // disabled: the sessions went with it
		}
		return nil, s.store.DeleteSession(ctx, ss.ID)
	}
	if err := s.store.RecheckedSession(ctx, ss.ID, refresh, now.Add(s.recheckEvery())); err != nil {
		return nil, err
	}
	return fu, nil
}

// signinSettings shows how people sign in, and lets an admin turn the
// password form of local users off.
func (s *Server) signinSettings(c echo.Context) error {
	return s.renderSigninSettings(c, http.StatusOK, "")
}

func (s *Server) renderSigninSettings(c echo.Context, status int, errMsg string) error {
	ctx := c.Request().Context()
	v := templates.SigninSettingsView{CSRF: csrfToken(c), LocalLogin: s.localLogin(ctx), Error: errMsg}
	if svc := s.opt.Signin.Service; svc != nil {
		for _, g := range svc.Mapping() {
			row := templates.GroupRow{Group: g.Group, Role: g.Role, Envs: map[string]rewind.Role{}}
			for env, r := range g.Environments {
				row.Envs[env] = r
			}
			v.Groups = append(v.Groups, row)
		}
	}
	if o := s.opt.Signin.OIDC; o != nil {
		v.OIDC = &templates.OIDCState{Name: o.Name(), Issuer: o.Issuer(), ClientID: o.ClientID()}
	}
	if l := s.opt.Signin.LDAP; l != nil {
		v.LDAPURL = l.URL()
	}
	return s.render(c, status, s.meta(c, "Sign-in", "settings"), templates.SigninSettingsPage(v))
}

// signinSave turns the password form of local users on or off. It stays on
// while no provider is configured, so that nobody is locked out.
func (s *Server) signinSave(c echo.Context) error {
	ctx := c.Request().Context()
	on := c.FormValue("local_login") == "on"
	if !on && s.opt.Signin.OIDC == nil && s.opt.Signin.LDAP == nil {
		return s.renderSigninSettings(c, http.StatusUnprocessableEntity,
			i18n.T(ctx, "Local passwords are the only way to sign in: configure an OIDC provider or an LDAP directory first."))
	}
	value, what := "on", i18n.M("Local users may sign in with their password.")
	if !on {
		value, what = "off", i18n.M("Local users may no longer sign in with their password.")
	}
	ev := rewind.AuditEvent{Actor: currentUser(c).Username, Action: rewind.ActionSettingsChange, Outcome: "ok", Detail: what}
	if err := s.store.SetSetting(ctx, settingLocalLogin, value, ev); err != nil {
		return err
	}
	flash(c, 's', i18n.T(ctx, what))
	return redirect(c, "/settings/signin")
}
