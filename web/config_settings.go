package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/templates"
)

// nacosSettings is the admin's page of Nacos servers.
func (s *Server) nacosSettings(c echo.Context) error {
	return s.renderNacosSettings(c, http.StatusOK, "")
}

func (s *Server) renderNacosSettings(c echo.Context, status int, errMsg string) error {
	ctx := c.Request().Context()
	v := templates.NacosSettingsView{CSRF: csrfToken(c), Error: errMsg, Wired: s.opt.Configs != nil, DefaultMaskKeys: rewind.DefaultMaskKeys}
	var err error
	if v.Environments, err = s.store.Environments(ctx); err != nil {
		return err
	}
	envName := map[int64]string{}
	for _, e := range v.Environments {
		envName[e.ID] = e.Name
	}
	servers, err := s.store.NacosServers(ctx)
	if err != nil {
		return err
	}
	for _, n := range servers {
		v.Servers = append(v.Servers, s.nacosState(n, envName[n.EnvironmentID]))
	}
	return s.render(c, status, s.meta(c, "Nacos servers", "settings"), templates.NacosSettingsPage(v))
}

// nacosDone audits a change of the Nacos servers and returns to their page,
// or shows the page again with the error when the change was refused.
func (s *Server) nacosDone(c echo.Context, err error, what string) error {
	return s.settingsResult(c, err, what, rewind.KindConfig, "/settings/nacos", func(status int, msg string) error { return s.renderNacosSettings(c, status, msg) })
}

// nacosSave registers a Nacos server, or changes one when the form has its
// id. An empty password keeps the stored one. The server is followed at once;
// one that cannot be reached is still kept, and its page says why.
func (s *Server) nacosSave(c echo.Context) error {
	ctx := c.Request().Context()
	envID, _ := strconv.ParseInt(c.FormValue("environment_id"), 10, 64)
	n := &rewind.NacosServer{Name: c.FormValue("name"), EnvironmentID: envID, Addr: c.FormValue("addr"), ContextPath: c.FormValue("context_path"),
		Namespaces: rewind.ParseList(c.FormValue("namespaces")), Username: c.FormValue("username"), Password: c.FormValue("password"),
		MaskKeys: rewind.ParseList(c.FormValue("mask_keys"))}
	if _, err := s.store.Environment(ctx, n.EnvironmentID); err != nil {
		return s.nacosDone(c, rewind.Errorf(rewind.EINVALID, "Choose an existing environment."), "")
	}
	what := "Nacos server " + strings.TrimSpace(n.Name) + " added."
	if id, _ := strconv.ParseInt(c.FormValue("id"), 10, 64); id != 0 {
		old, err := s.store.NacosServer(ctx, id)
		if err != nil {
			return err
		}
		if old.FromConfig {
			return s.nacosDone(c, rewind.Errorf(rewind.EINVALID, "Nacos server %s is declared in the config file; change it there.", old.Name), "")
		}
		n.ID = id
		what = "Nacos server " + strings.TrimSpace(n.Name) + " changed."
		if n.Password == "" {
			what = "Nacos server " + strings.TrimSpace(n.Name) + " changed; its password is kept."
		}
	}
	if err := s.store.SaveNacosServer(ctx, n); err != nil {
		return s.nacosDone(c, err, "")
	}
	if s.opt.Configs != nil {
		// Follow the server as stored, with its password.
		stored, err := s.store.NacosServer(ctx, n.ID)
		if err != nil {
			return err
		}
		if err := s.opt.Configs.AddServer(stored); err != nil {
			s.log.Warn("follow nacos server", "server", stored.Name, "err", err)
		}
	}
	return s.nacosDone(c, nil, what)
}

// nacosDelete removes a Nacos server whose configs have no recorded history.
func (s *Server) nacosDelete(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	n, err := s.store.NacosServer(ctx, id)
	if err != nil {
		return err
	}
	if n.FromConfig {
		return s.nacosDone(c, rewind.Errorf(rewind.EINVALID, "Nacos server %s is declared in the config file; remove it there.", n.Name), "")
	}
	if err := s.store.DeleteNacosServer(ctx, id); err != nil {
		return s.nacosDone(c, err, "")
	}
	if s.opt.Configs != nil {
		s.opt.Configs.RemoveServer(id)
	}
	return s.nacosDone(c, nil, "Nacos server "+n.Name+" removed.")
}
