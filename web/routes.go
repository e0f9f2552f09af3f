package web

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/static"
)

// public marks a route that needs no login.
var public = need{}

// route is one entry of the dashboard's route list.
type route struct {
	method, path string
	need         need // the least role it needs and where; public for none
	h            echo.HandlerFunc
	bodyLimit    int64 // the cap on its request body; 0 for defaultBodyLimit
}

// routeList lists every route of the dashboard with the role it needs and
// where the role must be held: in the environment of the target, request,
// release or workflow its :id names, in some environment (lists, and forms
// whose use case checks the environment they name), or everywhere
// (Settings). Each route carries its own role check (no group middleware),
// so that a URL no route matches is a 404 for everyone.
func (s *Server) routeList() []route {
	const get, post = http.MethodGet, http.MethodPost
	var (
		viewer   = need{rewind.RoleViewer, Anywhere}
		operator = need{rewind.RoleOperator, Anywhere}
		admin    = need{rewind.RoleAdmin, Everywhere}
		approver = need{rewind.RoleApprover, Anywhere}
	)
	return []route{
		{get, "/healthz", public, s.healthz, 0},
		{get, "/readyz", public, s.readyz, 0},
		{get, "/metrics", public, s.metrics, 0}, // behind the metrics token
		{get, "/static/*", public, echo.WrapHandler(static.Handler()), 0},
		{get, "/login", public, s.loginForm, 0},
		{post, "/login", public, s.login, 0},
		{post, "/logout", public, s.logout, 0},
		{get, "/auth/oidc", public, s.oidcStart, 0},
		{get, "/auth/oidc/callback", public, s.oidcCallback, 0},

		{get, "/", viewer, s.home, 0},
		{get, "/workflows", viewer, s.workflowsList, 0},
		{get, "/workflows/new", operator, s.workflowNew, 0},
		{post, "/workflows", operator, s.workflowCreate, 0},
		{get, "/workflows/:id", viewer.in(InWorkflow), s.workflowShow, 0},
		{get, "/workflows/:id/compare", viewer.in(InWorkflow), s.workflowCompare, 0},
		{get, "/workflows/:id/edit", operator.in(InWorkflow), s.workflowEdit, 0},
		{post, "/workflows/:id", operator.in(InWorkflow), s.workflowUpdate, 0},
		{post, "/workflows/:id/delete", operator.in(InWorkflow), s.workflowDelete, 0},
		{get, "/releases/:id", viewer.in(InRelease), s.releaseShow, 0},
		{post, "/releases/:id/block", operator.in(InRelease), s.releaseBlock, 0},
		{post, "/releases/:id/unblock", operator.in(InRelease), s.releaseUnblock, 0},

		{get, "/services", viewer, s.servicesList, 0},
		{get, "/services/:id", viewer.in(InTarget), s.serviceShow, 0},
		{get, "/services/:id/status", viewer.in(InTarget), s.serviceStatus, 0},
		{get, "/services/:id/compare", viewer.in(InTarget), s.serviceCompare, 0},
		{get, "/services/:id/versions/:number/raw", viewer.in(InTarget), s.versionRaw, 0},
		{get, "/services/:id/rollback", operator.in(InTarget), s.rollbackForm, 0},
		{post, "/services/:id/rollback", operator.in(InTarget), s.rollbackCreate, 0},

		{get, "/configs", viewer, s.configsList, 0},
		{get, "/configs/:id", viewer.in(InTarget), s.configShow, 0},
		{get, "/configs/:id/compare", viewer.in(InTarget), s.configCompare, 0},
		{get, "/configs/:id/versions/:number/raw", viewer.in(InTarget), s.configVersionRaw, 0},
		{get, "/configs/:id/rollback", operator.in(InTarget), s.configRollbackForm, 0},
		{post, "/configs/:id/rollback", operator.in(InTarget), s.configRollbackCreate, 0},
		{post, "/configs/:id/reveal", operator.in(InTarget), s.configReveal, 0},

		{get, "/databases", viewer, s.databasesList, 0},
		{get, "/databases/:id", viewer.in(InTarget), s.databaseShow, 0},
		{get, "/databases/:id/changes/new", operator.in(InTarget), s.changeForm, 0},
		{post, "/databases/:id/changes", operator.in(InTarget), s.changeCreate, sqlBodyLimit},
		{post, "/databases/:id/preview", operator.in(InTarget), s.changePreview, sqlBodyLimit},
		{get, "/databases/:id/rollback", operator.in(InTarget), s.sqlRollbackForm, 0},
		{post, "/databases/:id/rollback", operator.in(InTarget), s.sqlRollbackCreate, sqlBodyLimit},

		{get, "/requests/:id", viewer.in(InRequest), s.requestShow, 0},
		{get, "/requests/:id/progress", viewer.in(InRequest), s.requestProgress, 0},
		{get, "/requests/:id/sql", viewer.in(InRequest), s.changeSQL, 0},
		{get, "/requests/:id/rollback.sql", viewer.in(InRequest), s.changeRollbackSQL, 0},
		{post, "/requests/:id/cancel", operator.in(InRequest), s.requestCancel, 0},
		{post, "/requests/:id/retry", operator.in(InRequest), s.requestRetry, 0},
		{post, "/requests/:id/skip", operator.in(InRequest), s.requestSkip, 0},
		{get, "/requests/:id/undo", operator.in(InRequest), s.requestUndoForm, 0},
		{get, "/requests/:id/plan", operator.in(InRequest), s.requestPlanForm, 0},
		{post, "/requests/:id/plan", operator.in(InRequest), s.requestPlanUpdate, sqlBodyLimit},
		{post, "/requests/:id/undo", operator.in(InRequest), s.requestUndoCreate, sqlBodyLimit},
		{get, "/releases/:id/rollback", operator.in(InRelease), s.releaseRollbackForm, 0},
		{post, "/releases/:id/rollback", operator.in(InRelease), s.releaseRollbackCreate, sqlBodyLimit},
		{post, "/requests/:id/approve", approver.in(InRequest), s.requestApprove, 0},
		{post, "/requests/:id/reject", approver.in(InRequest), s.requestReject, 0},
		{get, "/approvals", viewer, s.approvalsList, 0},
		{get, "/audit", viewer, s.auditList, 0},
		{get, "/audit.csv", viewer, s.auditCSV, 0},

		{get, "/settings", admin, s.settingsShow, 0},
		{post, "/settings/environments", admin, s.environmentSave, 0},
		{post, "/settings/clusters", admin, s.clusterSave, 0},
		{post, "/settings/clusters/import", admin, s.clusterImport, 0},
		{post, "/settings/clusters/:id/delete", admin, s.clusterDelete, 0},
		{post, "/settings/users", admin, s.userCreate, 0},
		{post, "/settings/users/:name", admin, s.userUpdate, 0},
		{post, "/settings/sessions/:id/delete", admin, s.sessionDelete, 0},
		{get, "/settings/signin", admin, s.signinSettings, 0},
		{post, "/settings/signin", admin, s.signinSave, 0},
		{get, "/settings/nacos", admin, s.nacosSettings, 0},
		{post, "/settings/nacos", admin, s.nacosSave, 0},
		{post, "/settings/nacos/:id/delete", admin, s.nacosDelete, 0},
		{get, "/settings/databases", admin, s.databaseSettings, 0},
		{post, "/settings/databases", admin, s.databaseAdd, 0},
		{post, "/settings/databases/test", admin, s.databaseTest, 0},
		{post, "/settings/databases/:id", admin, s.databaseReplaceDSN, 0},
		{post, "/settings/databases/:id/test", admin, s.databaseTestStored, 0},
		{post, "/settings/databases/:id/delete", admin, s.databaseDelete, 0},

		{get, "/settings/notifications", admin, s.notifySettings, 0},
		{post, "/settings/notifications/channels", admin, s.channelCreate, 0},
		{get, "/settings/notifications/channels/:id", admin, s.channelEdit, 0},
		{post, "/settings/notifications/channels/:id", admin, s.channelUpdate, 0},
		{post, "/settings/notifications/channels/:id/test", admin, s.channelTest, 0},
		{post, "/settings/notifications/channels/:id/enable", admin, s.channelEnable, 0},
		{post, "/settings/notifications/channels/:id/disable", admin, s.channelDisable, 0},
		{post, "/settings/notifications/channels/:id/delete", admin, s.channelDelete, 0},
		{post, "/settings/notifications/rules", admin, s.ruleCreate, 0},
		{post, "/settings/notifications/rules/:id/delete", admin, s.ruleDelete, 0},
		{post, "/settings/notifications/deliveries/:id/retry", admin, s.deliveryRetry, 0},

		{get, "/profile", viewer, s.profileShow, 0},
		{post, "/profile/email", viewer, s.emailSave, 0},
		{post, "/profile/subscriptions", viewer, s.subscriptionCreate, 0},
		{post, "/profile/subscriptions/:id/delete", viewer, s.subscriptionDelete, 0},
		{post, "/profile/tokens", viewer, s.tokenCreate(false), 0},
		{post, "/profile/tokens/:id/revoke", viewer, s.tokenRevoke(false), 0},
		{get, "/settings/tokens", admin, s.serviceTokensShow, 0},
		{post, "/settings/tokens", admin, s.tokenCreate(true), 0},
		{post, "/settings/tokens/:id/revoke", admin, s.tokenRevoke(true), 0},
	}
}

// routes registers every route of routeList on e, behind the middleware
// that every request passes.
func (s *Server) routes(e *echo.Echo) {
	list := s.routeList()
	limits := map[string]int64{}
	var patterns []string
	for _, r := range list {
		if r.bodyLimit > 0 {
			limits[r.method+" "+r.path] = r.bodyLimit
		}
		patterns = append(patterns, r.path)
	}
	e.Use(middleware.Recover(), s.logRequests, securityHeaders, s.loadSession, notFoundUnlessRoute(patterns), s.limitBody(limits))
	s.apiRoutes(e)
	for _, r := range list {
		mw := []echo.MiddlewareFunc{s.checkCSRF}
		if r.need != public {
			mw = []echo.MiddlewareFunc{s.require(r.need), s.checkCSRF}
		}
		e.Add(r.method, r.path, r.h, mw...)
	}
}

// Route is one route of the dashboard as the router holds it, for tests and
// tools that check every route.
type Route struct {
	Method, Path string
	// Role is the least role the route needs; "" when it needs no login or
	// when the route is not in the route list (which a check should flag).
	Role rewind.Role
	// Scope is where the role must be held.
	Scope Scope
}

// Routes returns every route the router serves, with the role each needs.
func (s *Server) Routes() []Route {
	e := echo.New()
	s.routes(e)
	needs := map[string]need{}
	for _, r := range s.routeList() {
		needs[r.method+" "+r.path] = r.need
	}
	var out []Route
	for _, r := range e.Routes() {
		n := needs[r.Method+" "+r.Path]
		out = append(out, Route{Method: r.Method, Path: r.Path, Role: n.role, Scope: n.scope})
	}
	return out
}
