package web

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/rewindhq/rewind/internal/rewind"
)

var timeNow = time.Now

// apiRoute is one route of /api/v1; the OpenAPI document lists the same.
type apiRoute struct {
	method, path string
	need         need
	handler      echo.HandlerFunc
}

// apiRouteList lists every route of /api/v1 with the role it needs and
// where, as routeList does for the pages.
func (s *Server) apiRouteList() []apiRoute {
	v, op, ap := need{rewind.RoleViewer, Anywhere}, need{rewind.RoleOperator, Anywhere}, need{rewind.RoleApprover, Anywhere}
	return []apiRoute{
		{http.MethodGet, "/openapi.json", public, s.apiOpenAPI},
		{http.MethodGet, "/me", v, s.apiMe},
		{http.MethodGet, "/environments", v, s.apiEnvironments},
		{http.MethodGet, "/services", v, s.apiTargets(rewind.KindService)},
		{http.MethodGet, "/configs", v, s.apiTargets(rewind.KindConfig)},
		{http.MethodGet, "/databases", v, s.apiTargets(rewind.KindDatabase)},
		{http.MethodGet, "/services/:id", v.in(InTarget), s.apiTarget(rewind.KindService)},
		{http.MethodGet, "/configs/:id", v.in(InTarget), s.apiTarget(rewind.KindConfig)},
		{http.MethodGet, "/databases/:id", v.in(InTarget), s.apiTarget(rewind.KindDatabase)},
		{http.MethodGet, "/targets/:id/versions", v.in(InTarget), s.apiVersions},
		{http.MethodGet, "/targets/:id/diff", v.in(InTarget), s.apiDiff},
		{http.MethodGet, "/requests", v, s.apiRequests},
		{http.MethodPost, "/requests", op, s.apiRequestCreate},
		{http.MethodGet, "/requests/:id", v.in(InRequest), s.apiRequest},
		{http.MethodPost, "/requests/:id/approve", ap.in(InRequest), s.apiDecide(true)},
		{http.MethodPost, "/requests/:id/reject", ap.in(InRequest), s.apiDecide(false)},
		{http.MethodPost, "/requests/:id/cancel", op.in(InRequest), s.apiCancel},
		{http.MethodPost, "/requests/:id/retry", op.in(InRequest), s.apiRetry},
		{http.MethodPost, "/requests/:id/skip", op.in(InRequest), s.apiSkip},
		{http.MethodGet, "/releases/:id/plan", v.in(InRelease), s.apiReleasePlan},
		{http.MethodPost, "/releases/:id/rollback", op.in(InRelease), s.apiReleaseRollback},
		{http.MethodPost, "/databases/:id/changes", op.in(InTarget), s.apiChangeSubmit},
		{http.MethodPost, "/databases/:id/preview", op.in(InTarget), s.apiPreview},
		{http.MethodGet, "/changes/:id", v.in(InRequest), s.apiChange},
		{http.MethodGet, "/workflows", v, s.apiWorkflows},
		{http.MethodPost, "/workflows", op, s.apiWorkflowSave},
		{http.MethodGet, "/workflows/:id", v.in(InWorkflow), s.apiWorkflowShow},
		{http.MethodPut, "/workflows/:id", op.in(InWorkflow), s.apiWorkflowSave},
		{http.MethodDelete, "/workflows/:id", op.in(InWorkflow), s.apiWorkflowDelete},
		{http.MethodGet, "/workflows/:id/releases", v.in(InWorkflow), s.apiWorkflowReleases},
		{http.MethodGet, "/workflows/:id/unreleased", v.in(InWorkflow), s.apiWorkflowUnreleased},
		{http.MethodPost, "/releases", op, s.apiReleaseStart},
		{http.MethodGet, "/releases/check", v, s.apiReleaseCheck},
		{http.MethodGet, "/releases/:id", v.in(InRelease), s.apiReleaseShow},
		{http.MethodPost, "/releases/:id/finish", op.in(InRelease), s.apiReleaseEnd(false)},
		{http.MethodPost, "/releases/:id/fail", op.in(InRelease), s.apiReleaseEnd(true)},
		{http.MethodPost, "/releases/:id/block", op.in(InRelease), s.apiReleaseBlock(true)},
		{http.MethodPost, "/releases/:id/unblock", op.in(InRelease), s.apiReleaseBlock(false)},
		{http.MethodGet, "/audit", v, s.auditScope("environment", s.apiAudit)},
		{http.MethodGet, "/audit.csv", v, s.auditScope("env", s.auditCSV)},
	}
}

// apiRoutes serves /api/v1 from its own router, ahead of the pages'
// middleware: no session cookie and no CSRF token there, only bearer tokens.
func (s *Server) apiRoutes(e *echo.Echo) {
	api := echo.New()
	api.HideBanner, api.HidePort = true, true
	api.HTTPErrorHandler = s.apiError
	api.Use(middleware.Recover(), s.logRequests, securityHeaders)
	g := api.Group("/api/v1")
	for _, r := range s.apiRouteList() {
		if r.need == public {
			g.Add(r.method, r.path, r.handler)
			continue
		}
		g.Add(r.method, r.path, r.handler, s.apiAuth, s.require(r.need))
	}
	e.Pre(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if p := c.Request().URL.Path; p == "/api/v1" || strings.HasPrefix(p, "/api/v1/") {
				api.ServeHTTP(c.Response(), c.Request())
				return nil
			}
			return next(c)
		}
	})
}

// apiErrorBody is the one error shape of the API.
type apiErrorBody struct {
	Error struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields,omitempty"`
	} `json:"error"`
}

// fieldError is an invalid input naming its field.
type fieldError struct {
	field string
	err   *rewind.Error
}

func (e *fieldError) Error() string { return e.err.Message }
func (e *fieldError) Unwrap() error { return e.err }

func invalidField(field, format string, args ...any) error {
	return &fieldError{field: field, err: rewind.Errorf(rewind.EINVALID, format, args...)}
}

// apiError answers an error as JSON with the status the pages use for its code.
func (s *Server) apiError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var body apiErrorBody
	status := statusOf(rewind.ErrorCode(err))
	body.Error.Code, body.Error.Message = rewind.ErrorCode(err), rewind.ErrorMessage(err)
	var he *echo.HTTPError
	if errors.As(err, &he) {
		status = he.Code
		body.Error.Code, body.Error.Message = codeOf(he.Code), http.StatusText(he.Code)
	}
	var fe *fieldError
	if errors.As(err, &fe) {
		body.Error.Fields = map[string]string{fe.field: fe.err.Message}
	}
	if status >= 500 {
		s.log.Error("api request failed", "path", c.Request().URL.Path, "err", err)
	}
	_ = c.JSON(status, body)
}

func codeOf(status int) string {
	switch status {
	case http.StatusNotFound:
		return rewind.ENOTFOUND
	case http.StatusMethodNotAllowed, http.StatusBadRequest, http.StatusUnsupportedMediaType:
		return rewind.EINVALID
	case http.StatusUnauthorized:
		return rewind.EUNAUTHORIZED
	case http.StatusForbidden:
		return rewind.EFORBIDDEN
	}
	return rewind.EINTERNAL
}

// apiJSON sends v; for a GET it sets an ETag and answers 304 when the
// client already holds this body.
func apiJSON(c echo.Context, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if c.Request().Method == http.MethodGet && status == http.StatusOK {
		sum := sha256.Sum256(b)
		tag := `"` + hex.EncodeToString(sum[:16]) + `"`
		c.Response().Header().Set("ETag", tag)
		if c.Request().Header.Get("If-None-Match") == tag {
			return c.NoContent(http.StatusNotModified)
		}
	}
	return c.JSONBlob(status, b)
}

// page is one page of a listing, with the total.
type page struct {
	Items   any `json:"items"`
	Page    int `json:"page"`
	PerPage int `json:"per_page"`
	Total   int `json:"total"`
}

const maxPerPage = 200

// pageParams reads ?page= and ?per_page= (default 50, at most 200).
func pageParams(c echo.Context) (pageNo, perPage int, err error) {
	pageNo, perPage = 1, 50
	if v := c.QueryParam("page"); v != "" {
		if pageNo, err = strconv.Atoi(v); err != nil || pageNo < 1 {
			return 0, 0, invalidField("page", "page is a number from 1.")
		}
	}
	if v := c.QueryParam("per_page"); v != "" {
		if perPage, err = strconv.Atoi(v); err != nil || perPage < 1 || perPage > maxPerPage {
			return 0, 0, invalidField("per_page", "per_page is a number from 1 to %d.", maxPerPage)
		}
	}
	return pageNo, perPage, nil
}

// bind reads a JSON body into v.
func bind(c echo.Context, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), c.Request().Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return rewind.Errorf(rewind.EINVALID, "The body is not the JSON expected: %s", jsonErrText(err))
	}
	return nil
}

func jsonErrText(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "syntax error at byte " + strconv.FormatInt(se.Offset, 10)
	case errors.As(err, &te):
		return "field " + te.Field + " has the wrong type"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "cannot read it"
}
