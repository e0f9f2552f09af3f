package web

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

func (s *Server) healthz(c echo.Context) error { return c.String(http.StatusOK, "ok\n") }

// readyz reports whether the store answers and every cluster is connected.
// Anyone gets only that ({"ready": ...} and the status code); a logged-in
// user of any role also gets each check and whether a Nacos server has a
// problem, since those name clusters, servers and their errors.
func (s *Server) readyz(c echo.Context) error {
	ctx := c.Request().Context()
	checks := map[string]string{}
	ready := true
	if err := s.store.Ping(ctx); err != nil {
		checks["store"], ready = "unreachable", false
	} else {
		checks["store"] = "ok"
	}
	for name, err := range s.services.Health(ctx) {
		if err != nil {
			checks["cluster "+name], ready = err.Error(), false
		} else {
			checks["cluster "+name] = "ok"
		}
	}
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	if currentUser(c) == nil {
		return c.JSON(status, map[string]any{"ready": ready})
	}
	// A Nacos server Rewind cannot use is reported, but Rewind stays ready:
	// everything else keeps working (the config pages say what is wrong).
	degraded := s.configHealth(ctx, checks)
	return c.JSON(status, map[string]any{"ready": ready, "degraded": degraded, "checks": checks})
}

// metrics serves the Prometheus metrics when they are served on this
// listener (the handler checks the metrics token); else /metrics is no page.
func (s *Server) metrics(c echo.Context) error {
	if s.opt.Metrics == nil {
		return echo.ErrNotFound
	}
	s.opt.Metrics.ServeHTTP(c.Response(), c.Request())
	return nil
}
