package sqlite

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/rewind"
)

// releaseFixture is a store with a clock, prod, a service, a config and a
// database, and workflow shop holding the three.
type releaseFixture struct {
	s                 *Store
	clock             time.Time
	env               *rewind.Environment
	svc, cfg, db, odd *rewind.Target
	wf                *rewind.Workflow
}

func newReleaseFixture(t *testing.T) *releaseFixture {
	t.Helper()
	s, _ := openTest(t)
	f := &releaseFixture{s: s, clock: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	s.now = func() time.Time { return f.clock }
	ctx := context.Background()
	f.env = &rewind.Environment{Name: "prod"}
	if err := s.SaveEnvironment(ctx, f.env); err != nil {
		t.Fatal(err)
	}
	for _, tg := range []**rewind.Target{&f.svc, &f.cfg, &f.db, &f.odd} {
		*tg = &rewind.Target{EnvironmentID: f.env.ID, OwnerID: 1}
	}
	f.svc.Kind, f.svc.Namespace, f.svc.Workload, f.svc.Name = rewind.KindService, "shop", "Deployment", "api"
	f.cfg.Kind, f.cfg.Namespace, f.cfg.Group, f.cfg.Name = rewind.KindConfig, "public", "DEFAULT_GROUP", "shop.yaml"
	f.db.Kind, f.db.Name = rewind.KindDatabase, "shop"
	f.odd.Kind, f.odd.Namespace, f.odd.Workload, f.odd.Name = rewind.KindService, "shop", "Deployment", "other"
	for _, tg := range []*rewind.Target{f.svc, f.cfg, f.db, f.odd} {
		if _, err := s.EnsureTarget(ctx, tg); err != nil {
			t.Fatal(err)
		}
	}
	f.record(t, f.svc, "svc-0", -time.Hour, rewind.SourceObserved)
	f.wf = &rewind.Workflow{Name: "shop", EnvironmentID: f.env.ID, TargetIDs: []int64{f.svc.ID, f.cfg.ID, f.db.ID}, CreatedBy: "anna"}
	if err := s.SaveWorkflow(ctx, f.wf, rewind.AuditEvent{Actor: "anna", Action: rewind.ActionWorkflowChange}); err != nil {
		t.Fatal(err)
	}
	return f
}

// record records a version of tg made at the clock plus at.
func (f *releaseFixture) record(t *testing.T, tg *rewind.Target, hash string, at time.Duration, src rewind.Source) *rewind.Version {
	t.Helper()
	v, added, err := f.s.RecordVersion(context.Background(), &rewind.Version{TargetID: tg.ID, Content: hash, Hash: hash, Source: src, CreatedAt: f.clock.Add(at)})
	if err != nil || !added {
		t.Fatalf("record %s: added %v, %v", hash, added, err)
	}
	return v
}

func (f *releaseFixture) start(t *testing.T, name string) *rewind.Release {
	t.Helper()
	r := &rewind.Release{WorkflowID: f.wf.ID, Name: name, StartedBy: "ci"}
	if err := f.s.StartRelease(context.Background(), r, rewind.AuditEvent{Actor: "ci", Action: rewind.ActionReleaseStart}); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return r
}

func itemsOf(r *rewind.Release) map[int64]rewind.ItemHow {
	out := map[int64]rewind.ItemHow{}
	for _, it := range r.Items {
		out[it.VersionID] = it.How
	}
	return out
}

func TestWorkflows(t *testing.T) {
	f := newReleaseFixture(t)
	ctx := context.Background()
	s := f.s
	got, err := s.WorkflowByName(ctx, f.env.ID, "shop")
	if err != nil || got.ID != f.wf.ID || !slices.Equal(got.TargetIDs, []int64{f.svc.ID, f.cfg.ID, f.db.ID}) || got.ReleaseTimeout != rewind.DefaultReleaseTimeout {
		t.Fatalf("WorkflowByName = %+v, %v", got, err)
	}
	dup := &rewind.Workflow{Name: "shop", EnvironmentID: f.env.ID, CreatedBy: "anna"}
	if err := s.SaveWorkflow(ctx, dup, rewind.AuditEvent{}); rewind.ErrorCode(err) != rewind.ECONFLICT {
		t.Errorf("second workflow named shop: %v, want conflict", err)
	}
	got.TargetIDs, got.ReleaseTimeout, got.Description = []int64{f.svc.ID, f.odd.ID}, time.Hour, "the shop"
	if err := s.SaveWorkflow(ctx, got, rewind.AuditEvent{Actor: "anna", Action: rewind.ActionWorkflowChange}); err != nil {
		t.Fatal(err)
	}
	again, err := s.Workflow(ctx, f.wf.ID)
	if err != nil || !slices.Equal(again.TargetIDs, []int64{f.svc.ID, f.odd.ID}) || again.ReleaseTimeout != time.Hour || again.Description != "the shop" {
		t.Fatalf("updated workflow = %+v, %v", again, err)
	}
	for _, tt := range []struct {
		target int64
		want   int
	}{{f.svc.ID, 1}, {f.odd.ID, 1}, {f.cfg.ID, 0}} {
		if ws, err := s.WorkflowsHolding(ctx, tt.target); err != nil || len(ws) != tt.want {
			t.Errorf("WorkflowsHolding(%d) = %d workflows, %v; want %d", tt.target, len(ws), err, tt.want)
		}
	}
	if err := s.DeleteWorkflow(ctx, f.wf.ID, rewind.AuditEvent{Actor: "anna", Action: rewind.ActionWorkflowDelete}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Workflow(ctx, f.wf.ID); rewind.ErrorCode(err) != rewind.ENOTFOUND {
		t.Errorf("deleted workflow: %v, want not found", err)
	}
	if err := s.DeleteWorkflow(ctx, f.wf.ID, rewind.AuditEvent{}); rewind.ErrorCode(err) != rewind.ENOTFOUND {
		t.Errorf("delete twice: %v, want not found", err)
	}
	if ws, _ := s.Workflows(ctx, f.env.ID); len(ws) != 0 {
		t.Errorf("Workflows after delete = %d", len(ws))
	}
	if err := s.SaveWorkflow(ctx, dup, rewind.AuditEvent{}); err != nil {
		t.Errorf("name of a deleted workflow used again: %v", err)
	}
	events, _, _ := s.Audit(ctx, rewind.AuditFilter{})
	if len(events) != 4 {
		t.Errorf("%d audit events, want 4 (create, update, delete, create)", len(events))
	}
}

func TestReleaseItems(t *testing.T) {
	f := newReleaseFixture(t)
	ctx := context.Background()
	s := f.s
	before := f.record(t, f.cfg, "cfg-0", -time.Minute, rewind.SourceObserved)

	r1 := f.start(t, "1.0.0")
	if r1.Number != 1 || r1.State != rewind.ReleaseOpen {
		t.Fatalf("started %+v", r1)
	}
	if err := s.StartRelease(ctx, &rewind.Release{WorkflowID: f.wf.ID, Name: "1.0.1", StartedBy: "ci"}, rewind.AuditEvent{}); rewind.ErrorCode(err) != rewind.ECONFLICT {
		t.Errorf("second start while open: %v, want conflict", err)
	}
	f.clock = f.clock.Add(time.Minute)
	svc1 := f.record(t, f.svc, "svc-1", 0, rewind.SourceObserved)
	rb := f.record(t, f.cfg, "cfg-rb", 0, rewind.SourceRollback)
	odd := f.record(t, f.odd, "odd-1", 0, rewind.SourceObserved)
	sql1 := f.record(t, f.db, "sql-1", 0, rewind.SourceChange)

	live, err := s.Release(ctx, r1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := itemsOf(live), map[int64]rewind.ItemHow{svc1.ID: rewind.ItemObserved, sql1.ID: rewind.ItemObserved}; !equalItems(got, want) {
		t.Errorf("live items = %v, want %v (no rollback, no other target)", got, want)
	}
	f.clock = f.clock.Add(time.Minute)
	done, err := s.FinishRelease(ctx, r1.ID, rewind.ReleaseSucceeded, "", []int64{before.ID}, rewind.AuditEvent{Actor: "ci", Action: rewind.ActionReleaseFinish})
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]rewind.ItemHow{svc1.ID: rewind.ItemObserved, sql1.ID: rewind.ItemObserved, before.ID: rewind.ItemNamed}
	if got := itemsOf(done); done.State != rewind.ReleaseSucceeded || done.FinishedAt == nil || !equalItems(got, want) {
		t.Errorf("finished %s with items %v, want %v", done.State, got, want)
	}
	if _, err := s.FinishRelease(ctx, r1.ID, rewind.ReleaseFailed, "", nil, rewind.AuditEvent{}); rewind.ErrorCode(err) != rewind.ECONFLICT {
		t.Errorf("finish twice: %v, want conflict", err)
	}

	// A release whose pipeline never finishes collects nothing after its timeout.
	r2 := f.start(t, "1.1.0")
	f.clock = f.clock.Add(time.Minute)
	svc2 := f.record(t, f.svc, "svc-2", 0, rewind.SourceObserved)
	for _, tt := range []struct {
		name string
		v    int64
		want rewind.ItemHow
	}{{"odd target", odd.ID, ""}, {"named twice", svc1.ID, ""}} {
		_, err := s.FinishRelease(ctx, r2.ID, rewind.ReleaseSucceeded, "", []int64{tt.v}, rewind.AuditEvent{})
		if err == nil {
			t.Errorf("%s: finished", tt.name)
		}
	}
	f.clock = f.clock.Add(3 * time.Hour)
	late := f.record(t, f.svc, "svc-late", -time.Minute, rewind.SourceObserved)
	if open, _ := s.OpenReleasesFor(ctx, f.svc.ID); len(open) != 0 {
		t.Errorf("OpenReleasesFor lists a timed-out release")
	}
	r3 := f.start(t, "1.2.0") // allowed: 1.1.0 is past its timeout
	if r3.Number != 3 {
		t.Errorf("third release numbered %d", r3.Number)
	}
	if open, _ := s.OpenReleasesFor(ctx, f.svc.ID); len(open) != 1 || open[0].ID != r3.ID {
		t.Errorf("OpenReleasesFor = %v, want release 3", open)
	}
	failed, err := s.FinishRelease(ctx, r2.ID, rewind.ReleaseFailed, "tests failed", nil, rewind.AuditEvent{})
	if err != nil {
		t.Fatal(err)
	}
	if got := itemsOf(failed); !equalItems(got, map[int64]rewind.ItemHow{svc2.ID: rewind.ItemObserved}) || failed.Note != "tests failed" {
		t.Errorf("failed release items %v note %q; want svc-2 only", got, failed.Note)
	}
	// late: after 1.1.0's timeout, before 1.2.0 started: unreleased.
	changes, total, err := s.UnreleasedChanges(ctx, f.wf.ID, 0, 10)
	if err != nil || total != 2 || changes[0].ID != late.ID || changes[1].ID != rb.ID {
		t.Errorf("unreleased changes = %v (%d), %v; want svc-late, cfg-rb", changes, total, err)
	}
	f.clock = f.clock.Add(time.Minute)
	inOpen := f.record(t, f.cfg, "cfg-3", 0, rewind.SourceObserved)
	if _, total, _ := s.UnreleasedChanges(ctx, f.wf.ID, 0, 10); total != 2 {
		t.Errorf("a version inside the open release counted unreleased (%d)", total)
	}

	sums, err := s.Releases(ctx, f.wf.ID)
	if err != nil || len(sums) != 3 {
		t.Fatalf("Releases = %v, %v", sums, err)
	}
	for i, want := range []rewind.ItemCounts{{Configs: 1}, {Services: 1}, {Services: 1, Configs: 1, SQL: 1}} {
		if sums[i].Counts != want {
			t.Errorf("release %d counts %+v, want %+v", sums[i].Release.Number, sums[i].Counts, want)
		}
	}

	before3, err := s.VersionsBefore(ctx, r3.ID)
	if err != nil || len(before3) != 1 || before3[f.cfg.ID] == nil || before3[f.cfg.ID].ID != rb.ID {
		t.Errorf("VersionsBefore(3) = %v, %v; want cfg-rb", before3, err)
	}
	before1, err := s.VersionsBefore(ctx, r1.ID)
	if err != nil || before1[f.db.ID] != nil || before1[f.svc.ID].Hash != "svc-0" || before1[f.cfg.ID] != nil {
		t.Errorf("VersionsBefore(1) = %v, %v; want svc-0 and none for cfg and db", before1, err)
	}
	if open, _ := s.Release(ctx, r3.ID); !equalItems(itemsOf(open), map[int64]rewind.ItemHow{inOpen.ID: rewind.ItemObserved}) {
		t.Errorf("open release 3 items %v, want cfg-3", itemsOf(open))
	}
}

func equalItems(a, b map[int64]rewind.ItemHow) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestReleaseBlockAndAttach(t *testing.T) {
	f := newReleaseFixture(t)
	ctx := context.Background()
	s := f.s
	r := f.start(t, "2.0.0")
	f.clock = f.clock.Add(time.Minute)
	sql1 := f.record(t, f.db, "sql-1", -2*time.Hour, rewind.SourceChange) // outside the window
	if err := s.AddReleaseItem(ctx, r.ID, sql1.ID, rewind.ItemAttached); err != nil {
		t.Fatal(err)
	}
	if err := s.AddReleaseItem(ctx, r.ID, sql1.ID, rewind.ItemAttached); err != nil {
		t.Errorf("attach again: %v", err)
	}
	f.clock = f.clock.Add(time.Minute)
	done, err := s.FinishRelease(ctx, r.ID, rewind.ReleaseSucceeded, "", nil, rewind.AuditEvent{})
	if err != nil || !equalItems(itemsOf(done), map[int64]rewind.ItemHow{sql1.ID: rewind.ItemAttached}) {
		t.Fatalf("finished with %v, %v", itemsOf(done), err)
	}
	r2 := f.start(t, "2.0.1")
	if err := s.AddReleaseItem(ctx, r2.ID, sql1.ID, rewind.ItemAttached); rewind.ErrorCode(err) != rewind.ECONFLICT {
		t.Errorf("attach to a second release: %v, want conflict", err)
	}
	// A version made during release 2.0.0 but recorded after it finished.
	lateSvc := f.record(t, f.svc, "svc-late", -30*time.Second, rewind.SourceObserved)
	if id, err := s.AttachLate(ctx, lateSvc); err != nil || id != r.ID {
		t.Errorf("AttachLate = %d, %v; want release %d", id, err, r.ID)
	}
	if id, _ := s.ReleaseOfVersion(ctx, lateSvc.ID); id != r.ID {
		t.Errorf("ReleaseOfVersion = %d", id)
	}

	for _, tt := range []struct {
		name    string
		do      func() error
		code    string
		blocked bool
	}{
		{"block", func() error {
			_, err := s.BlockRelease(ctx, r.ID, "anna", "broke checkout", rewind.AuditEvent{Action: rewind.ActionReleaseBlock})
			return err
		}, "", true},
		{"block again", func() error { _, err := s.BlockRelease(ctx, r.ID, "anna", "x", rewind.AuditEvent{}); return err }, rewind.ECONFLICT, true},
		{"block missing", func() error { _, err := s.BlockRelease(ctx, 999, "anna", "x", rewind.AuditEvent{}); return err }, rewind.ENOTFOUND, true},
		{"unblock", func() error {
			_, err := s.UnblockRelease(ctx, r.ID, rewind.AuditEvent{Action: rewind.ActionReleaseUnblock})
			return err
		}, "", false},
		{"unblock again", func() error { _, err := s.UnblockRelease(ctx, r.ID, rewind.AuditEvent{}); return err }, rewind.ECONFLICT, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); rewind.ErrorCode(err) != tt.code {
				t.Fatalf("error %v, want code %q", err, tt.code)
			}
			b, err := s.BlockedRelease(ctx, f.wf.ID, "2.0.0")
			if err != nil || (b != nil) != tt.blocked {
				t.Fatalf("BlockedRelease = %v, %v; want blocked %v", b, err, tt.blocked)
			}
			if b != nil && (b.BlockedBy != "anna" || b.BlockReason != "broke checkout") {
				t.Errorf("block = %q %q", b.BlockedBy, b.BlockReason)
			}
		})
	}
	byName, err := s.ReleaseByName(ctx, f.wf.ID, "2.0.0")
	if err != nil || byName.ID != r.ID {
		t.Errorf("ReleaseByName = %v, %v", byName, err)
	}
}

// TestReleaseWindowSecond: a change Kubernetes timed to the second the
// release started in is the release's; a precisely timed one before the
// start is not.
func TestReleaseWindowSecond(t *testing.T) {
	f := newReleaseFixture(t)
	ctx := context.Background()
	f.clock = f.clock.Add(time.Minute + 500*time.Millisecond) // 10:01:00.5
	before := f.record(t, f.cfg, "cfg-before", -300*time.Millisecond, rewind.SourceObserved)
	r := f.start(t, "4.0")
	kube := f.record(t, f.svc, "svc-kube", -500*time.Millisecond, rewind.SourceObserved) // 10:01:00, to the second
	got, err := f.s.Release(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[int64]rewind.ItemHow{kube.ID: rewind.ItemObserved}; !equalItems(itemsOf(got), want) {
		t.Errorf("items %v, want the service's only (not %d)", itemsOf(got), before.ID)
	}
	changes, _, err := f.s.UnreleasedChanges(ctx, f.wf.ID, 0, 10)
	if err != nil || len(changes) != 1 || changes[0].ID != before.ID {
		t.Errorf("unreleased %v, %v; want cfg-before", changes, err)
	}
}
