package web

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/diff"
	"github.com/rewindhq/rewind/internal/nacos"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/sqlite"
	"github.com/rewindhq/rewind/templates"
)

// configVersionsPerPage is how many versions a config page lists at once.
const configVersionsPerPage = 100

// configBackend returns the Nacos side, or an error when this Rewind runs without it.
func (s *Server) configBackend() (ConfigBackend, error) {
	if s.opt.Configs == nil {
		return nil, rewind.Errorf(rewind.EUNAVAILABLE, "This Rewind runs without Nacos support.")
	}
	return s.opt.Configs, nil
}

// configsList shows the configs of one environment, by server and namespace,
// filtered by data ID and group.
func (s *Server) configsList(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	servers, err := s.store.NacosServers(ctx)
	if err != nil {
		return err
	}
	envs, err := s.environments(c)
	if err != nil {
		return err
	}
	v := templates.ConfigsView{IsAdmin: u.Role == rewind.RoleAdmin && u.DisabledAt == nil, Env: c.QueryParam("env"), Scope: c.QueryParam("scope"),
		Query: strings.TrimSpace(c.QueryParam("q")), Group: strings.TrimSpace(c.QueryParam("group"))}
	if len(servers) == 0 {
		v.NoServers = true
		return s.render(c, http.StatusOK, s.meta(c, "Configs", "configs"), templates.ConfigsPage(v))
	}
	withServers := map[int64]bool{}
	for _, n := range servers {
		withServers[n.EnvironmentID] = true
	}
	var env *rewind.Environment
	for _, e := range envs {
		if withServers[e.ID] && (env == nil || e.Name == v.Env) {
			env = e
		}
	}
	if env == nil {
		return s.render(c, http.StatusOK, s.meta(c, "Configs", "configs"), templates.NothingVisible("Configs"))
	}
	v.Env = env.Name
	for _, e := range envs {
		if withServers[e.ID] {
			v.Envs = append(v.Envs, templates.EnvTab{Name: e.Name, URL: "/configs?env=" + url.QueryEscape(e.Name), Active: e.ID == env.ID})
		}
	}
	f := sqlite.ConfigFilter{EnvironmentID: env.ID, DataID: v.Query, Group: v.Group, WithDeleted: true}
	names := map[int64]string{}
	for _, n := range servers {
		names[n.ID] = n.Name
		if n.EnvironmentID != env.ID {
			continue
		}
		v.Servers = append(v.Servers, s.nacosState(n, env.Name))
		for _, ns := range n.Namespaces {
			scope := n.Name + "/" + ns
			v.Scopes = append(v.Scopes, templates.ConfigScope{Value: scope, Label: n.Name + " · " + ns})
			if scope == v.Scope {
				f.ServerID, f.Namespace = n.ID, ns
			}
		}
	}
	if f.ServerID == 0 {
		v.Scope = ""
	}
	sums, err := s.store.ConfigSummaries(ctx, f)
	if err != nil {
		return err
	}
	for _, sum := range sums {
		t := sum.Target
		row := templates.ConfigRow{ID: t.ID, Server: names[t.OwnerID], Namespace: t.Namespace, Group: t.Group, DataID: t.Name,
			LastChange: sum.LastChange, LastAuthor: sum.LastAuthor, Versions: sum.Count, Deleted: t.DeletedAt != nil}
		if s.opt.Configs != nil {
			row.Type = s.opt.Configs.Type(t)
		}
		v.Rows = append(v.Rows, row)
	}
	return s.render(c, http.StatusOK, s.meta(c, "Configs", "configs"), templates.ConfigsPage(v))
}

// nacosState describes a registered server without its password.
func (s *Server) nacosState(n *rewind.NacosServer, env string) templates.NacosServerState {
	st := templates.NacosServerState{ID: n.ID, Name: n.Name, EnvironmentID: n.EnvironmentID, Env: env, Addr: n.Addr, ContextPath: n.ContextPath,
		Namespaces: n.Namespaces, Username: n.Username, HasPassword: n.Password != "", MaskKeys: n.MaskKeys, FromConfig: n.FromConfig,
		PlainHTTP: n.Password != "" && !rewind.NacosOverHTTPS(n.Addr)}
	if s.opt.Configs != nil {
		st.Status = s.opt.Configs.Status(n.ID)
	} else {
		st.Status.Problem = "This Rewind runs without Nacos support."
	}
	return st
}

// configTarget loads the config named by the :id parameter.
func (s *Server) configTarget(c echo.Context) (*rewind.Target, error) {
	return s.targetParam(c, rewind.KindConfig)
}

func configPath(t *rewind.Target) string { return "/configs/" + strconv.FormatInt(t.ID, 10) }

// revealKey marks a request that came through configReveal.
const revealKey = "reveal"

// The views of a config that can show the values of secret keys.
const (
	viewConfig  = "config"
	viewCompare = "compare"
	viewRaw     = "raw"
)

// configReveal shows a config view (query view: config, compare or raw,
// with that view's own query) with the values of secret keys. It is a POST,
// so that it needs the CSRF token and no link, prefetch or history entry
// reveals anything; revealSecrets audits it.
func (s *Server) configReveal(c echo.Context) error {
	c.Set(revealKey, true)
	switch c.QueryParam("view") {
	case viewConfig, "":
		return s.configShow(c)
	case viewCompare:
		return s.configCompare(c)
	case viewRaw:
		n, err := strconv.ParseInt(c.QueryParam("number"), 10, 64)
		if err != nil || n < 1 {
			return rewind.Errorf(rewind.EINVALID, "Say which version to download (number).")
		}
		return s.rawVersion(c, n)
	}
	return rewind.Errorf(rewind.EINVALID, "%q is not a view of a config.", c.QueryParam("view"))
}

// revealSecrets says whether a page shows the values of secret keys: the user
// asked for it through configReveal (a POST with the CSRF token) and is at
// least an operator. Each reveal is audited, without the values, and its
// response is never stored by a browser or proxy.
func (s *Server) revealSecrets(c echo.Context, t *rewind.Target, where string) (bool, error) {
	if asked, _ := c.Get(revealKey).(bool); !asked || c.Request().Method != http.MethodPost {
		return false, nil
	}
	u := currentUser(c)
	if err := actor(c).May(rewind.RoleOperator, t.EnvironmentID); err != nil {
		return false, err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	ev := rewind.AuditEvent{Actor: u.Username, Action: rewind.ActionReveal, TargetKind: t.Kind, Target: t.Label(), Outcome: "ok",
		Detail: "showed the values of secret keys on " + where}
	if env, err := s.store.Environment(c.Request().Context(), t.EnvironmentID); err == nil {
		ev.Environment = env.Name
	}
	if err := s.store.AddAudit(c.Request().Context(), ev); err != nil {
		return false, err
	}
	return true, nil
}

// secretsDiffer says whether two contents differ only in masked values.
func secretsDiffer(be ConfigBackend, t *rewind.Target, a, b string, revealed bool) bool {
	return !revealed && a != b && shown(be, t, a, false) == shown(be, t, b, false)
}

// maskNote tells a config view (viewConfig or viewCompare) how its secret
// values are shown and how to switch: revealing posts the view's query to
// configReveal, masking again is the view's own GET.
func maskNote(c echo.Context, t *rewind.Target, view string, revealed bool) templates.MaskNote {
	n := templates.MaskNote{Masked: !revealed, Revealed: revealed, CSRF: csrfToken(c)}
	q := c.Request().URL.Query()
	q.Del("view")
	path := configPath(t)
	if view == viewCompare {
		path += "/compare"
	}
	if revealed {
		n.MaskURL = path + queryString(q)
		return n
	}
	if can(c, rewind.RoleOperator, t.EnvironmentID) {
		q.Set("view", view)
		n.RevealURL = configPath(t) + "/reveal" + queryString(q)
	}
	return n
}

func queryString(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// hiddenMD5 stands for the md5 of a content with masked values on a page
// that masks them: the hash of secret values would let anyone guess them
// offline.
const hiddenMD5 = nacos.HiddenMD5

// md5Shown is the md5 of a content as a page may show it: as is when the
// content has no masked values or the page shows them (revealed), else
// hiddenMD5.
func md5Shown(be ConfigBackend, t *rewind.Target, content, md5 string, revealed bool) string {
	if md5 == "" || revealed || be.Mask(t, content) == content {
		return md5
	}
	return hiddenMD5
}

// stateShown says what a config holds, as a page that masks secrets may
// say it: its md5 (hidden when the content has masked values), or no config.
func stateShown(be ConfigBackend, t *rewind.Target, exists bool, content, md5 string) string {
	if !exists {
		return "no config"
	}
	return "md5 " + md5Shown(be, t, content, md5, false)
}

// versionMD5s returns how a page shows the md5 of each of the versions vs
// of config t, by md5: hidden for contents with masked values unless
// revealed. It reads the content of each distinct md5 once.
func (s *Server) versionMD5s(ctx context.Context, be ConfigBackend, t *rewind.Target, vs []rewind.ConfigVersion, revealed bool) map[string]string {
	out := map[string]string{}
	for _, v := range vs {
		if _, ok := out[v.MD5]; ok || v.MD5 == "" {
			continue
		}
		out[v.MD5] = hiddenMD5
		if revealed {
			out[v.MD5] = v.MD5
			continue
		}
		if ver, err := s.store.VersionByNumber(ctx, t.ID, v.Number); err == nil {
			out[v.MD5] = md5Shown(be, t, ver.Content, v.MD5, false)
		}
	}
	return out
}

// shown is a content as a page shows it: masked unless revealed.
func shown(be ConfigBackend, t *rewind.Target, content string, revealed bool) string {
	if revealed || content == "" {
		return content
	}
	return be.Mask(t, content)
}

// configDiff compares two contents of a config as a page shows them, and
// lists the changed keys for formats with keys (show is then true). Unless
// revealed, the values of secret keys are masked in both.
func configDiff(be ConfigBackend, t *rewind.Target, from, to string, revealed bool) (d *diff.Result, keys []diff.KeyChange, show bool) {
	shownFrom, shownTo := shown(be, t, from, revealed), shown(be, t, to, revealed)
	d = diff.Compute(shownFrom, shownTo, diff.DefaultOptions())
	format := be.Format(t, to)
	if to == "" {
		format = be.Format(t, from)
	}
	switch format {
	case "yaml", "json", "properties":
	default:
		return d, nil, false
	}
	keys, err := diff.KeyChanges(format, from, to)
	if err != nil {
		d.Notes = append(d.Notes, "The changed keys cannot be listed: one of the versions is not valid "+format+".")
		return d, nil, false
	}
	if !revealed {
		for i, k := range keys {
			if be.SecretKey(t, k.Key) {
				if keys[i].Old != "" {
					keys[i].Old = maskedValue
				}
				if keys[i].New != "" {
					keys[i].New = maskedValue
				}
			}
		}
	}
	return d, keys, true
}

// currentIndex finds the version that holds what Nacos holds now: the newest
// with its md5 (a deletion when it does not exist); -1 when none.
func currentIndex(vs []rewind.ConfigVersion, exists bool, md5 string) int {
	for i, v := range vs {
		if (exists && !v.Deleted && v.MD5 == md5) || (!exists && v.Deleted) {
			return i
		}
	}
	return -1
}

// versionChoices are the versions offered by the compare pickers, newest first.
func versionChoices(vs []rewind.ConfigVersion, current int) []templates.VersionChoice {
	out := make([]templates.VersionChoice, 0, len(vs))
	for i, v := range vs {
		label := "#" + strconv.FormatInt(v.Number, 10) + " · " + v.At.Local().Format("2006-01-02 15:04:05")
		if v.Op != "" {
			label += " · " + v.Op
		}
		if v.Deleted {
			label += " · deleted"
		}
		if i == current {
			label += " (current)"
		}
		out = append(out, templates.VersionChoice{Number: v.Number, Label: label})
	}
	return out
}

// sortedNames returns the keys of m in order.
func sortedNames(m map[string]error) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// configHealth adds a check per Nacos server ("nacos <name>") and reports
// whether any of them has a problem.
func (s *Server) configHealth(ctx context.Context, checks map[string]string) (degraded bool) {
	if s.opt.Configs == nil {
		return false
	}
	health := s.opt.Configs.Health(ctx)
	for _, name := range sortedNames(health) {
		if err := health[name]; err != nil {
			checks["nacos "+name], degraded = err.Error(), true
		} else {
			checks["nacos "+name] = "ok"
		}
	}
	return degraded
}
