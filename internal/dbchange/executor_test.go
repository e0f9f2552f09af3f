package dbchange

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/rewind"
)

const change = `UPDATE items SET name = 'changed; really', price = NULL, data = NULL WHERE region = 'eu';
DELETE FROM items WHERE region = 'us';
INSERT INTO events (note) VALUES ('a'), ('b');
SELECT note FROM events ORDER BY id;`

// TestChangeAndGeneratedRollback runs a change, then its generated rollback,
// and checks the tables are exactly as before, on each engine.
func TestChangeAndGeneratedRollback(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, engine, Options{})
			before := f.dump(t)

			r, outcome, err := f.run(t, rewind.SQLRequest{Kind: rewind.SQLKindChange, SQL: change})
			if err != nil {
				t.Fatalf("Execute: %v (%s)", err, outcome)
			}
			for _, want := range []string{"Version 1.", "Ran 4 statements on shop in one transaction: 5 rows affected.", "Saved 5 rows; the rollback SQL is ready."} {
				if !strings.Contains(outcome, want) {
					t.Errorf("outcome %q lacks %q", outcome, want)
				}
			}
			if after := f.dump(t); reflect.DeepEqual(after, before) {
				t.Fatal("the change changed nothing")
			}
			ex, err := f.store.SQLExecutionByStep(ctx, r.First().ID)
			if err != nil {
				t.Fatal(err)
			}
			if !ex.Succeeded || !ex.Applied || !ex.Transactional || ex.StatementCount != 4 || ex.SavedRows != 5 || ex.RollbackSQL == "" || ex.RollbackNote != "" {
				t.Errorf("execution = %+v", ex)
			}
			v, err := f.store.Version(ctx, ex.VersionID)
			if err != nil {
				t.Fatal(err)
			}
			if v.Source != rewind.SourceChange || v.Content != change || v.Author != "otto" || v.RequestID != r.ID || v.Meta["status"] != "succeeded" {
				t.Errorf("version = %+v", v)
			}
			stmts, err := f.store.SQLStatements(ctx, ex.VersionID, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			var affected []int64
			for _, s := range stmts {
				affected = append(affected, s.RowsAffected)
			}
			if want := []int64{2, 1, 2, 3}; !reflect.DeepEqual(affected, want) {
				t.Errorf("rows affected = %v, want %v", affected, want)
			}
			if got := stmts[3].Rows; len(got) != 3 || got[2][0] != "b" {
				t.Errorf("SELECT rows = %v", got)
			}

			if saved, err := f.store.SQLSaved(ctx, ex.VersionID); err != nil || len(saved) == 0 {
				t.Fatalf("saved rows: %d bytes, %v", len(saved), err)
			}
			tables := ex.SavedTables
			if len(tables) != 3 || tables[0].Kind != "UPDATE" || tables[0].Total != 2 || tables[1].Kind != "DELETE" || tables[2].Kind != "INSERT" {
				t.Fatalf("saved tables = %+v", tables)
			}
			if !tables[0].Columns[0].Key || !tables[0].Columns[1].Key || tables[0].Columns[2].Key {
				t.Errorf("key columns = %+v", tables[0].Columns)
			}
			if got := tables[0].Rows[1][2]; !got.Null || got.Text != "NULL" {
				t.Errorf("NULL name shown as %+v", got)
			}
			if got := tables[0].Rows[0][4].Text; got != "x'00ff'" {
				t.Errorf("bytes shown as %q", got)
			}

			rb := rewind.SQLRequest{Kind: rewind.SQLKindRollback, SQL: ex.RollbackSQL, OfVersion: ex.VersionID, Generated: true}
			rr, outcome, err := f.run(t, rb)
			if err != nil {
				t.Fatalf("rollback: %v (%s)", err, outcome)
			}
			if !strings.Contains(outcome, "Check: all 5 rows saved by the change are back as they were.") {
				t.Errorf("rollback outcome = %q", outcome)
			}
			after := f.dump(t)
			// The INSERT's rows are deleted; the sequence moved on, which the
			// dump does not show.
			if !reflect.DeepEqual(after, before) {
				t.Errorf("after rollback:\n%s\nwant:\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
			}
			rex, err := f.store.SQLExecutionByStep(ctx, rr.First().ID)
			if err != nil {
				t.Fatal(err)
			}
			if rex.Kind != rewind.SQLKindRollback || rex.OfVersionID != ex.VersionID || !rex.Verified || !rex.VerifyOK {
				t.Errorf("rollback execution = %+v", rex)
			}
			rv, _ := f.store.Version(ctx, rex.VersionID)
			if rv.Source != rewind.SourceRollback || rv.Number != 2 || rv.Meta["of_version"] == "" {
				t.Errorf("rollback version = %+v", rv)
			}
		})
	}
}

func TestFailingStatementChangesNothing(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, engine, Options{})
			before := f.dump(t)
			r, outcome, err := f.run(t, rewind.SQLRequest{Kind: rewind.SQLKindChange,
				SQL: "DELETE FROM items WHERE region = 'eu'; INSERT INTO nosuch VALUES (1); UPDATE events SET note = 'z'"})
			if err == nil {
				t.Fatalf("Execute succeeded: %s", outcome)
			}
			for _, want := range []string{"Statement 2 of 3 failed:", "The transaction was rolled back: nothing was changed."} {
				if !strings.Contains(outcome, want) {
					t.Errorf("outcome %q lacks %q", outcome, want)
				}
			}
			if after := f.dump(t); !reflect.DeepEqual(after, before) {
				t.Errorf("a failed change left changes:\n%s", strings.Join(after, "\n"))
			}
			ex, err := f.store.SQLExecutionByStep(ctx, r.First().ID)
			if err != nil {
				t.Fatal(err)
			}
			stmts, _ := f.store.SQLStatements(ctx, ex.VersionID, 0, 0)
			var got []string
			for _, s := range stmts {
				got = append(got, s.Status)
			}
			if want := []string{"rolled back", "failed", "not run"}; !reflect.DeepEqual(got, want) {
				t.Errorf("statuses = %v, want %v", got, want)
			}
			if ex.Succeeded || ex.Applied || ex.RollbackSQL != "" || stmts[1].Error == "" {
				t.Errorf("execution = %+v", ex)
			}
		})
	}
}

func TestMySQLDDLStopsAtFirstError(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, rewind.EngineMySQL, Options{})
	r, outcome, err := f.run(t, rewind.SQLRequest{Kind: rewind.SQLKindChange, SQL: `INSERT INTO events (note) VALUES ('x');
CREATE TABLE extra (id INT PRIMARY KEY);
INSERT INTO nosuch VALUES (1);
INSERT INTO events (note) VALUES ('y')`})
	if err == nil {
		t.Fatalf("Execute succeeded: %s", outcome)
	}
	for _, want := range []string{"Statement 3 of 4 failed:", "Statements 1–2 ran one by one", "stay applied", "Statements 4–4 did not run", "Rollback SQL was generated"} {
		if !strings.Contains(outcome, want) {
			t.Errorf("outcome %q lacks %q", outcome, want)
		}
	}
	if got := f.dump(t); got[len(got)-1] != "2|x" {
		t.Errorf("events = %v, want the first INSERT applied", got)
	}
	ex, _ := f.store.SQLExecutionByStep(ctx, r.First().ID)
	if ex.Transactional || !ex.Applied || ex.Succeeded || !strings.Contains(ex.RollbackNote, "DDL is not undone") {
		t.Errorf("execution = %+v", ex)
	}
}

func TestBoundsAndConfirmation(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, engine, Options{MaxSavedRows: 2})
			before := f.dump(t)
			_, outcome, err := f.run(t, rewind.SQLRequest{Kind: rewind.SQLKindChange, SQL: "DELETE FROM items"})
			if err == nil || !strings.Contains(outcome, "would pass the bound") || !strings.Contains(outcome, "nothing was changed") {
				t.Fatalf("over the bound: %v, %q", err, outcome)
			}
			if after := f.dump(t); !reflect.DeepEqual(after, before) {
				t.Error("a change over the bound ran")
			}
			r, outcome, err := f.run(t, rewind.SQLRequest{Kind: rewind.SQLKindChange, SQL: "DELETE FROM items", ConfirmNoSavedRows: true})
			if err != nil {
				t.Fatalf("confirmed: %v (%s)", err, outcome)
			}
			if !strings.Contains(outcome, "no rollback SQL was generated") {
				t.Errorf("outcome = %q", outcome)
			}
			ex, _ := f.store.SQLExecutionByStep(ctx, r.First().ID)
			if !ex.SavingSkipped || ex.SavedRows != 0 || ex.RollbackSQL != "" || ex.RowsAffected != 3 {
				t.Errorf("execution = %+v", ex)
			}
		})
	}
}

func TestStatementTimeout(t *testing.T) {
	slow := map[string]string{
		rewind.EnginePostgres: "SELECT pg_sleep(10)",
		rewind.EngineMySQL:    "SELECT SLEEP(10)",
		rewind.EngineSQLite:   "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
	}
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			f := newFixture(t, engine, Options{StatementTimeout: 500 * time.Millisecond})
			_, outcome, err := f.run(t, rewind.SQLRequest{Kind: rewind.SQLKindChange, SQL: "UPDATE events SET note = 'x'; " + slow[engine]})
			if err == nil || !strings.Contains(outcome, "stopped after the statement timeout of 500ms") {
				t.Fatalf("got %v, %q; want a timeout", err, outcome)
			}
		})
	}
}

func TestRollbackVerifyReportsChangedRows(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, rewind.EnginePostgres, Options{})
	r, _, err := f.run(t, rewind.SQLRequest{Kind: rewind.SQLKindChange, SQL: "UPDATE items SET name = 'n' WHERE region = 'eu'"})
	if err != nil {
		t.Fatal(err)
	}
	ex, _ := f.store.SQLExecutionByStep(ctx, r.First().ID)
	// An edited rollback that restores only one of the two rows.
	edited := "UPDATE items SET name = 'Zoë ''q'' \"café\"' WHERE region = 'eu' AND id = 1"
	rr, outcome, err := f.run(t, rewind.SQLRequest{Kind: rewind.SQLKindRollback, SQL: edited, OfVersion: ex.VersionID})
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if !strings.Contains(outcome, "Check: 1 of 2 rows match") || !strings.Contains(outcome, "id=2") {
		t.Errorf("outcome = %q", outcome)
	}
	rex, _ := f.store.SQLExecutionByStep(ctx, rr.First().ID)
	if !rex.Verified || rex.VerifyOK {
		t.Errorf("rollback execution = %+v", rex)
	}
}

func TestReconcile(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, rewind.EngineSQLite, Options{})
	r := f.submit(t, rewind.SQLRequest{Kind: rewind.SQLKindChange, SQL: "UPDATE events SET note = 'x'"})
	state, outcome, err := f.svc.Reconcile(ctx, r, r.First(), f.target, nil)
	if err != nil || state != rewind.StepFailed || !strings.Contains(outcome, "check the database") {
		t.Errorf("without a record: %s, %q, %v", state, outcome, err)
	}
	if _, err := f.svc.Execute(ctx, r, r.First(), f.target, nil, func(string) {}); err != nil {
		t.Fatal(err)
	}
	state, _, err = f.svc.Reconcile(ctx, r, r.First(), f.target, nil)
	if err != nil || state != rewind.StepSucceeded {
		t.Errorf("with a record: %s, %v", state, err)
	}
	// Executing again does not run the SQL twice.
	f.exec(t, "UPDATE events SET note = 'y'")
	if _, err := f.svc.Execute(ctx, r, r.First(), f.target, nil, func(string) {}); err != nil {
		t.Fatal(err)
	}
	if got := f.dump(t); got[len(got)-1] != "1|'y'" {
		t.Errorf("events = %v: the SQL ran twice", got)
	}
}

func TestPreview(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, engine, Options{})
			before := f.dump(t)
			pv, err := f.svc.Preview(ctx, f.db, change)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range pv.Results {
				if r.Status != "previewed" {
					t.Errorf("statement %d: %s", r.Index+1, r.Status)
				}
				if len(r.Rows) != 0 || len(r.Columns) != 0 || r.RowsAffected != 0 {
					t.Errorf("statement %d: the preview shows rows %v or counts %d", r.Index+1, r.Rows, r.RowsAffected)
				}
				if engine == rewind.EnginePostgres && !r.HasEstimate {
					t.Errorf("statement %d: no planner estimate (%s)", r.Index+1, r.EstimateNote)
				}
			}
			if !pv.Transactional || len(pv.Errors()) != 0 {
				t.Errorf("got transactional %v (%s), errors %v", pv.Transactional, pv.NotTransactionalReason, pv.Errors())
			}
			if after := f.dump(t); !reflect.DeepEqual(after, before) {
				t.Error("the preview changed the database")
			}
			pv, err = f.svc.Preview(ctx, f.db, "UPDATE events SET note = 'x'; UPDATE nosuch SET a = 1")
			if err != nil || pv.Results[1].Status != "failed" || len(pv.Errors()) != 1 || !strings.HasPrefix(pv.Errors()[0], "Statement 2: ") ||
				!strings.Contains(pv.Errors()[0], "nosuch") {
				t.Errorf("failing preview: %v, %+v", err, pv)
			}
			_, err = f.svc.Preview(ctx, f.db, "UPDATE events SET note = 'unterminated")
			var se *rewind.SQLSyntaxError
			if !errors.As(err, &se) || se.Line != 1 {
				t.Errorf("split error = %v", err)
			}
		})
	}
	t.Run("mysql DDL", func(t *testing.T) {
		f := newFixture(t, rewind.EngineMySQL, Options{})
		pv, err := f.svc.Preview(context.Background(), f.db, "CREATE TABLE extra (id INT PRIMARY KEY); UPDATE events SET note = 'x'")
		if err != nil {
			t.Fatal(err)
		}
		if pv.Transactional || !strings.Contains(pv.NotTransactionalReason, "implicitly") || pv.Results[1].Status != "previewed" {
			t.Errorf("preview = %+v", pv)
		}
	})
}

func TestConnectionMessages(t *testing.T) {
	ctx := context.Background()
	svc := New(nil, Options{}, nil)
	tests := []struct {
		name, engine, dsn string
		want              string // part of the message; empty for a success
	}{
		{"postgres ok", rewind.EnginePostgres, adminDSN(rewind.EnginePostgres), ""},
		{"mysql ok", rewind.EngineMySQL, adminDSN(rewind.EngineMySQL), ""},
		{"postgres unknown database", rewind.EnginePostgres, "postgres://postgres:Pw-Secret-1@127.0.0.1:5432/no_such_db_rewind?sslmode=disable", "unknown database"},
		{"mysql wrong password", rewind.EngineMySQL, "root:Pw-Secret-1@tcp(127.0.0.1:3306)/", "authentication failed"},
		{"nothing listening", rewind.EnginePostgres, "postgres://u:Pw-Secret-1@127.0.0.1:1/x?sslmode=disable", "host unreachable"},
		{"sqlite missing file", rewind.EngineSQLite, "/nonexistent/dir/x.db", "unknown database"},
		{"bad mysql dsn", rewind.EngineMySQL, "root:Pw-Secret-1@tcp(127.0.0.1:3306", "Bad connection string"},
		{"unknown engine", "oracle", "x", "Choose the engine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := svc.TestConnection(ctx, tt.engine, tt.dsn)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("TestConnection: %v", err)
				}
				return
			}
			msg := rewind.ErrorMessage(err)
			if !strings.Contains(msg, tt.want) {
				t.Errorf("message %q lacks %q", msg, tt.want)
			}
			if strings.Contains(msg, "Pw-Secret-1") {
				t.Errorf("message shows the password: %q", msg)
			}
		})
	}
}

func TestStateIsCached(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, rewind.EngineSQLite, Options{})
	if err := f.svc.State(ctx, f.db); err != nil {
		t.Fatalf("State: %v", err)
	}
	gone := *f.db
	gone.DSN = "/nonexistent/x.db"
	if err := f.svc.State(ctx, &gone); err == nil {
		t.Error("a changed DSN used the cached state")
	}
	f.svc.Forget(f.db.ID)
	if err := f.svc.State(ctx, f.db); err != nil {
		t.Errorf("after Forget: %v", err)
	}
}

// TestOutcomeSaysWhatMayHaveTakenEffect: the outcome of a failed change is
// the truth: a statement that failed outside a transaction may have done
// part of its work, and a rolled-back INSERT's sequence values stay taken.
func TestOutcomeSaysWhatMayHaveTakenEffect(t *testing.T) {
	f := newFixture(t, rewind.EngineMySQL, Options{})
	_, outcome, err := f.run(t, rewind.SQLRequest{Kind: rewind.SQLKindChange, SQL: `INSERT INTO events (note) VALUES ('x');
CREATE TABLE extra (id INT PRIMARY KEY);
CREATE TABLE extra (id INT PRIMARY KEY)`})
	if err == nil {
		t.Fatalf("Execute succeeded: %s", outcome)
	}
	for _, want := range []string{"Statement 3 of 3 failed:", "Statements 1–2 ran one by one", "Statement 3 may have taken effect in part"} {
		if !strings.Contains(outcome, want) {
			t.Errorf("outcome %q lacks %q", outcome, want)
		}
	}

	f = newFixture(t, rewind.EnginePostgres, Options{})
	_, outcome, err = f.run(t, rewind.SQLRequest{Kind: rewind.SQLKindChange, SQL: "INSERT INTO events (note) VALUES ('x'); DELETE FROM nosuch"})
	if err == nil {
		t.Fatalf("Execute succeeded: %s", outcome)
	}
	for _, want := range []string{"nothing was changed", "sequence values its INSERTs took stay taken"} {
		if !strings.Contains(outcome, want) {
			t.Errorf("outcome %q lacks %q", outcome, want)
		}
	}
}
