package web

import (
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/auth"
	"github.com/rewindhq/rewind/internal/i18n"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/templates"
)

// settingsShow is the admin's page for environments, clusters and users.
func (s *Server) settingsShow(c echo.Context) error {
	return s.renderSettings(c, http.StatusOK, "")
}

func (s *Server) renderSettings(c echo.Context, status int, errMsg string) error {
	return s.renderSettingsView(c, status, templates.SettingsView{Error: errMsg})
}

// renderSettingsView shows the settings page; v may carry an error and the
// values of a refused form.
func (s *Server) renderSettingsView(c echo.Context, status int, v templates.SettingsView) error {
	ctx := c.Request().Context()
	v.CSRF, v.Roles = csrfToken(c), rewind.Roles
	var err error
	if v.Environments, err = s.store.Environments(ctx); err != nil {
		return err
	}
	envName := map[int64]string{}
	for _, e := range v.Environments {
		envName[e.ID] = e.Name
	}
	v.EnvName = envName
	clusters, err := s.store.Clusters(ctx)
	if err != nil {
		return err
	}
	health := s.services.Health(ctx)
	for _, cl := range clusters {
		h := "not connected"
		if err, ok := health[cl.Name]; ok {
			h = "connected"
			if err != nil {
				h = err.Error()
			}
		}
		v.Clusters = append(v.Clusters, templates.ClusterRow{C: cl, Env: envName[cl.EnvironmentID], Health: h})
	}
	if v.Users, err = s.store.Users(ctx); err != nil {
		return err
	}
	sessions, err := s.store.ActiveSessions(ctx, s.now(), s.opt.SessionIdle)
	if err != nil {
		return err
	}
	mine := currentSession(c)
	for _, ss := range sessions {
		v.Sessions = append(v.Sessions, templates.SessionRow{S: ss, Current: mine != nil && ss.ID == mine.ID})
	}
	return s.render(c, status, s.meta(c, "Settings", "settings"), templates.SettingsPage(v))
}

// settingsDone audits a settings change and returns to the settings page, or
// shows the page again with the error when the change was refused.
func (s *Server) settingsDone(c echo.Context, err error, what string) error {
	return s.settingsResult(c, err, what, "", "/settings", func(status int, msg string) error { return s.renderSettings(c, status, msg) })
}

// settingsResult ends a settings change: a refused change (err with a code
// other than EINTERNAL) shows the form again through again; a done one is
// audited, flashed, and the browser goes back to page.
func (s *Server) settingsResult(c echo.Context, err error, what string, kind rewind.TargetKind, page string, again func(status int, msg string) error) error {
	if err != nil {
		if rewind.ErrorCode(err) == rewind.EINTERNAL {
			return err
		}
		return again(http.StatusUnprocessableEntity, rewind.ErrorMessage(err))
	}
	if err := s.store.AddAudit(c.Request().Context(), rewind.AuditEvent{Actor: currentUser(c).Username, Action: rewind.ActionSettingsChange,
		TargetKind: kind, Outcome: "ok", Detail: what}); err != nil {
		return err
	}
	flash(c, 's', what)
	return redirect(c, page)
}

func (s *Server) environmentSave(c echo.Context) error {
	n, err := strconv.Atoi(c.FormValue("required_approvals"))
	if err != nil {
		return s.settingsDone(c, rewind.Errorf(rewind.EINVALID, "Required approvals must be a number."), "")
	}
	id, _ := strconv.ParseInt(c.FormValue("id"), 10, 64)
	e := &rewind.Environment{ID: id, Name: strings.TrimSpace(c.FormValue("name")), RequiredApprovals: n}
	err = s.store.SaveEnvironment(c.Request().Context(), e)
	return s.settingsDone(c, err, "Environment "+e.Name+" saved: "+strconv.Itoa(n)+" approval(s) needed.")
}

func (s *Server) clusterSave(c echo.Context) error {
	envID, _ := strconv.ParseInt(c.FormValue("environment_id"), 10, 64)
	cl := &rewind.Cluster{Name: strings.TrimSpace(c.FormValue("name")), EnvironmentID: envID,
		KubeconfigPath: strings.TrimSpace(c.FormValue("kubeconfig_path")), Context: strings.TrimSpace(c.FormValue("context")),
		InCluster: c.FormValue("in_cluster") == "1", Namespaces: rewind.ParseList(c.FormValue("namespaces"))}
	if kc := strings.TrimSpace(c.FormValue("kubeconfig")); kc != "" {
		cl.Kubeconfig = []byte(kc)
	}
	return s.settingsDone(c, s.addCluster(c, cl), "Cluster "+cl.Name+" added.")
}

// addCluster stores a cluster and starts watching it; a cluster that cannot
// be reached is still kept, and Settings shows its connection error.
func (s *Server) addCluster(c echo.Context, cl *rewind.Cluster) error {
	ctx := c.Request().Context()
	if _, err := s.store.Environment(ctx, cl.EnvironmentID); err != nil && cl.EnvironmentID != 0 {
		return rewind.Errorf(rewind.EINVALID, "Choose an existing environment.")
	}
	if err := s.store.SaveCluster(ctx, cl); err != nil {
		return err
	}
	if err := s.services.AddCluster(cl); err != nil {
		s.log.Warn("watch new cluster", "cluster", cl.Name, "err", err)
	}
	return nil
}

// clusterImport registers the chosen contexts of the host's kubeconfig.
func (s *Server) clusterImport(c echo.Context) error {
	ctx := c.Request().Context()
	if s.opt.KubeconfigPath == "" {
		return s.settingsDone(c, rewind.Errorf(rewind.EINVALID, "No kubeconfig was found on this host."), "")
	}
	env := &rewind.Environment{Name: strings.TrimSpace(c.FormValue("environment"))}
	if existing, err := s.store.EnvironmentByName(ctx, env.Name); err == nil {
		env = existing
	} else if err := s.store.SaveEnvironment(ctx, env); err != nil {
		return s.settingsDone(c, err, "")
	}
	form, _ := c.FormParams()
	contexts := form["context"]
	if len(contexts) == 0 {
		return s.settingsDone(c, rewind.Errorf(rewind.EINVALID, "Choose at least one context."), "")
	}
	for _, kctx := range contexts {
		cl := &rewind.Cluster{Name: clusterNameFor(kctx), EnvironmentID: env.ID, KubeconfigPath: s.opt.KubeconfigPath, Context: kctx,
			Namespaces: rewind.ParseList(c.FormValue("namespaces"))}
		if err := s.addCluster(c, cl); err != nil {
			return s.settingsDone(c, err, "")
		}
	}
	return s.settingsDone(c, nil, "Registered "+strconv.Itoa(len(contexts))+" cluster(s) from "+s.opt.KubeconfigPath+".")
}

// clusterNameFor turns a kubeconfig context name into a valid cluster name.
func clusterNameFor(kctx string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(kctx) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteRune('-')
		}
	}
	name := strings.Trim(b.String(), "-_.")
	if len(name) > 63 {
		name = name[:63]
	}
	if name == "" {
		name = "cluster"
	}
	return name
}

func (s *Server) clusterDelete(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	cl, err := s.store.Cluster(ctx, id)
	if err != nil {
		return err
	}
	if cl.FromConfig {
		return s.settingsDone(c, rewind.Errorf(rewind.EINVALID, "Cluster %s is declared in the config file; remove it there.", cl.Name), "")
	}
	if err := s.store.DeleteCluster(ctx, id); err != nil {
		return s.settingsDone(c, err, "")
	}
	s.services.RemoveCluster(id)
	return s.settingsDone(c, nil, "Cluster "+cl.Name+" removed.")
}

// userFields bounds the fields of the user forms.
var userFields = []FieldLimit{{"username", "A username", 64}, {"password", "A password", 128}, {"role", "A role", 16}}

func (s *Server) userCreate(c echo.Context) error {
	name := strings.TrimSpace(c.FormValue("username"))
	per, perErr := s.envRolesForm(c)
	again := func(err error) error {
		if rewind.ErrorCode(err) == rewind.EINTERNAL {
			return err
		}
		return s.renderSettingsView(c, http.StatusUnprocessableEntity, templates.SettingsView{Error: i18n.Error(c.Request().Context(), err),
			NewUser: templates.NewUserForm{Username: name, Role: rewind.Role(c.FormValue("role")), EnvRoles: per}})
	}
	if err := checkFields(c, userFields...); err != nil {
		return again(err)
	}
	role, err := rewind.ParseGrant(c.FormValue("role"))
	if err != nil {
		return again(err)
	}
	if perErr != nil {
		return again(perErr)
	}
	pw := c.FormValue("password")
	if err := rewind.ValidatePassword(pw); err != nil {
		return again(err)
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return err
	}
	if err := s.store.CreateUser(c.Request().Context(), &rewind.User{Username: name, Role: role, EnvRoles: per, PasswordHash: hash}); err != nil {
		return again(err)
	}
	return s.settingsDone(c, nil, "User "+name+" added with roles "+s.rolesText(c, role, per)+".")
}

// userUpdate changes a user's role and, when given, password. Either change
// ends the user's other sessions (all of them, unless the admin changed
// their own password).
func (s *Server) userUpdate(c echo.Context) error {
	ctx := c.Request().Context()
	name := c.Param("name")
	u, err := s.store.UserByName(ctx, name)
	if err != nil {
		return err
	}
	if err := checkFields(c, userFields...); err != nil {
		return s.settingsDone(c, err, "")
	}
	if u.Source != rewind.SourceLocal {
		return s.settingsDone(c, rewind.Errorf(rewind.EINVALID, "The roles of %s come from the groups of their identity provider; change the groups or the mapping in the config file.", u.Username), "")
	}
	role, err := rewind.ParseGrant(c.FormValue("role"))
	if err != nil {
		return s.settingsDone(c, err, "")
	}
	per, err := s.envRolesForm(c)
	if err != nil {
		return s.settingsDone(c, err, "")
	}
	if u.Username == currentUser(c).Username && role != rewind.RoleAdmin {
		return s.settingsDone(c, rewind.Errorf(rewind.EINVALID, "You cannot take the admin role from yourself."), "")
	}
	pw := c.FormValue("password")
	if pw != "" {
		if err := rewind.ValidatePassword(pw); err != nil {
			return s.settingsDone(c, err, "")
		}
	}
	what := "User " + name + " now has roles " + s.rolesText(c, role, per) + "."
	if pw != "" {
		hash, err := auth.HashPassword(pw)
		if err != nil {
			return err
		}
		if err := s.store.SetPasswordHash(ctx, name, hash); err != nil {
			return err
		}
		what = "User " + name + " now has roles " + s.rolesText(c, role, per) + "; password changed."
	}
	if err := s.store.SetRoles(ctx, name, role, per); err != nil {
		return s.settingsDone(c, err, "")
	}
	if pw != "" || role != u.Role || !maps.Equal(per, u.EnvRoles) {
		keep := ""
		if ss := currentSession(c); ss != nil && u.Username == currentUser(c).Username {
			keep = ss.ID
		}
		n, err := s.store.DeleteUserSessions(ctx, name, keep)
		if err != nil {
			return err
		}
		if n > 0 {
			what += fmt.Sprintf(" %d session(s) ended.", n)
		}
	}
	return s.settingsDone(c, nil, what)
}

// sessionDelete ends one session, the admin's own included.
func (s *Server) sessionDelete(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	sessions, err := s.store.ActiveSessions(ctx, s.now(), s.opt.SessionIdle)
	if err != nil {
		return err
	}
	for _, ss := range sessions {
		if ss.ID != id {
			continue
		}
		if err := s.store.DeleteSession(ctx, id); err != nil {
			return err
		}
		return s.settingsDone(c, nil, "Ended a session of "+ss.Username+" (since "+ss.CreatedAt.Format("2006-01-02 15:04")+" UTC, from "+ss.Address+").")
	}
	return rewind.Errorf(rewind.ENOTFOUND, "That session has ended already.")
}

// envRolesForm reads the per-environment roles of a form: env_<ID> holds
// the role in that environment, empty for the role everywhere.
func (s *Server) envRolesForm(c echo.Context) (rewind.EnvRoles, error) {
	envs, err := s.store.Environments(c.Request().Context())
	if err != nil {
		return nil, err
	}
	var per rewind.EnvRoles
	for _, e := range envs {
		v := c.FormValue("env_" + strconv.FormatInt(e.ID, 10))
		if v == "" {
			continue
		}
		r, err := rewind.ParseGrant(v)
		if err != nil {
			return per, err
		}
		if per == nil {
			per = rewind.EnvRoles{}
		}
		per[e.ID] = r
	}
	return per, nil
}

// rolesText says roles in English, for the audit trail.
func (s *Server) rolesText(c echo.Context, role rewind.Role, per rewind.EnvRoles) string {
	names, _ := s.envNames(c)
	return templates.RolesText(i18n.WithLocale(c.Request().Context(), i18n.English), role, per, names)
}
