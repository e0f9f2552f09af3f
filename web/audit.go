package web

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/templates"
)

const auditPerPage = 100

// auditFilter reads the audit filters from the query; it keeps the events
// of the environments the reader sees.
func (s *Server) auditFilter(c echo.Context) (rewind.AuditFilter, error) {
	f := rewind.AuditFilter{Actor: c.QueryParam("user"), Environment: c.QueryParam("env"), Target: c.QueryParam("target")}
	var err error
	if f.Environments, err = s.visibleEnvironmentNames(c); err != nil {
		return f, err
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
		add  time.Duration
	}{{"from", &f.From, 0}, {"to", &f.To, 24 * time.Hour}} {
		raw := c.QueryParam(p.name)
		if raw == "" {
			continue
		}
		t, err := time.Parse("2006-01-02", raw)
		if err != nil {
			return f, rewind.Errorf(rewind.EINVALID, "%q is not a date (YYYY-MM-DD).", raw)
		}
		*p.dst = t.Add(p.add)
	}
	return f, nil
}

func (s *Server) auditList(c echo.Context) error {
	ctx := c.Request().Context()
	f, err := s.auditFilter(c)
	if err != nil {
		return err
	}
	pageNum := pageParam(c)
	f.Offset, f.Limit = pageOffset(pageNum, auditPerPage), auditPerPage
	events, total, err := s.store.Audit(ctx, f)
	if err != nil {
		return err
	}
	q := url.Values{}
	for _, k := range []string{"user", "env", "target", "from", "to"} {
		if v := c.QueryParam(k); v != "" {
			q.Set(k, v)
		}
	}
	v := templates.AuditView{Events: events, Actor: f.Actor, Env: f.Environment, Target: f.Target, From: c.QueryParam("from"), To: c.QueryParam("to"),
		Nav: templates.PageNav{Page: pageNum, PerPage: auditPerPage, Total: total, BaseURL: "/audit", Query: q}, CSVURL: "/audit.csv?" + q.Encode()}
	envs, err := s.environments(c)
	if err != nil {
		return err
	}
	for _, e := range envs {
		v.Envs = append(v.Envs, e.Name)
	}
	return s.render(c, http.StatusOK, s.meta(c, "Audit", "audit"), templates.AuditPage(v))
}

// auditCSV downloads the filtered audit trail.
func (s *Server) auditCSV(c echo.Context) error {
	f, err := s.auditFilter(c)
	if err != nil {
		return err
	}
	events, _, err := s.store.Audit(c.Request().Context(), f)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="rewind-audit.csv"`)
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	_ = w.Write([]string{"time", "user", "action", "environment", "target_kind", "target", "request", "outcome", "detail"})
	for _, e := range events {
		req := ""
		if e.RequestID != 0 {
			req = strconv.FormatInt(e.RequestID, 10)
		}
		row := []string{e.At.UTC().Format(time.RFC3339), e.Actor, e.Action, e.Environment, string(e.TargetKind), e.Target, req, e.Outcome, e.Detail}
		for i := range row {
			row[i] = csvSafe(row[i])
		}
		_ = w.Write(row)
	}
	w.Flush()
	return w.Error()
}

// csvSafe stops a spreadsheet from reading a cell as a formula: a cell
// starting with =, +, -, @, TAB or CR gets a single quote in front.
func csvSafe(s string) string {
	if s != "" && strings.IndexByte("=+-@\t\r", s[0]) >= 0 {
		return "'" + s
	}
	return s
}
