package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/rewindhq/rewind/db"
	"github.com/rewindhq/rewind/internal/postgres/pgtest"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/secret"
)

// testEngine is the engine this run of the tests stores in: TestMain runs
// every test on SQLite, then again on PostgreSQL (the machine's server), so
// that one store code is held to one suite on both engines.
// REWIND_TEST_STORE=sqlite or =postgres runs only one of them.
var testEngine = db.SQLite

func TestMain(m *testing.M) {
	only := os.Getenv("REWIND_TEST_STORE")
	code := 0
	for _, engine := range []string{db.SQLite, db.Postgres} {
		if only != "" && only != engine {
			continue
		}
		testEngine = engine
		fmt.Printf("=== the store's tests on %s\n", engine)
		if code = m.Run(); code != 0 {
			break
		}
	}
	os.Exit(code)
}

// openTest opens a new, empty store on testEngine and returns it with its
// name (a file's path or a postgres:// URL).
func openTest(t *testing.T) (*Store, string) {
	t.Helper()
	box, err := secret.NewBox(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "rewind.db")
	if testEngine == db.Postgres {
		name = pgtest.NewStore(t)
	}
	s, err := Open(context.Background(), name, box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, name
}

// rawDB opens the store named name without Rewind's store code.
func rawDB(t *testing.T, name string) *sql.DB {
	t.Helper()
	var raw *sql.DB
	var err error
	if testEngine == db.Postgres {
		raw, err = sql.Open("pgx", name)
	} else {
		raw, err = sql.Open("sqlite", name)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

func seedTarget(t *testing.T, s *Store, approvals int) *rewind.Target {
	t.Helper()
	ctx := context.Background()
	env := &rewind.Environment{Name: "prod", RequiredApprovals: approvals}
	if err := s.SaveEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	tg := &rewind.Target{Kind: rewind.KindService, EnvironmentID: env.ID, OwnerID: 1, Namespace: "shop", Workload: "Deployment", Name: "web"}
	if _, err := s.EnsureTarget(ctx, tg); err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestRecordVersionIsIdempotent(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	tg := seedTarget(t, s, 0)
	steps := []struct {
		hash      string
		wantAdded bool
		wantNum   int64
	}{{"a", true, 1}, {"a", false, 1}, {"b", true, 2}, {"b", false, 2}, {"a", true, 3}}
	for _, st := range steps {
		v, added, err := s.RecordVersion(ctx, &rewind.Version{TargetID: tg.ID, Content: "x" + st.hash, Hash: st.hash, Source: rewind.SourceObserved,
			Images: []rewind.Image{{Container: "app", Image: "web:" + st.hash}}})
		if err != nil {
			t.Fatal(err)
		}
		if added != st.wantAdded || v.Number != st.wantNum {
			t.Errorf("record %s: added=%v number=%d, want %v %d", st.hash, added, v.Number, st.wantAdded, st.wantNum)
		}
	}
	again, err := s.EnsureTarget(ctx, &rewind.Target{Kind: rewind.KindService, EnvironmentID: tg.EnvironmentID, OwnerID: 1, Namespace: "shop", Workload: "Deployment", Name: "web"})
	if err != nil || again {
		t.Fatalf("EnsureTarget twice: created=%v err=%v", again, err)
	}
	added, err := s.ImportVersion(ctx, &rewind.Version{TargetID: tg.ID, Revision: "1", Content: "xb", Hash: "b", Source: rewind.SourceImported})
	if err != nil || !added {
		t.Fatalf("import new revision: added=%v err=%v", added, err)
	}
	added, err = s.ImportVersion(ctx, &rewind.Version{TargetID: tg.ID, Revision: "1", Content: "xb", Hash: "b", Source: rewind.SourceImported})
	if err != nil || added {
		t.Fatalf("import same revision again: added=%v err=%v", added, err)
	}
	vs, total, err := s.Versions(ctx, tg.ID, 0, 2)
	if err != nil || total != 4 || len(vs) != 2 || vs[0].Number != 4 || vs[0].Images != nil && len(vs[0].Images) != 0 {
		t.Fatalf("Versions = %d items of %d, first %+v, err %v", len(vs), total, vs[0], err)
	}
	if vs[1].Images[0].Image != "web:a" {
		t.Errorf("images = %+v", vs[1].Images)
	}
	if n, _ := s.MaxRevision(ctx, tg.ID); n != 1 {
		t.Errorf("MaxRevision = %d, want 1", n)
	}
}

func TestLifecycle(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	tg := seedTarget(t, s, 2)
	v, _, _ := s.RecordVersion(ctx, &rewind.Version{TargetID: tg.ID, Content: "a", Hash: "a", Source: rewind.SourceObserved})
	r := &rewind.Request{Requester: "otto", Reason: "bad release", RequiredApprovals: 2, Steps: []rewind.Step{{TargetID: tg.ID, VersionID: v.ID}}}
	if err := s.CreateRequest(ctx, r, rewind.AuditEvent{Actor: "otto", Action: rewind.ActionRequest}); err != nil {
		t.Fatal(err)
	}
	if r.State != rewind.StatePending {
		t.Fatalf("state = %s", r.State)
	}
	if err := s.CreateRequest(ctx, &rewind.Request{Requester: "otto", Reason: "x", RequiredApprovals: 2, Steps: []rewind.Step{{TargetID: tg.ID}}}, rewind.AuditEvent{}); rewind.ErrorCode(err) != rewind.ECONFLICT {
		t.Errorf("second open request: %v, want conflict", err)
	}
	otto := rewind.User{Username: "otto", Role: rewind.RoleApprover}
	anna := rewind.User{Username: "anna", Role: rewind.RoleApprover}
	bob := rewind.User{Username: "bob", Role: rewind.RoleApprover}
	vera := rewind.User{Username: "vera", Role: rewind.RoleViewer}
	if _, err := s.Decide(ctx, r.ID, otto, true, "", rewind.AuditEvent{}); rewind.ErrorCode(err) != rewind.EFORBIDDEN {
		t.Errorf("self-approval: %v", err)
	}
	if _, err := s.Decide(ctx, r.ID, vera, true, "", rewind.AuditEvent{}); rewind.ErrorCode(err) != rewind.EFORBIDDEN {
		t.Errorf("viewer approval: %v", err)
	}
	got, err := s.Decide(ctx, r.ID, anna, true, "ok", rewind.AuditEvent{Actor: "anna", Action: rewind.ActionApprove})
	if err != nil || got.State != rewind.StatePending {
		t.Fatalf("first approval: %v %v", got, err)
	}
	if _, err := s.Decide(ctx, r.ID, anna, true, "", rewind.AuditEvent{}); rewind.ErrorCode(err) != rewind.ECONFLICT {
		t.Errorf("double approval: %v", err)
	}
	got, err = s.Decide(ctx, r.ID, bob, true, "", rewind.AuditEvent{})
	if err != nil || got.State != rewind.StateApproved || len(got.Approvals) != 2 {
		t.Fatalf("second approval: %+v %v", got, err)
	}
	// Two workers race to claim the approved request: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Move(ctx, r.ID, []rewind.State{rewind.StateApproved}, rewind.StateRunning, "", nil); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d workers claimed the request, want 1", wins)
	}
	if _, err := s.Move(ctx, r.ID, []rewind.State{rewind.StateRunning}, rewind.StateRejected, "", nil); err == nil {
		t.Error("running → rejected allowed")
	}
	done, err := s.Move(ctx, r.ID, []rewind.State{rewind.StateRunning}, rewind.StateSucceeded, "Rolled back.", &rewind.AuditEvent{Actor: "rewind", Action: rewind.ActionResult})
	if err != nil || done.FinishedAt == nil || done.StartedAt == nil || done.Outcome != "Rolled back." {
		t.Fatalf("finish: %+v %v", done, err)
	}
	events, _, err := s.Audit(ctx, rewind.AuditFilter{})
	if err != nil || len(events) != 4 || events[0].RequestID != r.ID {
		t.Errorf("audit = %+v, %v", events, err)
	}
}

func TestRejectAndAwaiting(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	tg := seedTarget(t, s, 1)
	r := &rewind.Request{Requester: "otto", Reason: "x", RequiredApprovals: 1, Steps: []rewind.Step{{TargetID: tg.ID}}}
	if err := s.CreateRequest(ctx, r, rewind.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		user string
		want int
	}{{"otto", 0}, {"anna", 1}} {
		got, err := s.Requests(ctx, RequestFilter{AwaitingFor: tt.user})
		if err != nil || len(got) != tt.want {
			t.Errorf("awaiting %s = %d, want %d (%v)", tt.user, len(got), tt.want, err)
		}
	}
	anna := rewind.User{Username: "anna", Role: rewind.RoleApprover}
	if _, err := s.Decide(ctx, r.ID, anna, false, "", rewind.AuditEvent{}); rewind.ErrorCode(err) != rewind.EINVALID {
		t.Errorf("reject without comment: %v", err)
	}
	got, err := s.Decide(ctx, r.ID, anna, false, "not now", rewind.AuditEvent{})
	if err != nil || got.State != rewind.StateRejected {
		t.Fatalf("reject: %v %v", got, err)
	}
}

func TestNewerStoreRefused(t *testing.T) {
	s, path := openTest(t)
	if _, err := s.DB().Exec(`INSERT INTO schema_migrations (number, name) VALUES (999, 'future.sql')`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	box, _ := secret.NewBox(make([]byte, 32))
	_, err := Open(context.Background(), path, box)
	var newer *db.ErrNewerStore
	if !errors.As(err, &newer) || newer.Have != 999 {
		t.Fatalf("Open newer store: %v", err)
	}
	raw := rawDB(t, path)
	var n int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		t.Errorf("store damaged: %v", err)
	}
}
