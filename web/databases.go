package web

import (
	"context"
	"net/http"
	"net/url"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/sqlite"
	"github.com/rewindhq/rewind/templates"
)

const changesPerPage = 50

// databasesList shows the databases of one environment with their engine,
// last change and connection state.
func (s *Server) databasesList(c echo.Context) error {
	ctx := c.Request().Context()
	backend, err := s.databases()
	if err != nil {
		return err
	}
	dbs, err := s.store.Databases(ctx)
	if err != nil {
		return err
	}
	envs, err := s.environments(c)
	if err != nil {
		return err
	}
	v := templates.DatabasesView{IsAdmin: currentUser(c).Role == rewind.RoleAdmin, Env: c.QueryParam("env")}
	if len(dbs) == 0 {
		v.NoDatabases = true
		return s.render(c, http.StatusOK, s.meta(c, "Databases", "databases"), templates.DatabasesPage(v))
	}
	withDBs := map[int64]bool{}
	for _, d := range dbs {
		withDBs[d.EnvironmentID] = true
	}
	var env *rewind.Environment
	for _, e := range envs {
		if withDBs[e.ID] && (env == nil || e.Name == v.Env) {
			env = e
		}
	}
	if env == nil {
		return s.render(c, http.StatusOK, s.meta(c, "Databases", "databases"), templates.NothingVisible("Databases"))
	}
	v.Env = env.Name
	for _, e := range envs {
		if withDBs[e.ID] {
			v.Envs = append(v.Envs, templates.EnvTab{Name: e.Name, URL: "/databases?env=" + url.QueryEscape(e.Name), Active: e.ID == env.ID})
		}
	}
	targets, err := s.store.Targets(ctx, sqlite.TargetFilter{Kind: rewind.KindDatabase, EnvironmentID: env.ID})
	if err != nil {
		return err
	}
	byOwner := map[int64]sqlite.TargetSummary{}
	for _, ts := range targets {
		byOwner[ts.Target.OwnerID] = ts
	}
	open, err := s.store.Requests(ctx, sqlite.RequestFilter{Kind: rewind.KindDatabase, States: openStates})
	if err != nil {
		return err
	}
	openOn := map[int64]*rewind.Request{}
	for _, r := range open {
		openOn[r.First().TargetID] = r
	}
	var inEnv []*rewind.Database
	for _, d := range dbs {
		if d.EnvironmentID == env.ID {
			inEnv = append(inEnv, d)
		}
	}
	states := s.connectionStates(ctx, backend, inEnv)
	for i, d := range inEnv {
		ts, ok := byOwner[d.ID]
		if !ok {
			continue
		}
		row := templates.DatabaseRow{TargetID: ts.Target.ID, Name: d.Name, Engine: rewind.EngineLabel(d.Engine), Last: ts.Latest,
			Changes: ts.Count, OpenChange: openOn[ts.Target.ID]}
		row.Connected, row.State = connectionText(states[i])
		v.Rows = append(v.Rows, row)
	}
	return s.render(c, http.StatusOK, s.meta(c, "Databases", "databases"), templates.DatabasesPage(v))
}

// connectionStates asks for the connection state of each database at once.
func (s *Server) connectionStates(ctx context.Context, backend DatabaseBackend, dbs []*rewind.Database) []error {
	out := make([]error, len(dbs))
	var wg sync.WaitGroup
	for i, d := range dbs {
		wg.Go(func() { out[i] = backend.State(ctx, d) })
	}
	wg.Wait()
	return out
}

func connectionText(err error) (bool, string) {
	if err == nil {
		return true, "connected"
	}
	return false, rewind.ErrorMessage(err)
}

// databaseTarget loads the database named by the :id parameter (its target
// ID), its registration and its environment.
func (s *Server) databaseTarget(c echo.Context) (*rewind.Target, *rewind.Database, *rewind.Environment, error) {
	ctx := c.Request().Context()
	t, err := s.targetParam(c, rewind.KindDatabase)
	if err != nil {
		return nil, nil, nil, err
	}
	d, err := s.store.Database(ctx, t.OwnerID)
	if err != nil {
		return nil, nil, nil, err
	}
	env, err := s.store.Environment(ctx, t.EnvironmentID)
	if err != nil {
		return nil, nil, nil, err
	}
	return t, d, env, nil
}

// databaseShow is a database's SQL changes and rollbacks, newest first.
func (s *Server) databaseShow(c echo.Context) error {
	ctx := c.Request().Context()
	backend, err := s.databases()
	if err != nil {
		return err
	}
	t, d, env, err := s.databaseTarget(c)
	if err != nil {
		return err
	}
	pageNum := pageParam(c)
	reqs, total, err := s.store.DatabaseRequests(ctx, t.ID, pageOffset(pageNum, changesPerPage), changesPerPage)
	if err != nil {
		return err
	}
	v := templates.DatabaseView{TargetID: t.ID, Name: d.Name, Engine: rewind.EngineLabel(d.Engine), Env: env.Name, Approvals: env.RequiredApprovals,
		CanSubmit: can(c, rewind.RoleOperator, t.EnvironmentID),
		Nav:       templates.PageNav{Page: pageNum, PerPage: changesPerPage, Total: total, BaseURL: c.Request().URL.Path}}
	v.Connected, v.State = connectionText(backend.State(ctx, d))
	for _, r := range reqs {
		if r.State == rewind.StatePending || r.State == rewind.StateApproved || r.State == rewind.StateRunning {
			v.Open = r
		}
		row, err := s.changeRow(ctx, backend, t, d, r)
		if err != nil {
			return err
		}
		v.Changes = append(v.Changes, row)
	}
	return s.render(c, http.StatusOK, s.meta(c, d.Name, "databases"), templates.DatabasePage(v))
}

// changeRow sums up one SQL request for the changes list.
func (s *Server) changeRow(ctx context.Context, backend DatabaseBackend, t *rewind.Target, d *rewind.Database, r *rewind.Request) (templates.ChangeRow, error) {
	row := templates.ChangeRow{R: r, Statements: -1}
	p, err := rewind.ParseSQLRequest(r.First().Payload)
	if err != nil {
		return row, nil
	}
	row.Kind = p.Kind
	ex, err := s.store.SQLExecutionByStep(ctx, r.First().ID)
	switch {
	case err == nil:
		row.Executed, row.Succeeded, row.RowsAffected, row.Statements = true, ex.Succeeded, ex.RowsAffected, ex.StatementCount
		if ver, err := s.store.Version(ctx, ex.VersionID); err == nil {
			row.Version = ver.Number
		}
		if row.RolledBackBy, row.OpenRollback, err = s.rollbacksOf(ctx, t.ID, ex.VersionID); err != nil {
			return row, err
		}
	case rewind.ErrorCode(err) == rewind.ENOTFOUND:
		if stmts, err := backend.Split(d.Engine, p.SQL); err == nil {
			row.Statements = len(stmts)
		}
	default:
		return row, err
	}
	if p.Kind == rewind.SQLKindRollback {
		row.Of = s.changeOfVersion(ctx, p.OfVersion)
	}
	return row, nil
}

// rollbacksOf returns the succeeded rollback of the change that made a
// version, and the open one, if any.
func (s *Server) rollbacksOf(ctx context.Context, targetID, versionID int64) (done, open *templates.ChangeRef, err error) {
	rbs, err := s.store.SQLRollbacksOf(ctx, targetID, versionID)
	if err != nil {
		return nil, nil, err
	}
	for _, rb := range rbs {
		switch rb.State {
		case rewind.StateSucceeded:
			if done == nil {
				done = s.changeRef(ctx, rb)
			}
		case rewind.StatePending, rewind.StateApproved, rewind.StateRunning:
			open = s.changeRef(ctx, rb)
		}
	}
	return done, open, nil
}

// changeRef points at a SQL request.
func (s *Server) changeRef(ctx context.Context, r *rewind.Request) *templates.ChangeRef {
	ref := &templates.ChangeRef{RequestID: r.ID, Requester: r.Requester, State: string(r.State), At: r.CreatedAt}
	if r.FinishedAt != nil {
		ref.At = *r.FinishedAt
	}
	if r.First().ResultVersionID != 0 {
		if v, err := s.store.Version(ctx, r.First().ResultVersionID); err == nil {
			ref.Version = v.Number
		}
	}
	return ref
}

// changeOfVersion points at the request that made a version.
func (s *Server) changeOfVersion(ctx context.Context, versionID int64) *templates.ChangeRef {
	v, err := s.store.Version(ctx, versionID)
	if err != nil || v.RequestID == 0 {
		return nil
	}
	r, err := s.store.Request(ctx, v.RequestID)
	if err != nil {
		return nil
	}
	ref := s.changeRef(ctx, r)
	ref.Version = v.Number
	return ref
}
