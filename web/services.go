package web

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/sqlite"
	"github.com/rewindhq/rewind/templates"
)

const versionsPerPage = 50

// servicesList shows the services of one environment.
func (s *Server) servicesList(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	clusters, err := s.store.Clusters(ctx)
	if err != nil {
		return err
	}
	envs, err := s.environments(c)
	if err != nil {
		return err
	}
	v := templates.ServicesView{CSRF: csrfToken(c), IsAdmin: u.Role == rewind.RoleAdmin && u.DisabledAt == nil,
		Env: c.QueryParam("env"), Namespace: c.QueryParam("ns"), Query: c.QueryParam("q")}
	if len(clusters) == 0 {
		v.NoClusters = true
		if v.IsAdmin && s.opt.KubeconfigPath != "" && s.opt.KubeconfigContexts != nil {
			v.KubeconfigPath = s.opt.KubeconfigPath
			v.KubeContexts, _ = s.opt.KubeconfigContexts(s.opt.KubeconfigPath)
		}
		for _, e := range envs {
			v.EnvNames = append(v.EnvNames, e.Name)
		}
		return s.render(c, http.StatusOK, s.meta(c, "Services", "services"), templates.ServicesPage(v))
	}
	clusterName := map[int64]string{}
	withClusters := map[int64]bool{}
	for _, cl := range clusters {
		clusterName[cl.ID] = cl.Name
		withClusters[cl.EnvironmentID] = true
	}
	var env *rewind.Environment
	for _, e := range envs {
		if !withClusters[e.ID] {
			continue
		}
		if env == nil || e.Name == v.Env {
			env = e
		}
	}
	if env == nil {
		return s.render(c, http.StatusOK, s.meta(c, "Services", "services"), templates.NothingVisible("Services"))
	}
	v.Env = env.Name
	for _, e := range envs {
		if withClusters[e.ID] {
			v.Envs = append(v.Envs, templates.EnvTab{Name: e.Name, URL: "/services?env=" + url.QueryEscape(e.Name), Active: e.ID == env.ID})
		}
	}
	all, err := s.store.Targets(ctx, sqlite.TargetFilter{Kind: rewind.KindService, EnvironmentID: env.ID})
	if err != nil {
		return err
	}
	nss := map[string]bool{}
	for _, ts := range all {
		nss[ts.Target.Namespace] = true
		if v.Namespace != "" && ts.Target.Namespace != v.Namespace || !containsFold(ts.Target.Name, v.Query) {
			continue
		}
		row := templates.ServiceRow{ID: ts.Target.ID, Cluster: clusterName[ts.Target.OwnerID], Namespace: ts.Target.Namespace,
			Workload: ts.Target.Workload, Name: ts.Target.Name}
		if ts.Latest != nil {
			row.Images, row.Revision, row.LastChange, row.LastAuthor = ts.Latest.Images, ts.Latest.Revision, ts.Latest.CreatedAt, ts.Latest.Author
		}
		if st, err := s.services.Status(ctx, ts.Target); err == nil {
			row.Status = st
		}
		v.Rows = append(v.Rows, row)
	}
	for ns := range nss {
		v.Namespaces = append(v.Namespaces, ns)
	}
	sort.Strings(v.Namespaces)
	return s.render(c, http.StatusOK, s.meta(c, "Services", "services"), templates.ServicesPage(v))
}

// targetParam loads the target of the given kind named by the :id parameter.
func (s *Server) targetParam(c echo.Context, kind rewind.TargetKind) (*rewind.Target, error) {
	id, err := idParam(c, "id")
	if err != nil {
		return nil, err
	}
	t, err := s.store.Target(c.Request().Context(), id)
	if err != nil {
		return nil, err
	}
	if t.Kind != kind {
		return nil, rewind.Errorf(rewind.ENOTFOUND, "No %s with this ID.", kind)
	}
	return t, nil
}

// serviceTarget loads the service named by the :id parameter.
func (s *Server) serviceTarget(c echo.Context) (*rewind.Target, error) {
	return s.targetParam(c, rewind.KindService)
}

// serviceShow shows a service and a page of its versions.
func (s *Server) serviceShow(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := s.serviceTarget(c)
	if err != nil {
		return err
	}
	pageNum := pageParam(c)
	versions, total, err := s.store.Versions(ctx, t.ID, pageOffset(pageNum, versionsPerPage), versionsPerPage)
	if err != nil {
		return err
	}
	v := templates.ServiceView{Target: t, CanRequest: can(c, rewind.RoleOperator, t.EnvironmentID) && t.DeletedAt == nil,
		Nav: templates.PageNav{Page: pageNum, PerPage: versionsPerPage, Total: total, BaseURL: c.Request().URL.Path}}
	if cl, err := s.store.Cluster(ctx, t.OwnerID); err == nil {
		v.Cluster = cl.Name
	}
	if env, err := s.store.Environment(ctx, t.EnvironmentID); err == nil {
		v.Env = env.Name
	}
	if latest, err := s.store.LatestVersion(ctx, t.ID); err == nil {
		v.Latest = latest.Number
	}
	for _, ver := range versions {
		v.Versions = append(v.Versions, templates.VersionRow{V: ver, Current: ver.Number == v.Latest})
	}
	v.Status, v.StatusErr = s.liveStatus(c, t)
	if open, err := s.store.Requests(ctx, sqlite.RequestFilter{TargetID: t.ID, States: openStates, Limit: 1}); err == nil && len(open) > 0 {
		v.Open = open[0]
	}
	return s.render(c, http.StatusOK, s.meta(c, t.Name, "services"), templates.ServicePage(v))
}

var openStates = []rewind.State{rewind.StatePending, rewind.StateApproved, rewind.StateRunning}

func (s *Server) liveStatus(c echo.Context, t *rewind.Target) (*rewind.RolloutStatus, string) {
	if t.DeletedAt != nil {
		return nil, ""
	}
	st, err := s.services.Status(c.Request().Context(), t)
	if err != nil {
		return nil, rewind.ErrorMessage(err)
	}
	return st, ""
}

// serviceStatus is the live status card, polled by the service page.
func (s *Server) serviceStatus(c echo.Context) error {
	t, err := s.serviceTarget(c)
	if err != nil {
		return err
	}
	st, msg := s.liveStatus(c, t)
	return s.render(c, http.StatusOK, s.meta(c, t.Name, "services"), templates.ServiceStatusCard(st, msg))
}

// versionRaw downloads one version's content as text.
func (s *Server) versionRaw(c echo.Context) error {
	t, err := s.serviceTarget(c)
	if err != nil {
		return err
	}
	n, err := idParam(c, "number")
	if err != nil {
		return err
	}
	v, err := s.store.VersionByNumber(c.Request().Context(), t.ID, n)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Content-Disposition", `attachment; filename="`+t.Name+"-v"+strconv.FormatInt(n, 10)+`.yaml"`)
	return c.Blob(http.StatusOK, "text/plain; charset=utf-8", []byte(v.Content))
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
