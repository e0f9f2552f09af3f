package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/templates"
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

// sessionIDKey is the cookie value that holds the session's token.
const sessionIDKey = "sid"

// touchEvery is how often a session's last-seen time is written at most.
const touchEvery = time.Minute

// loadSession reads the session cookie, makes sure it carries a CSRF token,
// and puts the logged-in user, if any, into the request. The user is the one
// of the server-side session the cookie names; a session that is gone, past
// its lifetime or idle too long logs nobody in.
func (s *Server) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sess, _ := s.sessions.Get(c.Request(), sessionName) // a bad cookie gives a new session
		token, _ := sess.Values["csrf"].(string)
		dirty := false
		if token == "" {
			token = randomToken()
			sess.Values["csrf"] = token
			dirty = true
		}
		if sid, ok := sess.Values[sessionIDKey].(string); ok && sid != "" {
			ss, u, err := s.activeSession(c, sid)
			if err != nil {
				return err
			}
			if u == nil {
				delete(sess.Values, sessionIDKey)
				dirty = true
			} else {
				c.Set("user", u)
				c.Set("sessionRecord", ss)
			}
		}
		if dirty {
			if err := sess.Save(c.Request(), c.Response()); err != nil {
				return fmt.Errorf("save session cookie: %w", err)
			}
		}
		c.Set("session", sess)
		c.Set("csrf", token)
		return next(c)
	}
}

// activeSession returns the session of a cookie's token and its user, nil
// when it has ended; an expired or idle session is removed.
func (s *Server) activeSession(c echo.Context, sid string) (*rewind.Session, *rewind.User, error) {
	ctx := c.Request().Context()
	ss, u, err := s.store.SessionUser(ctx, sessionID(sid))
	if rewind.ErrorCode(err) == rewind.ENOTFOUND {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load session: %w", err)
	}
	now := s.now()
	if !ss.Active(now, s.opt.SessionIdle) {
		if err := s.store.DeleteSession(ctx, ss.ID); err != nil {
			return nil, nil, err
		}
		return nil, nil, nil
	}
	if ss.Source != rewind.SourceLocal && ss.RecheckAt != nil && !now.Before(*ss.RecheckAt) {
		if u, err = s.recheck(ctx, ss, u); err != nil || u == nil {
			return nil, nil, err
		}
	}
	if now.Sub(ss.LastSeen) >= touchEvery {
		if err := s.store.TouchSession(ctx, ss.ID, now); err != nil {
			return nil, nil, err
		}
		ss.LastSeen = now
	}
	return ss, u, nil
}

// sessionID is the stored ID of a cookie's session token: its SHA-256, so
// that the store alone lets no one log in.
func sessionID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
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

// Caps on request bodies, applied before anything reads them.
const (
	defaultBodyLimit   = 2 << 20 // any form of a logged-in user
	anonymousBodyLimit = 16 << 10
	// sqlBodyLimit is the cap of the SQL forms: up to 1 MiB of SQL (and as
	// much rollback SQL), URL-encoded, which may triple its size.
	sqlBodyLimit = 8 << 20
)

// limitBody caps the request body before any parsing: limits holds the cap
// of a route ("POST /path/:id"), others get defaultBodyLimit, and a request
// without a logged-in user anonymousBodyLimit. A state-changing request's
// form is parsed here, in memory: its whole body fits the memory bound of
// the multipart parser, so no part is ever written to a temporary file. A
// body over its cap gets a 413 and nothing of it is used.
func (s *Server) limitBody(limits map[string]int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			n := int64(defaultBodyLimit)
			if l, ok := limits[r.Method+" "+c.Path()]; ok {
				n = l
			}
			if currentUser(c) == nil {
				n = min(n, anonymousBodyLimit)
			}
			if r.ContentLength > n {
				return s.tooLarge(c, n)
			}
			r.Body = http.MaxBytesReader(c.Response(), r.Body, n)
			switch r.Method {
			case http.MethodGet, http.MethodHead, http.MethodOptions:
				return next(c)
			}
			var err error
			if ct := r.Header.Get(echo.HeaderContentType); strings.HasPrefix(ct, echo.MIMEMultipartForm) {
				err = r.ParseMultipartForm(n)
				if err == nil && len(r.MultipartForm.File) > 0 {
					return s.answer(c, http.StatusUnsupportedMediaType, "Rewind takes no file uploads.")
				}
			} else {
				err = r.ParseForm()
			}
			var tooBig *http.MaxBytesError
			switch {
			case errors.As(err, &tooBig):
				return s.tooLarge(c, n)
			case errors.Is(err, http.ErrNotMultipart), errors.Is(err, http.ErrMissingBoundary):
				return s.answer(c, http.StatusBadRequest, "The form could not be read.")
			case err != nil:
				if strings.Contains(err.Error(), "request body too large") {
					return s.tooLarge(c, n)
				}
				return s.answer(c, http.StatusBadRequest, "The form could not be read.")
			}
			return next(c)
		}
	}
}

func (s *Server) tooLarge(c echo.Context, limit int64) error {
	msg := fmt.Sprintf("The form is larger than Rewind takes here (%s); nothing was saved. Go back to keep what you typed, shorten it and send it again.", byteSize(limit))
	if c.Path() == "/login" && !isHTMX(c) {
		return s.render(c, http.StatusRequestEntityTooLarge, s.meta(c, "Sign in", ""), templates.LoginPage(s.loginView(c, templates.LoginView{Next: "/", Error: msg})))
	}
	return s.answer(c, http.StatusRequestEntityTooLarge, msg)
}

// answer sends an error status with a message, as handleError does for
// errors: plain text for htmx, a page otherwise.
func (s *Server) answer(c echo.Context, status int, msg string) error {
	if isHTMX(c) || c.Request().Header.Get("Accept") == "text/plain" {
		c.Response().Header().Set("X-Rewind-Error", url.PathEscape(msg))
		return c.String(status, msg)
	}
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(status)
	return templates.ErrorPage(s.meta(c, "", ""), status, msg).Render(c.Request().Context(), c.Response())
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// FieldLimit is the most characters a form field may hold.
type FieldLimit struct {
	Field, Label string
	Max          int
}

// checkFields returns an EINVALID error naming the first field of the form
// longer than its limit, nil when all fit. A handler that gets one shows its
// form again with a 422 and the values as typed.
func checkFields(c echo.Context, limits ...FieldLimit) error {
	for _, l := range limits {
		if n := utf8.RuneCountInString(c.FormValue(l.Field)); n > l.Max {
			return rewind.Errorf(rewind.EINVALID, "%s has at most %d characters; this one has %d.", l.Label, l.Max, n)
		}
	}
	return nil
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

// currentSession is the server-side session of the request, nil when logged out.
func currentSession(c echo.Context) *rewind.Session {
	ss, _ := c.Get("sessionRecord").(*rewind.Session)
	return ss
}

// notFoundUnlessRoute answers 404 for a request whose path no route's pattern
// matches. Echo's router can answer 405 for such a path when part of it
// matched a route of another method; an unknown URL is a 404 for everyone.
func notFoundUnlessRoute(patterns []string) echo.MiddlewareFunc {
	re := map[string]*regexp.Regexp{}
	for _, p := range patterns {
		var b strings.Builder
		b.WriteString("^")
		for i, seg := range strings.Split(p, "/") {
			if i > 0 {
				b.WriteString("/")
			}
			switch {
			case strings.HasPrefix(seg, ":"):
				b.WriteString("[^/]+")
			case seg == "*":
				b.WriteString(".*")
			default:
				b.WriteString(regexp.QuoteMeta(seg))
			}
		}
		b.WriteString("$")
		re[p] = regexp.MustCompile(b.String())
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if r, ok := re[c.Path()]; !ok || !r.MatchString(c.Request().URL.Path) {
				return echo.ErrNotFound
			}
			return next(c)
		}
	}
}
