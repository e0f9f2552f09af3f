package web

import "github.com/labstack/echo/v4"

// DatabaseBackend is what the database pages need of the SQL side (s.opt.Databases).
type DatabaseBackend interface{}

// databaseRoutes lists the routes of databases and SQL changes: v for
// viewers, op for operators, ap for approvers.
func (s *Server) databaseRoutes(v, op, ap *echo.Group) {}

// databaseSettingsRoutes lists the admin routes for databases under /settings.
func (s *Server) databaseSettingsRoutes(ad *echo.Group) {}
