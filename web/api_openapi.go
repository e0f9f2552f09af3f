package web

import (
	_ "embed"

	"github.com/labstack/echo/v4"
)

// openAPI is the OpenAPI 3 document of /api/v1, kept true by a test.
//
//go:embed openapi.json
var openAPI []byte

func (s *Server) apiOpenAPI(c echo.Context) error {
	return c.Blob(200, "application/json", openAPI)
}
