package sqlite

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/rewind"
)

func seedDatabase(t *testing.T, s *Store, approvals int) (*rewind.Database, *rewind.Target) {
	t.Helper()
	ctx := context.Background()
	env := &rewind.Environment{Name: "prod", RequiredApprovals: approvals}
	if err := s.SaveEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	d := &rewind.Database{Name: "shop", EnvironmentID: env.ID, Engine: rewind.EnginePostgres, DSN: "postgres://app:S3cret-pw@db:5432/shop"}
	if err := s.SaveDatabase(ctx, d); err != nil {
		t.Fatal(err)
	}
	tg, err := s.DatabaseTarget(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	return d, tg
}

func TestSaveDatabaseSealsDSN(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	d, tg := seedDatabase(t, s, 0)
	if tg.Kind != rewind.KindDatabase || tg.Name != "shop" || tg.OwnerID != d.ID || tg.EnvironmentID != d.EnvironmentID {
		t.Errorf("target = %+v", tg)
	}
	var sealed []byte
	if err := s.DB().QueryRow(`SELECT dsn_enc FROM databases WHERE id = ?`, d.ID).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("S3cret-pw")) || len(sealed) == 0 {
		t.Errorf("connection string stored in plain text: %q", sealed)
	}
	got, err := s.Database(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.DSN != d.DSN || got.Engine != rewind.EnginePostgres {
		t.Errorf("Database = %+v", got)
	}

	// An update without a connection string keeps the old one.
	upd := &rewind.Database{ID: d.ID, Name: "shop", EnvironmentID: d.EnvironmentID, Engine: rewind.EnginePostgres, FromConfig: true}
	if err := s.SaveDatabase(ctx, upd); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.DatabaseByName(ctx, "shop"); got.DSN != d.DSN || !got.FromConfig {
		t.Errorf("after update: %+v", got)
	}

	tests := []struct {
		name string
		d    rewind.Database
		code string
	}{
		{"duplicate name", rewind.Database{Name: "shop", EnvironmentID: d.EnvironmentID, Engine: rewind.EngineSQLite, DSN: "/x.db"}, rewind.ECONFLICT},
		{"unknown engine", rewind.Database{Name: "other", EnvironmentID: d.EnvironmentID, Engine: "oracle", DSN: "x"}, rewind.EINVALID},
		{"no DSN", rewind.Database{Name: "other", EnvironmentID: d.EnvironmentID, Engine: rewind.EngineSQLite}, rewind.EINVALID},
		{"bad name", rewind.Database{Name: "Bad Name", EnvironmentID: d.EnvironmentID, Engine: rewind.EngineSQLite, DSN: "/x.db"}, rewind.EINVALID},
		{"no environment", rewind.Database{Name: "other", Engine: rewind.EngineSQLite, DSN: "/x.db"}, rewind.EINVALID},
		{"rename", rewind.Database{ID: d.ID, Name: "renamed", EnvironmentID: d.EnvironmentID, Engine: rewind.EngineSQLite, DSN: "/x.db"}, rewind.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.SaveDatabase(ctx, &tt.d)
			if got := rewind.ErrorCode(err); got != tt.code {
				t.Fatalf("code = %q (%v), want %q", got, err, tt.code)
			}
		})
	}
	all, err := s.Databases(ctx)
	if err != nil || len(all) != 1 {
		t.Fatalf("Databases = %d, %v", len(all), err)
	}
}

func TestSQLExecutionRecord(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	d, tg := seedDatabase(t, s, 0)
	change := rewind.SQLRequest{Kind: rewind.SQLKindChange, SQL: "UPDATE t SET a = 1; SELECT * FROM t"}
	payload, err := change.Encode()
	if err != nil {
		t.Fatal(err)
	}
	r := &rewind.Request{Requester: "otto", Reason: "fix", Steps: []rewind.Step{{TargetID: tg.ID, Payload: payload}}}
	if err := s.CreateRequest(ctx, r, rewind.AuditEvent{Actor: "otto", Action: rewind.ActionRequest}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MoveStep(ctx, r.First().ID, []rewind.StepState{rewind.StepWaiting}, rewind.StepRunning, "", nil); err != nil {
		t.Fatal(err)
	}
	ex := &rewind.SQLExecution{StepID: r.First().ID, Kind: rewind.SQLKindChange, Succeeded: true, Applied: true, Transactional: true, RowsAffected: 3,
		Saved: []byte{1, 2, 3}, SavedRows: 3, RollbackSQL: "UPDATE t SET a = 0;",
		Statements: []rewind.SQLStatementResult{
			{Index: 0, SQL: "UPDATE t SET a = 1", Kind: "UPDATE", Status: rewind.SQLStatusSucceeded, RowsAffected: 3, Duration: 1500 * time.Microsecond},
			{Index: 1, SQL: "SELECT * FROM t", Kind: "SELECT", Status: rewind.SQLStatusSucceeded, RowsAffected: 1,
				Columns: []string{"a", "<b>"}, Rows: [][]string{{"1", "NULL"}}, RowsTruncated: true},
		}}
	v := &rewind.Version{TargetID: tg.ID, Content: change.SQL, Hash: "h1", Source: rewind.SourceChange, Author: "otto", RequestID: r.ID}
	got, err := s.RecordSQLExecution(ctx, v, ex)
	if err != nil {
		t.Fatal(err)
	}
	if got.Number != 1 || got.RequestID != r.ID {
		t.Errorf("version = %+v", got)
	}
	again, err := s.RecordSQLExecution(ctx, &rewind.Version{TargetID: tg.ID, Content: "x", Hash: "h2", Source: rewind.SourceChange, RequestID: r.ID}, &rewind.SQLExecution{StepID: r.First().ID, Kind: rewind.SQLKindChange})
	if err != nil || again.ID != got.ID {
		t.Fatalf("recording the same request again = %+v, %v; want version %d", again, err, got.ID)
	}
	req, _ := s.Request(ctx, r.ID)
	if req.First().ResultVersionID != got.ID {
		t.Errorf("step result version = %d, want %d", req.First().ResultVersionID, got.ID)
	}

	rec, err := s.SQLExecutionByStep(ctx, r.First().ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.VersionID != got.ID || !rec.Succeeded || !rec.Applied || rec.StatementCount != 2 || rec.SavedRows != 3 || rec.RollbackSQL != ex.RollbackSQL {
		t.Errorf("execution = %+v", rec)
	}
	stmts, err := s.SQLStatements(ctx, got.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(stmts) != 2 || stmts[0].Duration != 1500*time.Microsecond || stmts[1].Columns[1] != "<b>" || stmts[1].Rows[0][1] != "NULL" || !stmts[1].RowsTruncated {
		t.Errorf("statements = %+v", stmts)
	}
	if page, _ := s.SQLStatements(ctx, got.ID, 1, 1); len(page) != 1 || page[0].Index != 1 {
		t.Errorf("second page = %+v", page)
	}
	if odd, _ := s.SQLStatementsNot(ctx, got.ID, rewind.SQLStatusSucceeded, 10); len(odd) != 0 {
		t.Errorf("statements not succeeded = %+v", odd)
	}
	saved, err := s.SQLSaved(ctx, got.ID)
	if err != nil || !bytes.Equal(saved, []byte{1, 2, 3}) {
		t.Errorf("saved = %v, %v", saved, err)
	}

	// A rollback of the change, linked by its payload and its execution.
	if _, err := s.Move(ctx, r.ID, []rewind.State{rewind.StateApproved}, rewind.StateRunning, "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Move(ctx, r.ID, []rewind.State{rewind.StateRunning}, rewind.StateSucceeded, "done", nil); err != nil {
		t.Fatal(err)
	}
	rb := rewind.SQLRequest{Kind: rewind.SQLKindRollback, SQL: ex.RollbackSQL, OfVersion: got.ID, Generated: true}
	payload, _ = rb.Encode()
	rr := &rewind.Request{Requester: "otto", Reason: "undo", Steps: []rewind.Step{{TargetID: tg.ID, Payload: payload}}}
	if err := s.CreateRequest(ctx, rr, rewind.AuditEvent{Actor: "otto", Action: rewind.ActionRequest}); err != nil {
		t.Fatal(err)
	}
	rbs, err := s.SQLRollbacksOf(ctx, tg.ID, got.ID)
	if err != nil || len(rbs) != 1 || rbs[0].ID != rr.ID {
		t.Fatalf("rollbacks of version %d = %v, %v", got.ID, rbs, err)
	}
	if other, _ := s.SQLRollbacksOf(ctx, tg.ID, got.ID+100); len(other) != 0 {
		t.Errorf("rollbacks of another version = %v", other)
	}
	rv, err := s.RecordSQLExecution(ctx, &rewind.Version{TargetID: tg.ID, Content: rb.SQL, Hash: "h3", Source: rewind.SourceRollback, RequestID: rr.ID},
		&rewind.SQLExecution{StepID: rr.First().ID, Kind: rewind.SQLKindRollback, OfVersionID: got.ID, Succeeded: true, Applied: true, Transactional: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetSQLVerify(ctx, rv.ID, false, "1 of 3 rows match"); err != nil {
		t.Fatal(err)
	}
	rrec, _ := s.SQLExecution(ctx, rv.ID)
	if !rrec.Verified || rrec.VerifyOK || rrec.VerifyReport != "1 of 3 rows match" || rrec.OfVersionID != got.ID {
		t.Errorf("rollback execution = %+v", rrec)
	}
	if _, err := s.SQLExecutionByStep(ctx, 999); rewind.ErrorCode(err) != rewind.ENOTFOUND {
		t.Errorf("execution of unknown request: %v", err)
	}

	reqs, total, err := s.DatabaseRequests(ctx, tg.ID, 0, 1)
	if err != nil || total != 2 || len(reqs) != 1 || reqs[0].ID != rr.ID {
		t.Errorf("DatabaseRequests = %d of %d, %v", len(reqs), total, err)
	}
	if err := s.DeleteDatabase(ctx, d.ID); rewind.ErrorCode(err) != rewind.ECONFLICT || !strings.Contains(err.Error(), "cannot be removed") {
		t.Errorf("deleting a database with history: %v", err)
	}
}

func TestDeleteDatabaseWithoutHistory(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	d, _ := seedDatabase(t, s, 0)
	if err := s.DeleteDatabase(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Database(ctx, d.ID); rewind.ErrorCode(err) != rewind.ENOTFOUND {
		t.Errorf("database still there: %v", err)
	}
	if _, err := s.DatabaseTarget(ctx, d.ID); rewind.ErrorCode(err) != rewind.ENOTFOUND {
		t.Errorf("target still there: %v", err)
	}
	if err := s.DeleteDatabase(ctx, d.ID); rewind.ErrorCode(err) != rewind.ENOTFOUND {
		t.Errorf("deleting twice: %v", err)
	}
}
