package sqlite

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/rewind"
)

func TestPrune(t *testing.T) {
	f := newReleaseFixture(t)
	s, ctx := f.s, context.Background()
	day := 24 * time.Hour

	// A service with 60 versions, one every two days up to two days ago;
	// the first ten imported from the cluster's ReplicaSets.
	svc := &rewind.Target{Kind: rewind.KindService, EnvironmentID: f.env.ID, OwnerID: 1, Namespace: "shop", Workload: "Deployment", Name: "order-service"}
	if _, err := s.EnsureTarget(ctx, svc); err != nil {
		t.Fatal(err)
	}
	sv := map[int]*rewind.Version{}
	var req *rewind.Request
	for i := 1; i <= 60; i++ {
		src := rewind.SourceObserved
		if i <= 10 {
			src = rewind.SourceImported
		}
		v := &rewind.Version{TargetID: svc.ID, Revision: fmt.Sprint(i), Content: podSpec(i), Hash: fmt.Sprintf("svc-%d", i), Source: src,
			Images: []rewind.Image{{Container: "app", Image: image90(i)}}, CreatedAt: f.clock.Add(-time.Duration(61-i) * 2 * day)}
		if i == 35 { // made by a rollback
			v.Source, v.RequestID = rewind.SourceRollback, req.ID
		}
		got, added, err := s.RecordVersion(ctx, v)
		if err != nil || !added {
			t.Fatalf("version %d: %v %v", i, added, err)
		}
		sv[i] = got
		if i == 20 { // a request to bring version 5 back, seen from 20
			req = &rewind.Request{EnvironmentID: f.env.ID, Requester: "李雷", Reason: "订单服务 1.4.2 支付回调超时", RequiredApprovals: 1,
				Steps: []rewind.Step{{TargetID: svc.ID, VersionID: sv[5].ID, BaseVersionID: sv[20].ID, Expected: "20"}}}
			if err := s.CreateRequest(ctx, req, rewind.AuditEvent{Actor: "李雷", Action: rewind.ActionRequest}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Move(ctx, req.ID, []rewind.State{rewind.StatePending}, rewind.StateCancelled, "Cancelled.", nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Version 30 is an item of release 1.4.2; its rollback returns to 29.
	rel := f.start(t, "1.4.2")
	if err := s.AddReleaseItem(ctx, rel.ID, sv[30].ID, rewind.ItemNamed); err != nil {
		t.Fatal(err)
	}
	// A table this code does not know refers to version 12.
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE pins (version_id INTEGER NOT NULL REFERENCES versions (id))`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO pins VALUES (?)`, sv[12].ID); err != nil {
		t.Fatal(err)
	}

	// A config with 20 versions a year old: odd ones imported from Nacos
	// history, even ones seen live; the newest is imported.
	cfg := f.cfg
	cv := map[int]*rewind.Version{}
	var history []*rewind.Version
	for i := 1; i <= 20; i++ {
		v := &rewind.Version{TargetID: cfg.ID, Content: fmt.Sprintf("order.timeout=%d\n# 支付回调超时时间\n", i), Hash: fmt.Sprintf("cfg-%d", i),
			Source: rewind.SourceObserved, CreatedAt: f.clock.Add(-time.Duration(400-i) * day)}
		if i%2 == 1 || i == 20 {
			v.Source, v.Revision = rewind.SourceImported, fmt.Sprintf("88%02d", i)
			h := *v
			history = append([]*rewind.Version{&h}, history...) // Nacos lists newest first
		}
		if i == 20 {
			v.Hash = "cfg-19b"
		}
		got, _, err := s.RecordVersion(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		cv[i] = got
	}

	policy := map[rewind.TargetKind]rewind.Retention{
		rewind.KindService:  {KeepDays: 30, KeepVersions: 5},
		rewind.KindConfig:   {KeepVersions: 1},
		rewind.KindDatabase: {KeepDays: 1}, // not a kind retention applies to
	}
	dry, err := s.Prune(ctx, policy, true)
	if err != nil {
		t.Fatal(err)
	}
	// The dry run cannot know of the unknown reference to version 12.
	if want := map[rewind.TargetKind]int{rewind.KindService: 40, rewind.KindConfig: 18}; !mapsEqual(dry, want) {
		t.Errorf("dry run: %v, want %v", dry, want)
	}
	if left := numbers(t, s, svc.ID); len(left) != 60 {
		t.Fatalf("the dry run removed versions: %d left", len(left))
	}

	got, err := s.Prune(ctx, policy, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[rewind.TargetKind]int{rewind.KindService: 39, rewind.KindConfig: 18}; !mapsEqual(got, want) {
		t.Errorf("prune: %v, want %v", got, want)
	}
	wantSvc := []int64{5, 12, 20, 29, 30, 35}
	for i := int64(46); i <= 60; i++ {
		wantSvc = append(wantSvc, i)
	}
	if left := numbers(t, s, svc.ID); !slices.Equal(left, wantSvc) {
		t.Errorf("service versions left: %v\nwant %v", left, wantSvc)
	}
	if left := numbers(t, s, cfg.ID); !slices.Equal(left, []int64{18, 20}) {
		t.Errorf("config versions left: %v, want the newest seen live (18) and the newest (20)", left)
	}

	// What a release's rollback returns to is still there.
	before, err := s.VersionsBefore(ctx, rel.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v := before[svc.ID]; v == nil || v.ID != sv[29].ID {
		t.Errorf("version before release 1.4.2: %+v, want version 29", v)
	}
	// Removed history is not imported again.
	if added, err := s.ImportVersion(ctx, &rewind.Version{TargetID: svc.ID, Revision: "3", Content: podSpec(3), Hash: "svc-3", Source: rewind.SourceImported}); err != nil || added {
		t.Errorf("import of a removed ReplicaSet revision: added %v, %v", added, err)
	}
	if n, err := s.ImportConfigHistory(ctx, cfg.ID, history); err != nil || n != 0 {
		t.Errorf("import of Nacos history again: %d added, %v", n, err)
	}
	// Numbering goes on after the newest.
	v, added, err := s.RecordVersion(ctx, &rewind.Version{TargetID: svc.ID, Content: podSpec(61), Hash: "svc-61", Source: rewind.SourceObserved})
	if err != nil || !added || v.Number != 61 {
		t.Errorf("next version: %v %v %v", v, added, err)
	}

	again, err := s.Prune(ctx, policy, false)
	if err != nil || again[rewind.KindService]+again[rewind.KindConfig] != 0 {
		t.Errorf("second prune: %v, %v", again, err)
	}
	counts, err := s.PrunedCounts(ctx)
	if err != nil || counts[rewind.KindService] != 39 || counts[rewind.KindConfig] != 18 {
		t.Errorf("pruned counts: %v, %v", counts, err)
	}
	events, _, err := s.Audit(ctx, rewind.AuditFilter{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	var prunes []string
	for _, e := range events {
		if e.Action == rewind.ActionRetention {
			prunes = append(prunes, string(e.TargetKind)+": "+e.Detail)
		}
	}
	if len(prunes) != 2 {
		t.Errorf("audit events of retention: %q", prunes)
	}

	// The counts the metrics read.
	rc, err := s.RequestCounts(ctx)
	if err != nil || len(rc) != 1 || rc[0] != (rewind.RequestCount{Type: rewind.RequestRollback, Kind: "service", Environment: "prod", State: rewind.StateCancelled, Count: 1}) {
		t.Errorf("request counts: %+v, %v", rc, err)
	}
	vc, err := s.VersionCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	held := map[rewind.TargetKind]int64{}
	for _, c := range vc {
		held[c.Kind] += c.Count
	}
	if held[rewind.KindService] != 1+22 || held[rewind.KindConfig] != 2 {
		t.Errorf("version counts: %+v", vc)
	}
	if n, err := s.Size(ctx); err != nil || n <= 0 {
		t.Errorf("store size: %d, %v", n, err)
	}

	// Without a retention nothing goes, however old.
	if got, err := s.Prune(ctx, nil, false); err != nil || len(got) != 0 {
		t.Errorf("prune without retention: %v, %v", got, err)
	}
}

func numbers(t *testing.T, s *Store, target int64) []int64 {
	t.Helper()
	vs, _, err := s.Versions(context.Background(), target, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, v := range vs {
		out = append(out, v.Number)
	}
	slices.Sort(out)
	return out
}

func mapsEqual(a, b map[rewind.TargetKind]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}
