package releases_test

import (
	"context"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/releases"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/secret"
	"github.com/rewindhq/rewind/internal/sqlite"
)

var _ releases.Store = (*sqlite.Store)(nil)

type fixture struct {
	store          *sqlite.Store
	svc            *releases.Service
	prod, staging  *rewind.Environment
	api, cfg, db   *rewind.Target
	stagingAPI     *rewind.Target
	op, viewer, ci releases.Actor
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	box, _ := secret.NewBox(make([]byte, 32))
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "rewind.db"), box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f := &fixture{store: store, svc: releases.New(store)}
	f.prod, f.staging = &rewind.Environment{Name: "prod"}, &rewind.Environment{Name: "staging"}
	for _, e := range []*rewind.Environment{f.prod, f.staging} {
		if err := store.SaveEnvironment(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	f.api = &rewind.Target{Kind: rewind.KindService, EnvironmentID: f.prod.ID, OwnerID: 1, Namespace: "shop", Workload: "Deployment", Name: "api"}
	f.cfg = &rewind.Target{Kind: rewind.KindConfig, EnvironmentID: f.prod.ID, OwnerID: 1, Namespace: "public", Group: "DEFAULT_GROUP", Name: "shop.yaml"}
	f.db = &rewind.Target{Kind: rewind.KindDatabase, EnvironmentID: f.prod.ID, OwnerID: 1, Name: "shop"}
	f.stagingAPI = &rewind.Target{Kind: rewind.KindService, EnvironmentID: f.staging.ID, OwnerID: 2, Namespace: "shop", Workload: "Deployment", Name: "api"}
	for _, tg := range []*rewind.Target{f.api, f.cfg, f.db, f.stagingAPI} {
		if _, err := store.EnsureTarget(ctx, tg); err != nil {
			t.Fatal(err)
		}
		f.record(t, tg, tg.Name+"-0", -time.Hour)
	}
	f.op = releases.Actor{User: rewind.User{Username: "otto", Role: rewind.RoleOperator}}
	f.viewer = releases.Actor{User: rewind.User{Username: "vera", Role: rewind.RoleViewer}}
	f.ci = releases.Actor{User: rewind.User{Username: "token:ci", Role: rewind.RoleOperator}, Token: "ci", Environments: []int64{f.prod.ID}}
	return f
}

func (f *fixture) record(t *testing.T, tg *rewind.Target, hash string, ago time.Duration) *rewind.Version {
	t.Helper()
	v, _, err := f.store.RecordVersion(context.Background(), &rewind.Version{TargetID: tg.ID, Content: hash, Hash: hash, Source: rewind.SourceObserved,
		CreatedAt: time.Now().UTC().Add(ago)})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (f *fixture) workflow(t *testing.T) *rewind.Workflow {
	t.Helper()
	w, err := f.svc.SaveWorkflow(context.Background(), f.op, releases.WorkflowInput{Name: "shop", EnvironmentID: f.prod.ID,
		TargetIDs: []int64{f.api.ID, f.cfg.ID, f.db.ID}})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestSaveWorkflowValidates(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	good := releases.WorkflowInput{Name: "shop", EnvironmentID: f.prod.ID, TargetIDs: []int64{f.api.ID}}
	for _, tt := range []struct {
		name  string
		actor releases.Actor
		edit  func(in *releases.WorkflowInput)
		code  string
		want  string
	}{
		{"no name", f.op, func(in *releases.WorkflowInput) { in.Name = " " }, rewind.EINVALID, "name"},
		{"slash", f.op, func(in *releases.WorkflowInput) { in.Name = "a/b" }, rewind.EINVALID, "slash"},
		{"no targets", f.op, func(in *releases.WorkflowInput) { in.TargetIDs = nil }, rewind.EINVALID, "targets"},
		{"other environment", f.op, func(in *releases.WorkflowInput) { in.TargetIDs = []int64{f.stagingAPI.ID} }, rewind.EINVALID, "not in prod"},
		{"missing target", f.op, func(in *releases.WorkflowInput) { in.TargetIDs = []int64{999} }, rewind.EINVALID, "999"},
		{"short timeout", f.op, func(in *releases.WorkflowInput) { in.ReleaseTimeout = time.Second }, rewind.EINVALID, "timeout"},
		{"no environment", f.op, func(in *releases.WorkflowInput) { in.EnvironmentID = 0 }, rewind.EINVALID, "environment"},
		{"viewer", f.viewer, func(*releases.WorkflowInput) {}, rewind.EFORBIDDEN, "operator"},
		{"token of prod in staging", f.ci, func(in *releases.WorkflowInput) {
			in.EnvironmentID, in.TargetIDs = f.staging.ID, []int64{f.stagingAPI.ID}
		}, rewind.EFORBIDDEN, "environment"},
		{"good", f.op, func(*releases.WorkflowInput) {}, "", ""},
		{"same name", f.op, func(*releases.WorkflowInput) {}, rewind.ECONFLICT, "already exists"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := good
			tt.edit(&in)
			_, err := f.svc.SaveWorkflow(ctx, tt.actor, in)
			if rewind.ErrorCode(err) != tt.code && !(tt.code == "" && err == nil) {
				t.Fatalf("error %v, want code %q", err, tt.code)
			}
			if err != nil && !strings.Contains(rewind.ErrorMessage(err), tt.want) {
				t.Errorf("message %q lacks %q", rewind.ErrorMessage(err), tt.want)
			}
		})
	}
}

func TestStartValidates(t *testing.T) {
	f := newFixture(t)
	f.workflow(t)
	ctx := context.Background()
	good := releases.NewRelease{Ref: releases.Ref{Workflow: "shop"}, Name: "1.4.2", Commit: "9F3C2E1", URL: "https://ci.example.com/runs/42"}
	for _, tt := range []struct {
		name  string
		actor releases.Actor
		edit  func(n *releases.NewRelease)
		code  string
	}{
		{"bad commit", f.op, func(n *releases.NewRelease) { n.Commit = "main" }, rewind.EINVALID},
		{"long commit", f.op, func(n *releases.NewRelease) { n.Commit = strings.Repeat("a", 65) }, rewind.EINVALID},
		{"ftp link", f.op, func(n *releases.NewRelease) { n.URL = "ftp://ci/1" }, rewind.EINVALID},
		{"script link", f.op, func(n *releases.NewRelease) { n.URL = "javascript:alert(1)" }, rewind.EINVALID},
		{"long link", f.op, func(n *releases.NewRelease) { n.URL = "https://ci/" + strings.Repeat("a", 2000) }, rewind.EINVALID},
		{"bad name", f.op, func(n *releases.NewRelease) { n.Name = "1.4/2" }, rewind.EINVALID},
		{"unknown workflow", f.op, func(n *releases.NewRelease) { n.Workflow = "nope" }, rewind.ENOTFOUND},
		{"wrong environment", f.op, func(n *releases.NewRelease) { n.Environment = "staging" }, rewind.ENOTFOUND},
		{"viewer", f.viewer, func(*releases.NewRelease) {}, rewind.EFORBIDDEN},
		{"good", f.ci, func(n *releases.NewRelease) { n.Environment = "prod" }, ""},
		{"second while open", f.op, func(*releases.NewRelease) {}, rewind.ECONFLICT},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := good
			tt.edit(&n)
			r, err := f.svc.Start(ctx, tt.actor, n)
			if tt.code == "" {
				if err != nil || r.Commit != "9f3c2e1" || r.StartedBy != "token:ci" || r.Number != 1 {
					t.Fatalf("start = %+v, %v", r, err)
				}
				return
			}
			if rewind.ErrorCode(err) != tt.code {
				t.Fatalf("error %v, want code %q", err, tt.code)
			}
		})
	}
}

func TestReleaseStatuses(t *testing.T) {
	f := newFixture(t)
	w := f.workflow(t)
	ctx := context.Background()
	run := func(name string, fail bool, versions ...*rewind.Target) *rewind.Release {
		t.Helper()
		r, err := f.svc.Start(ctx, f.ci, releases.NewRelease{Ref: releases.Ref{WorkflowID: w.ID}, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range versions {
			f.record(t, tg, tg.Name+"-"+name, 0)
		}
		if fail {
			r, err = f.svc.Fail(ctx, f.ci, r.ID, "smoke tests failed", nil)
		} else {
			r, err = f.svc.Finish(ctx, f.ci, r.ID, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r1 := run("1.0", false, f.api, f.cfg, f.db)
	r2 := run("1.1", false, f.api)
	run("1.2", true, f.cfg)
	if _, err := f.svc.Block(ctx, f.op, r2.ID, " "); rewind.ErrorCode(err) != rewind.EINVALID {
		t.Errorf("block without reason: %v", err)
	}
	if _, err := f.svc.Block(ctx, f.op, r2.ID, "checkout broken"); err != nil {
		t.Fatal(err)
	}
	// A rollback plan rolled 1.1 back and made release 1.1-rollback.
	db := f.store.DB()
	if _, err := db.Exec(`INSERT INTO requests (id, kind, environment_id, state, requester, reason, required_approvals, created_at, updated_at)
		VALUES (77, 'rollback', ?, 'succeeded', 'otto', 'bad', 0, '2026-01-01', '2026-01-01')`, f.prod.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE releases SET rolled_back_by = 77 WHERE id = ?`, r2.ID); err != nil {
		t.Fatal(err)
	}
	rb, err := f.svc.Start(ctx, f.op, releases.NewRelease{Ref: releases.Ref{WorkflowID: w.ID}, Name: "rollback of 1.1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE releases SET rollback_of = ?, request_id = 77 WHERE id = ?`, r2.ID, rb.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Finish(ctx, f.op, rb.ID, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	f.record(t, f.api, "api-hotfix", 0) // outside any release

	views, err := f.svc.Releases(ctx, f.viewer, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, v := range views {
		got[v.Release.Name] = v.Status.String()
	}
	want := map[string]string{
		"rollback of 1.1": "current · a rollback · drifted",
		"1.2":             "failed",
		"1.1":             "rolled back · blocked",
		"1.0":             "superseded · stable",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("release %s: %q, want %q", name, got[name], w)
		}
	}
	if views[len(views)-1].Counts.String() != "1 service · 1 config · 1 SQL change" {
		t.Errorf("1.0 counts %q", views[len(views)-1].Counts)
	}
	sums, err := f.svc.Workflows(ctx, f.viewer, releases.WorkflowFilter{EnvironmentID: f.prod.ID})
	if err != nil || len(sums) != 1 {
		t.Fatalf("Workflows = %v, %v", sums, err)
	}
	if s := sums[0]; s.Current.Release.ID != rb.ID || s.Stable.Release.ID != r1.ID || s.Open != nil || s.Unreleased != 1 || s.Health != releases.HealthDrifted {
		t.Errorf("summary: current %v stable %v open %v unreleased %d health %s", s.Current, s.Stable, s.Open, s.Unreleased, s.Health)
	}
	d, err := f.svc.Release(ctx, f.viewer, r1.ID)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []rewind.TargetKind
	for _, it := range d.Items {
		kinds = append(kinds, it.Target.Kind)
		if it.Before == nil || it.How != rewind.ItemObserved {
			t.Errorf("item %s: before %v, how %s", it.Target.Label(), it.Before, it.How)
		}
	}
	if !slices.Equal(kinds, []rewind.TargetKind{rewind.KindService, rewind.KindConfig, rewind.KindDatabase}) {
		t.Errorf("items ordered %v", kinds)
	}
	if _, err := f.svc.Release(ctx, releases.Actor{User: f.viewer.User, Environments: []int64{f.staging.ID}}, r1.ID); rewind.ErrorCode(err) != rewind.ENOTFOUND {
		t.Errorf("a staging token reads a prod release: %v", err)
	}
	ch, err := f.svc.Check(ctx, f.viewer, releases.Ref{Workflow: "shop", Release: "1.1"})
	if err != nil || ch.Blocked == nil || ch.Blocked.BlockReason != "checkout broken" {
		t.Errorf("check 1.1 = %+v, %v; want blocked", ch, err)
	}
	if _, err := f.svc.Unblock(ctx, f.op, r2.ID, "fixed in 1.1.1"); err != nil {
		t.Fatal(err)
	}
	if ch, err := f.svc.Check(ctx, f.viewer, releases.Ref{Workflow: "shop", Release: "1.1"}); err != nil || ch.Blocked != nil {
		t.Errorf("check after unblock = %+v, %v", ch, err)
	}
	if ch, err := f.svc.Check(ctx, f.viewer, releases.Ref{Workflow: "shop", Release: "9.9"}); err != nil || ch.Blocked != nil {
		t.Errorf("check of a name never released = %+v, %v", ch, err)
	}
}

func TestFinishNamedAndRecorded(t *testing.T) {
	f := newFixture(t)
	w := f.workflow(t)
	ctx := context.Background()
	r, err := f.svc.Start(ctx, f.ci, releases.NewRelease{Ref: releases.Ref{Workflow: "shop", Environment: "prod"}, Name: "2.0"})
	if err != nil {
		t.Fatal(err)
	}
	// The pod template names the release; recorded by the watcher.
	annotated := f.record(t, f.api, "api-2.0", -3*time.Hour)
	if id, err := f.svc.Recorded(ctx, f.api, annotated, "shop/2.0"); err != nil || id != r.ID {
		t.Errorf("Recorded = %d, %v; want release %d", id, err, r.ID)
	}
	back, _, err := f.store.RecordVersion(ctx, &rewind.Version{TargetID: f.api.ID, Content: "api-0", Hash: "api-0", Source: rewind.SourceRollback, CreatedAt: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	if id, err := f.svc.Recorded(ctx, f.api, back, "shop/2.0"); err != nil || id != 0 {
		t.Errorf("Recorded a rollback = %d, %v; want none", id, err)
	}
	other := f.record(t, f.stagingAPI, "staging-2.0", -3*time.Hour)
	if id, err := f.svc.Recorded(ctx, f.stagingAPI, other, "shop/2.0"); err != nil || id != 0 {
		t.Errorf("Recorded in staging = %d, %v; want none (no workflow shop there)", id, err)
	}
	for _, tt := range []struct {
		name  string
		items []string
		code  string
	}{
		{"target outside", []string{idAt(f.stagingAPI.ID, 2)}, rewind.EINVALID},
		{"no such version", []string{idAt(f.cfg.ID, 9)}, rewind.EINVALID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var refs []releases.ItemRef
			for _, s := range tt.items {
				ref, err := releases.ParseItemRef(s)
				if err != nil {
					t.Fatal(err)
				}
				refs = append(refs, ref)
			}
			if _, err := f.svc.Finish(ctx, f.ci, r.ID, refs); rewind.ErrorCode(err) != tt.code {
				t.Errorf("finish: %v, want %s", err, tt.code)
			}
		})
	}
	for _, bad := range []string{"12", "a@1", "1@0", "@"} {
		if _, err := releases.ParseItemRef(bad); err == nil {
			t.Errorf("ParseItemRef(%q) accepted", bad)
		}
	}
	done, err := f.svc.Finish(ctx, f.ci, r.ID, []releases.ItemRef{{TargetID: f.cfg.ID, Version: 1}})
	if err != nil {
		t.Fatal(err)
	}
	hows := map[rewind.ItemHow]int{}
	for _, it := range done.Items {
		hows[it.How]++
	}
	if hows[rewind.ItemAnnotation] != 1 || hows[rewind.ItemNamed] != 1 || len(done.Items) != 2 {
		t.Errorf("items by how %v", hows)
	}
	open, err := f.svc.OpenReleasesFor(ctx, f.op, f.db.ID)
	if err != nil || len(open) != 0 {
		t.Errorf("open releases after finish: %v, %v", open, err)
	}
	if _, err := f.svc.Start(ctx, f.ci, releases.NewRelease{Ref: releases.Ref{WorkflowID: w.ID}, Name: "2.1"}); err != nil {
		t.Fatal(err)
	}
	open, err = f.svc.OpenReleasesFor(ctx, f.op, f.db.ID)
	if err != nil || len(open) != 1 || open[0].Workflow.Name != "shop" {
		t.Fatalf("open releases: %v, %v", open, err)
	}
	sql := f.record(t, f.db, "sql-2.1", -5*time.Hour)
	if err := f.svc.Attach(ctx, open[0].Release.ID, sql); err != nil {
		t.Errorf("attach SQL change: %v", err)
	}
	if err := f.svc.Attach(ctx, open[0].Release.ID, other); rewind.ErrorCode(err) != rewind.EINVALID {
		t.Errorf("attach a version of another target: %v", err)
	}
}

func idAt(target, version int64) string {
	return strconv.FormatInt(target, 10) + "@" + strconv.FormatInt(version, 10)
}
