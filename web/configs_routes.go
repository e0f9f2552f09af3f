package web

import "github.com/labstack/echo/v4"

// ConfigBackend is what the config pages need of the Nacos side (s.opt.Configs).
type ConfigBackend interface{}

// configRoutes lists the routes of Nacos configs: v for viewers, op for
// operators, ap for approvers.
func (s *Server) configRoutes(v, op, ap *echo.Group) {}

// configSettingsRoutes lists the admin routes for Nacos servers under /settings.
func (s *Server) configSettingsRoutes(ad *echo.Group) {}
