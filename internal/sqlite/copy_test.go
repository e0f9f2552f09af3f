package sqlite

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/db"
	"github.com/rewindhq/rewind/internal/postgres/pgtest"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/secret"
)

// seedInstall fills a SQLite store as a team's install would be: a
// workflow with releases, one rolled back by a plan (releases and requests
// then point at each other), a SQL change with its saved rows, a Nacos
// server and a database with sealed credentials, users with a session and a
// token, and a long audit trail with Chinese text.
func seedInstall(t *testing.T) (*Store, *releaseFixture) {
	t.Helper()
	f := newReleaseFixture(t)
	s, ctx := f.s, context.Background()
	rel := f.start(t, "1.4.2")
	f.clock = f.clock.Add(time.Minute)
	v := f.record(t, f.svc, "svc-1", 0, rewind.SourceObserved)
	f.clock = f.clock.Add(time.Minute)
	if _, err := s.FinishRelease(ctx, rel.ID, rewind.ReleaseSucceeded, "发布完成", nil, rewind.AuditEvent{Actor: "ci", Action: rewind.ActionReleaseFinish}); err != nil {
		t.Fatal(err)
	}
	back := &rewind.Request{Kind: rewind.RequestRollback, ReleaseID: rel.ID, Requester: "otto", Reason: "1.4.2 结账失败，回滚到上一个版本",
		Steps: []rewind.Step{{TargetID: f.svc.ID, VersionID: v.ID - 1, BaseVersionID: v.ID, Detail: "service shop/api"}}}
	if err := s.CreateRequest(ctx, back, rewind.AuditEvent{Actor: "otto", Action: rewind.ActionRequest}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Move(ctx, back.ID, []rewind.State{rewind.StateApproved}, rewind.StateRunning, "Started.", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MoveStep(ctx, back.First().ID, []rewind.StepState{rewind.StepWaiting}, rewind.StepRunning, "", nil); err != nil {
		t.Fatal(err)
	}
	made, _, err := s.RecordVersion(ctx, &rewind.Version{TargetID: f.svc.ID, Content: "svc-0", Hash: "svc-0", Source: rewind.SourceRollback, RequestID: back.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.MoveStep(ctx, back.First().ID, []rewind.StepState{rewind.StepRunning}, rewind.StepSucceeded, "Rolled back.", nil); err != nil {
		t.Fatal(err)
	}
	req, _ := s.Request(ctx, back.ID)
	if req.First().ResultVersionID != made.ID {
		t.Fatalf("the step did not make version %d", made.ID)
	}
	if err := s.PlanSucceeded(ctx, req); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Move(ctx, back.ID, []rewind.State{rewind.StateRunning}, rewind.StateSucceeded, "1 of 1 steps done.", nil); err != nil {
		t.Fatal(err)
	}

	// A database with a SQL change and its saved rows.
	d := &rewind.Database{Name: "orders", EnvironmentID: f.env.ID, Engine: rewind.EnginePostgres, DSN: "postgres://app:s3cret@db.internal/orders"}
	if err := s.SaveDatabase(ctx, d); err != nil {
		t.Fatal(err)
	}
	dbTarget, err := s.DatabaseTarget(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	change := rewind.SQLRequest{Kind: rewind.SQLKindChange, SQL: "UPDATE orders SET status = '已付款' WHERE id = 7"}
	payload, _ := change.Encode()
	cr := &rewind.Request{Kind: rewind.RequestChange, Requester: "otto", Reason: "修正订单状态", Steps: []rewind.Step{{TargetID: dbTarget.ID, Payload: payload}}}
	if err := s.CreateRequest(ctx, cr, rewind.AuditEvent{Actor: "otto", Action: rewind.ActionRequest}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MoveStep(ctx, cr.First().ID, []rewind.StepState{rewind.StepWaiting}, rewind.StepRunning, "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordSQLExecution(ctx, &rewind.Version{TargetID: dbTarget.ID, Content: change.SQL, Hash: "h1", Source: rewind.SourceChange, RequestID: cr.ID},
		&rewind.SQLExecution{StepID: cr.First().ID, Kind: rewind.SQLKindChange, Succeeded: true, Applied: true, Transactional: true, RowsAffected: 1,
			Saved: []byte{0x1f, 0x8b, 0, 1, 2, 0xff}, SavedRows: 1, RollbackSQL: "UPDATE orders SET status = 'open' WHERE id = 7;",
			Statements: []rewind.SQLStatementResult{{Index: 0, SQL: change.SQL, Kind: "UPDATE", Status: rewind.SQLStatusSucceeded, RowsAffected: 1}}}); err != nil {
		t.Fatal(err)
	}
	n := &rewind.NacosServer{Name: "nacos-prod", EnvironmentID: f.env.ID, Addr: "nacos.internal:8848", Namespaces: []string{"public"}, Username: "nacos", Password: "n4cos-pw"}
	if err := s.SaveNacosServer(ctx, n); err != nil {
		t.Fatal(err)
	}
	u := seedUser(t, s, "anna")
	if err := s.CreateSession(ctx, &rewind.Session{ID: "sess-hash", UserID: u.ID, ExpiresAt: f.clock.Add(time.Hour), Address: "10.0.0.1", UserAgent: "Mozilla/5.0"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, &rewind.APIToken{Name: "ci", Username: "anna", Prefix: "rw_ab", CreatedBy: "anna", Environments: []int64{f.env.ID}}, "token-hash",
		rewind.AuditEvent{Actor: "anna", Action: rewind.ActionTokenCreate}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SharedKey(ctx, "session", 64, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		if err := s.AddAudit(ctx, rewind.AuditEvent{Actor: "otto", Action: rewind.ActionLogin, Outcome: "ok",
			Detail: fmt.Sprintf("第 %d 次登录 from 10.0.%d.%d", i, i/250, i%250)}); err != nil {
			t.Fatal(err)
		}
	}
	return s, f
}

// TestCopyToPostgres copies a SQLite install into PostgreSQL and reads it
// back through the store: what a team sees is the same on both.
func TestCopyToPostgres(t *testing.T) {
	if testEngine != db.SQLite {
		t.Skip("copies from SQLite: runs once, in the SQLite pass")
	}
	ctx := context.Background()
	src, f := seedInstall(t)
	box, _ := secret.NewBox(make([]byte, 32))
	url := pgtest.NewStore(t)
	dst, err := Open(ctx, url, box)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	rep, err := src.CopyTo(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, tc := range rep.Tables {
		counts[tc.Table] = tc.Rows
	}
	if counts["audit_events"] < 2000 || counts["releases"] != 2 || counts["sql_statements"] != 1 || counts["store_keys"] != 2 {
		t.Errorf("copied %v", counts)
	}

	// The same answers from both stores.
	for _, read := range []struct {
		name string
		get  func(s *Store) (any, error)
	}{
		{"requests", func(s *Store) (any, error) { return s.Requests(ctx, RequestFilter{}) }},
		{"releases", func(s *Store) (any, error) { return s.Releases(ctx, f.wf.ID) }},
		{"targets", func(s *Store) (any, error) { return s.Targets(ctx, TargetFilter{WithDeleted: true}) }},
		{"databases (DSN opened)", func(s *Store) (any, error) { return s.Databases(ctx) }},
		{"nacos servers (password opened)", func(s *Store) (any, error) { return s.NacosServers(ctx) }},
		{"audit", func(s *Store) (any, error) {
			evs, n, err := s.Audit(ctx, rewind.AuditFilter{Target: "", Limit: 50, Offset: 100})
			return []any{evs, n}, err
		}},
		{"sessions", func(s *Store) (any, error) { return s.ActiveSessions(ctx, f.clock, time.Hour) }},
		{"tokens", func(s *Store) (any, error) { return s.Tokens(ctx, "anna") }},
		{"session key", func(s *Store) (any, error) { return s.SharedKey(ctx, "session", 64, nil) }},
	} {
		a, errA := read.get(src)
		b, errB := read.get(dst)
		if errA != nil || errB != nil {
			t.Errorf("%s: %v / %v", read.name, errA, errB)
			continue
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s differ:\nSQLite     %+v\nPostgreSQL %+v", read.name, a, b)
		}
	}
	// New rows get new IDs.
	env := &rewind.Environment{Name: "staging"}
	if err := dst.SaveEnvironment(ctx, env); err != nil || env.ID <= f.env.ID {
		t.Errorf("a new environment after the copy: ID %d (%v), want above %d", env.ID, err, f.env.ID)
	}

	// A second copy into the same store is refused, and changes nothing.
	if _, err := src.CopyTo(ctx, dst); rewind.ErrorCode(err) != rewind.ECONFLICT {
		t.Errorf("copy into a store with rows: %v, want a conflict", err)
	}
}

// TestCopyAllOrNothing checks that a copy that cannot hold a row writes
// nothing and says why.
func TestCopyAllOrNothing(t *testing.T) {
	if testEngine != db.SQLite {
		t.Skip("copies from SQLite: runs once, in the SQLite pass")
	}
	ctx := context.Background()
	src, f := seedInstall(t)
	// SQLite keeps what PostgreSQL refuses: text in an integer column.
	if _, err := src.db.ExecContext(ctx, `UPDATE versions SET number = 'one' WHERE target_id = ?`, f.odd.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := src.db.ExecContext(ctx, `INSERT INTO versions (target_id, number, content, hash, source, created_at) VALUES (?, 'one', 'x', 'x', 'observed', 'now')`, f.odd.ID); err != nil {
		t.Fatal(err)
	}
	box, _ := secret.NewBox(make([]byte, 32))
	dst, err := Open(ctx, pgtest.NewStore(t), box)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	_, err = src.CopyTo(ctx, dst)
	if err == nil || !strings.Contains(err.Error(), "versions") {
		t.Fatalf("copy of a row PostgreSQL refuses: %v, want an error naming the table", err)
	}
	for _, table := range []string{"users", "targets", "versions", "requests", "audit_events"} {
		var n int
		if err := dst.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil || n != 0 {
			t.Errorf("after a failed copy %s holds %d rows (%v)", table, n, err)
		}
	}
}
