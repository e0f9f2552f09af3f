package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/templates"
)

// databaseSettings is the admin's page for registering databases.
func (s *Server) databaseSettings(c echo.Context) error {
	return s.renderDatabaseSettings(c, http.StatusOK, templates.DatabaseSettingsView{})
}

// renderDatabaseSettings fills v with the registered databases, their
// connection strings redacted, and shows the page.
func (s *Server) renderDatabaseSettings(c echo.Context, status int, v templates.DatabaseSettingsView) error {
	ctx := c.Request().Context()
	backend, err := s.databases()
	if err != nil {
		return err
	}
	v.CSRF, v.Engines = csrfToken(c), rewind.DatabaseEngines
	if v.Environments, err = s.store.Environments(ctx); err != nil {
		return err
	}
	envName := map[int64]string{}
	for _, e := range v.Environments {
		envName[e.ID] = e.Name
	}
	dbs, err := s.store.Databases(ctx)
	if err != nil {
		return err
	}
	states := s.connectionStates(ctx, backend, dbs)
	for i, d := range dbs {
		row := templates.DatabaseSettingsRow{ID: d.ID, Name: d.Name, Env: envName[d.EnvironmentID], Engine: d.Engine,
			DSN: backend.RedactDSN(d.Engine, d.DSN), FromConfig: d.FromConfig}
		if t, err := s.store.DatabaseTarget(ctx, d.ID); err == nil {
			row.TargetID = t.ID
		}
		row.Connected, row.State = connectionText(states[i])
		v.Databases = append(v.Databases, row)
	}
	return s.render(c, status, s.meta(c, "Databases · Settings", "settings"), templates.DatabaseSettingsPage(v))
}

// databaseSettingsDone audits a change of the registered databases and
// returns to their page, or shows the page again with the error (and the
// form refilled, never with the connection string).
func (s *Server) databaseSettingsDone(c echo.Context, err error, what string, form templates.DatabaseSettingsView) error {
	return s.settingsResult(c, err, what, rewind.KindDatabase, "/settings/databases", func(status int, msg string) error {
		form.Error = msg
		return s.renderDatabaseSettings(c, status, form)
	})
}

// databaseAdd registers a database. One that cannot be reached is still
// kept; the page shows its connection state.
func (s *Server) databaseAdd(c echo.Context) error {
	ctx := c.Request().Context()
	backend, err := s.databases()
	if err != nil {
		return err
	}
	envID, _ := strconv.ParseInt(c.FormValue("environment_id"), 10, 64)
	form := templates.DatabaseSettingsView{Name: strings.TrimSpace(c.FormValue("name")), EnvironmentID: envID, Engine: c.FormValue("engine")}
	d := &rewind.Database{Name: form.Name, EnvironmentID: envID, Engine: form.Engine, DSN: strings.TrimSpace(c.FormValue("dsn"))}
	env, err := s.store.Environment(ctx, envID)
	if err != nil {
		return s.databaseSettingsDone(c, rewind.Errorf(rewind.EINVALID, "Choose an existing environment."), "", form)
	}
	if err := rewind.ValidateDatabase(*d); err != nil {
		return s.databaseSettingsDone(c, err, "", form)
	}
	if err := backend.CheckDSN(d.Engine, d.DSN); err != nil {
		return s.databaseSettingsDone(c, err, "", form)
	}
	if err := s.store.SaveDatabase(ctx, d); err != nil {
		return s.databaseSettingsDone(c, err, "", form)
	}
	backend.Forget(d.ID)
	return s.databaseSettingsDone(c, nil, "Database "+d.Name+" ("+rewind.EngineLabel(d.Engine)+") added in "+env.Name+".", form)
}

// databaseReplaceDSN replaces the connection string of a registered
// database, such as after a password change.
func (s *Server) databaseReplaceDSN(c echo.Context) error {
	ctx := c.Request().Context()
	backend, d, err := s.storedDatabase(c)
	if err != nil {
		return err
	}
	if d.FromConfig {
		return s.databaseSettingsDone(c, rewind.Errorf(rewind.EINVALID, "Database %s is declared in the config file; change it there.", d.Name), "", templates.DatabaseSettingsView{})
	}
	d.DSN = strings.TrimSpace(c.FormValue("dsn"))
	if d.DSN == "" {
		return s.databaseSettingsDone(c, rewind.Errorf(rewind.EINVALID, "Give the new connection string."), "", templates.DatabaseSettingsView{})
	}
	if err := backend.CheckDSN(d.Engine, d.DSN); err != nil {
		return s.databaseSettingsDone(c, err, "", templates.DatabaseSettingsView{})
	}
	if err := s.store.SaveDatabase(ctx, d); err != nil {
		return s.databaseSettingsDone(c, err, "", templates.DatabaseSettingsView{})
	}
	backend.Forget(d.ID)
	return s.databaseSettingsDone(c, nil, "Connection string of database "+d.Name+" replaced.", templates.DatabaseSettingsView{})
}

// databaseTest tries the connection string of the add form and says what is wrong.
func (s *Server) databaseTest(c echo.Context) error {
	backend, err := s.databases()
	if err != nil {
		return err
	}
	msg := ""
	if err := backend.TestConnection(c.Request().Context(), c.FormValue("engine"), strings.TrimSpace(c.FormValue("dsn"))); err != nil {
		if rewind.ErrorCode(err) == rewind.EINTERNAL {
			return err
		}
		msg = rewind.ErrorMessage(err)
	}
	return s.render(c, http.StatusOK, s.meta(c, "Test connection", "settings"), templates.ConnectionResult(msg))
}

// databaseTestStored connects to a registered database now.
func (s *Server) databaseTestStored(c echo.Context) error {
	ctx := c.Request().Context()
	backend, d, err := s.storedDatabase(c)
	if err != nil {
		return err
	}
	backend.Forget(d.ID)
	connected, state := connectionText(backend.State(ctx, d))
	return s.render(c, http.StatusOK, s.meta(c, "Test connection", "settings"), templates.ConnectionState(connected, state))
}

// databaseDelete removes a database that has no recorded change.
func (s *Server) databaseDelete(c echo.Context) error {
	ctx := c.Request().Context()
	backend, d, err := s.storedDatabase(c)
	if err != nil {
		return err
	}
	if d.FromConfig {
		return s.databaseSettingsDone(c, rewind.Errorf(rewind.EINVALID, "Database %s is declared in the config file; remove it there.", d.Name), "", templates.DatabaseSettingsView{})
	}
	if err := s.store.DeleteDatabase(ctx, d.ID); err != nil {
		return s.databaseSettingsDone(c, err, "", templates.DatabaseSettingsView{})
	}
	backend.Forget(d.ID)
	return s.databaseSettingsDone(c, nil, "Database "+d.Name+" removed.", templates.DatabaseSettingsView{})
}

// storedDatabase loads the registered database named by the :id parameter
// and the backend that serves it.
func (s *Server) storedDatabase(c echo.Context) (DatabaseBackend, *rewind.Database, error) {
	backend, err := s.databases()
	if err != nil {
		return nil, nil, err
	}
	id, err := idParam(c, "id")
	if err != nil {
		return nil, nil, err
	}
	d, err := s.store.Database(c.Request().Context(), id)
	if err != nil {
		return nil, nil, err
	}
	return backend, d, nil
}
