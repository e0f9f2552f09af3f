package web

import (
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/static"
)

// routes lists every route of the dashboard.
func (s *Server) routes(e *echo.Echo) {
	e.Use(middleware.Recover(), s.logRequests, securityHeaders, s.loadSession, s.checkCSRF)
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/static/*", echo.WrapHandler(static.Handler()))
	s.apiRoutes(e)

	e.GET("/login", s.loginForm)
	e.POST("/login", s.login)
	e.POST("/logout", s.logout)

	v := e.Group("", s.require(rewind.RoleViewer))
	v.GET("/", s.home)
	v.GET("/services", s.servicesList)
	v.GET("/services/:id", s.serviceShow)
	v.GET("/services/:id/status", s.serviceStatus)
	v.GET("/services/:id/compare", s.serviceCompare)
	v.GET("/services/:id/versions/:number/raw", s.versionRaw)
	v.GET("/requests/:id", s.requestShow)
	v.GET("/requests/:id/progress", s.requestProgress)
	v.GET("/approvals", s.approvalsList)
	v.GET("/audit", s.auditList)
	v.GET("/audit.csv", s.auditCSV)

	op := e.Group("", s.require(rewind.RoleOperator))
	op.GET("/services/:id/rollback", s.rollbackForm)
	op.POST("/services/:id/rollback", s.rollbackCreate)
	op.POST("/requests/:id/cancel", s.requestCancel)

	ap := e.Group("", s.require(rewind.RoleApprover))
	ap.POST("/requests/:id/approve", s.requestApprove)
	ap.POST("/requests/:id/reject", s.requestReject)

	s.configRoutes(v, op, ap)
	s.databaseRoutes(v, op, ap)

	ad := e.Group("/settings", s.require(rewind.RoleAdmin))
	ad.GET("", s.settingsShow)
	ad.POST("/environments", s.environmentSave)
	ad.POST("/clusters", s.clusterSave)
	ad.POST("/clusters/import", s.clusterImport)
	ad.POST("/clusters/:id/delete", s.clusterDelete)
	ad.POST("/users", s.userCreate)
	ad.POST("/users/:name", s.userUpdate)
	s.configSettingsRoutes(ad)
	s.databaseSettingsRoutes(ad)
	s.tokenRoutes(v, ad)
}
