package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/i18n"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/templates"
)

// render sends body: alone for an htmx request, inside the layout otherwise.
func (s *Server) render(c echo.Context, status int, m templates.PageMeta, body templ.Component) error {
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().Header().Set("Vary", "HX-Request")
	c.Response().WriteHeader(status)
	ctx := c.Request().Context()
	if isHTMX(c) {
		return body.Render(ctx, c.Response())
	}
	return templates.Layout(m).Render(templ.WithChildren(ctx, body), c.Response())
}

func isHTMX(c echo.Context) bool {
	return c.Request().Header.Get("HX-Request") == "true" && c.Request().Header.Get("HX-Boosted") == ""
}

// meta builds the page frame for the current user, taking the flash messages.
func (s *Server) meta(c echo.Context, title, active string) templates.PageMeta {
	m := templates.PageMeta{Title: title, Active: active, CSRF: csrfToken(c)}
	if u := currentUser(c); u != nil {
		role := string(u.Role)
		if u.Role == rewind.RoleNone {
			role = i18n.T(c.Request().Context(), "roles per environment")
		}
		m.User = &templates.UserView{Username: u.Username, Role: role}
	}
	if sess := session(c); sess != nil {
		flashes := sess.Flashes()
		for _, f := range flashes {
			if fl, ok := f.(string); ok && len(fl) > 2 {
				m.Flash = append(m.Flash, templates.Flash{Kind: map[byte]string{'s': templates.FlashSuccess, 'e': templates.FlashError}[fl[0]], Text: fl[2:]})
			}
		}
		if len(flashes) > 0 {
			_ = sess.Save(c.Request(), c.Response()) // they are shown once
		}
	}
	return m
}

func csrfToken(c echo.Context) string {
	t, _ := c.Get("csrf").(string)
	return t
}

// flash keeps a one-time message for the next page; kind is 's' or 'e'.
func flash(c echo.Context, kind byte, text string) {
	if sess := session(c); sess != nil {
		sess.AddFlash(string(kind) + ":" + text)
		_ = sess.Save(c.Request(), c.Response())
	}
}

// redirect sends the browser to path after a form post, also under htmx.
func redirect(c echo.Context, path string) error {
	if isHTMX(c) {
		c.Response().Header().Set("HX-Redirect", path)
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, path)
}

// handleError answers an error with the status its code maps to, as a page,
// or as plain text for htmx (shown as a flash message).
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, msg := http.StatusInternalServerError, rewind.ErrorMessage(err)
	var he *echo.HTTPError
	if errors.As(err, &he) {
		status, msg = he.Code, http.StatusText(he.Code)
	} else {
		status = statusOf(rewind.ErrorCode(err))
	}
	if status >= 500 {
		s.log.Error("request failed", "path", c.Request().URL.Path, "err", err)
	}
	if isHTMX(c) || c.Request().Header.Get("Accept") == "text/plain" {
		c.Response().Header().Set("X-Rewind-Error", url.PathEscape(msg))
		_ = c.String(status, msg)
		return
	}
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(status)
	_ = templates.ErrorPage(s.meta(c, "", ""), status, msg).Render(c.Request().Context(), c.Response())
}

func statusOf(code string) int {
	switch code {
	case rewind.EINVALID:
		return http.StatusBadRequest
	case rewind.ENOTFOUND:
		return http.StatusNotFound
	case rewind.ECONFLICT:
		return http.StatusConflict
	case rewind.EFORBIDDEN:
		return http.StatusForbidden
	case rewind.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case rewind.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// idParam parses a numeric path parameter.
func idParam(c echo.Context, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, rewind.Errorf(rewind.ENOTFOUND, "Not found.")
	}
	return id, nil
}
