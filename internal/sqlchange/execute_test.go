package sqlchange

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestRollbackRestoresTable runs a change of UPDATEs, DELETEs and INSERTs,
// passes its saved rows through EncodeSaved/DecodeSaved, runs the
// generated rollback and checks the tables are exactly as before.
func TestRollbackRestoresTable(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			tt := newTarget(t, engine)
			dump := tt.load(t)
			before := dump()

			exec, err := tt.db.Execute(ctx, split(t, engine, change), Options{})
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			if !exec.Transactional {
				t.Errorf("got Transactional false (%s), want true", exec.NotTransactionalReason)
			}
			wantStatus := []Status{StatusSucceeded, StatusSucceeded, StatusSucceeded, StatusSucceeded, StatusSucceeded, StatusSucceeded}
			if got := statuses(exec.Results); !reflect.DeepEqual(got, wantStatus) {
				t.Fatalf("got statuses %v, want %v", got, wantStatus)
			}
			var gotSaved []int
			for _, s := range exec.Saved {
				gotSaved = append(gotSaved, len(s.Rows))
			}
			if want := []int{2, 3, 2, 3, 1, 2}; !reflect.DeepEqual(gotSaved, want) {
				t.Errorf("got saved row counts %v, want %v (notes: %v)", gotSaved, want, notes(exec))
			}
			if reflect.DeepEqual(dump(), before) {
				t.Fatal("the change changed nothing")
			}

			data, err := EncodeSaved(exec.Saved)
			if err != nil {
				t.Fatalf("EncodeSaved: %v", err)
			}
			decoded, err := DecodeSaved(data)
			if err != nil {
				t.Fatalf("DecodeSaved: %v", err)
			}
			if !reflect.DeepEqual(decoded, exec.Saved) {
				t.Fatalf("decoded saved rows differ from the saved rows")
			}

			report, err := tt.db.Verify(ctx, decoded)
			if err != nil {
				t.Fatalf("Verify before rollback: %v", err)
			}
			if report.OK() {
				t.Errorf("Verify before the rollback: got OK (%s), want mismatches", report)
			}

			stored := &Execution{Engine: engine, Results: exec.Results, Saved: decoded}
			rollback, err := GenerateRollback(engine, stored)
			if err != nil {
				t.Fatalf("GenerateRollback: %v", err)
			}
			rbExec, err := tt.db.Execute(ctx, split(t, engine, rollback), Options{})
			if err != nil {
				t.Fatalf("run rollback: %v\n%s", err, rollback)
			}
			if !rbExec.Transactional {
				t.Errorf("rollback not transactional: %s", rbExec.NotTransactionalReason)
			}
			if got := dump(); !reflect.DeepEqual(got, before) {
				t.Errorf("after rollback the tables differ\ngot  %q\nwant %q\nrollback:\n%s", got, before, rollback)
			}

			report, err = tt.db.Verify(ctx, decoded)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !report.OK() || report.Checked != 12 {
				t.Errorf("Verify: got %s (checked %d), want 12 rows match", report, report.Checked)
			}
		})
	}
}

func notes(exec *Execution) []string {
	var out []string
	for _, r := range exec.Results {
		out = append(out, r.Note)
	}
	return out
}

func TestPreviewRunsNothing(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			tt := newTarget(t, engine)
			dump := tt.load(t)
			before := dump()
			sql := change + "\nCREATE TABLE extra (id INT PRIMARY KEY);\nINSERT INTO items (region, id) VALUES ('x', 1);\nSELECT name FROM items ORDER BY region, id;"
			rep, err := tt.db.Preview(ctx, split(t, engine, sql), Options{})
			if err != nil {
				t.Fatalf("Preview: %v", err)
			}
			for _, r := range rep.Results {
				if r.Status != StatusPreviewed {
					t.Errorf("statement %d: got %s (%s %s), want previewed", r.Index+1, r.Status, r.Error, r.Note)
				}
				if r.RowsAffected != 0 || r.Rows != nil || r.Columns != nil {
					t.Errorf("statement %d: a preview returned rows or counts %d %v", r.Index+1, r.RowsAffected, r.Rows)
				}
			}
			switch engine {
			case Postgres:
				if r := rep.Results[1]; !r.HasEstimate || r.EstimateNote != NotePlanner {
					t.Errorf("DELETE on PostgreSQL: got estimate %v %q, want the planner's", r.HasEstimate, r.EstimateNote)
				}
			case MySQL:
				if r := rep.Results[1]; !r.HasEstimate || r.EstimateNote != NoteTableSize {
					t.Errorf("DELETE on MariaDB: got estimate %v %q, want the table size", r.HasEstimate, r.EstimateNote)
				}
				if rep.Transactional || !strings.Contains(rep.NotTransactionalReason, "statement 7") {
					t.Errorf("got transactional %v (%q), want not, because of the CREATE TABLE", rep.Transactional, rep.NotTransactionalReason)
				}
			}
			if engine != MySQL && !rep.Transactional {
				t.Errorf("got not transactional (%q), want one transaction", rep.NotTransactionalReason)
			}
			if got := rep.Results[0].Note; got != "the rows it changes will be saved" {
				t.Errorf("UPDATE: got note %q", got)
			}
			if got := dump(); !reflect.DeepEqual(got, before) {
				t.Errorf("preview changed the tables\ngot  %q\nwant %q", got, before)
			}
			var n int
			err = tt.raw.QueryRow("SELECT COUNT(*) FROM items WHERE region = 'x'").Scan(&n)
			if err != nil || n != 0 {
				t.Errorf("previewed INSERT left %d rows (%v)", n, err)
			}
			if tableExists(t, tt, "extra") {
				t.Errorf("previewed CREATE TABLE made the table")
			}
		})
	}
}

func TestFailingStatementLeavesNothingChanged(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			tt := newTarget(t, engine)
			dump := tt.load(t)
			before := dump()
			sql := `UPDATE items SET name = 'x' WHERE region = 'eu';
				DELETE FROM events WHERE note = 'seed';
				INSERT INTO items (region, id) VALUES ('us', 1);
				DELETE FROM items;`
			if engine != MySQL {
				sql = "CREATE TABLE extra (id INT PRIMARY KEY);\n" + sql
			}
			exec, err := tt.db.Execute(ctx, split(t, engine, sql), Options{})
			var se *StatementError
			if !errors.As(err, &se) {
				t.Fatalf("got error %v, want a *StatementError", err)
			}
			want := []Status{StatusRolledBack, StatusRolledBack, StatusFailed, StatusNotRun}
			if engine != MySQL {
				want = append([]Status{StatusRolledBack}, want...)
			}
			if got := statuses(exec.Results); !reflect.DeepEqual(got, want) {
				t.Errorf("got statuses %v, want %v", got, want)
			}
			if se.Index != len(want)-2 {
				t.Errorf("got failing statement %d, want %d", se.Index, len(want)-2)
			}
			if !exec.Transactional || len(exec.Saved) != 0 {
				t.Errorf("got Transactional %v and %d saved, want true and none", exec.Transactional, len(exec.Saved))
			}
			if exec.Results[len(want)-2].Error == "" {
				t.Error("failed statement has no error text")
			}
			if got := dump(); !reflect.DeepEqual(got, before) {
				t.Errorf("tables changed\ngot  %q\nwant %q", got, before)
			}
			if engine != MySQL {
				var n int
				if err := tt.raw.QueryRow("SELECT COUNT(*) FROM extra").Scan(&n); err == nil {
					t.Error("table extra exists after the failed change")
				}
			}
		})
	}
}

func TestMySQLDDLStopsAtFirstError(t *testing.T) {
	ctx := context.Background()
	tt := newTarget(t, MySQL)
	tt.load(t)
	sql := `CREATE TABLE extra (id INT PRIMARY KEY) ENGINE=InnoDB;
		INSERT INTO extra VALUES (1);
		DELETE FROM items WHERE region = 'us';
		ALTER TABLE missing ADD c INT;
		INSERT INTO extra VALUES (2);`
	exec, err := tt.db.Execute(ctx, split(t, MySQL, sql), Options{})
	var se *StatementError
	if !errors.As(err, &se) || se.Index != 3 {
		t.Fatalf("got error %v, want statement 4 to fail", err)
	}
	want := []Status{StatusSucceeded, StatusSucceeded, StatusSucceeded, StatusFailed, StatusNotRun}
	if got := statuses(exec.Results); !reflect.DeepEqual(got, want) {
		t.Errorf("got statuses %v, want %v", got, want)
	}
	if exec.Transactional || !strings.Contains(exec.NotTransactionalReason, "CREATE") {
		t.Errorf("got Transactional %v (%q), want false because of CREATE", exec.Transactional, exec.NotTransactionalReason)
	}
	if got := tt.dump(t, "SELECT id FROM extra ORDER BY id"); !reflect.DeepEqual(got, []string{"'1'"}) {
		t.Errorf("got extra rows %v, want just 1", got)
	}
	if len(exec.Saved) != 2 || exec.Saved[1].Kind != KindDelete || len(exec.Saved[1].Rows) != 3 {
		t.Errorf("got saved %+v, want the INSERT key and the 3 deleted rows", exec.Saved)
	}
	rollback, err := GenerateRollback(MySQL, exec)
	if !errors.Is(err, ErrIncompleteRollback) || !strings.Contains(rollback, "NOT UNDONE: statement 1") {
		t.Errorf("got error %v, want the CREATE TABLE named as not undone\n%s", err, rollback)
	}
}

func TestBounds(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			tt := newTarget(t, engine)
			dump := tt.load(t)
			before := dump()
			stmts := split(t, engine, "DELETE FROM items WHERE region = 'us'")

			exec, err := tt.db.Execute(ctx, stmts, Options{MaxSavedRows: 2})
			var be *BoundsError
			if !errors.Is(err, ErrTooManyRows) || !errors.As(err, &be) {
				t.Fatalf("got error %v, want ErrTooManyRows", err)
			}
			if exec.Results[0].Status != StatusFailed || be.MaxRows != 2 {
				t.Errorf("got status %s and bound %d, want failed and 2", exec.Results[0].Status, be.MaxRows)
			}
			if got := dump(); !reflect.DeepEqual(got, before) {
				t.Errorf("refused change altered the tables")
			}

			_, err = tt.db.Execute(ctx, stmts, Options{MaxSavedBytes: 20})
			if !errors.Is(err, ErrTooManyRows) {
				t.Fatalf("byte bound: got error %v, want ErrTooManyRows", err)
			}

			exec, err = tt.db.Execute(ctx, stmts, Options{MaxSavedRows: 2, SkipSaving: true})
			if err != nil {
				t.Fatalf("confirmed run: %v", err)
			}
			if !exec.SavingSkipped || len(exec.Saved) != 0 || exec.Results[0].RowsAffected != 3 ||
				!strings.HasPrefix(exec.Results[0].Note, "rows not saved") {
				t.Errorf("got skipped %v, %d saved, %d rows, note %q; want a run without saved rows",
					exec.SavingSkipped, len(exec.Saved), exec.Results[0].RowsAffected, exec.Results[0].Note)
			}
		})
	}
}

func TestStatementTimeout(t *testing.T) {
	slow := map[Engine]string{
		Postgres: "SELECT pg_sleep(10)",
		MySQL:    "SELECT SLEEP(10)",
		SQLite:   "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
	}
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			tt := newTarget(t, engine)
			tt.load(t)
			stmts := split(t, engine, "UPDATE events SET note = 'x' WHERE id = 1; "+slow[engine])
			exec, err := tt.db.Execute(ctx, stmts, Options{StatementTimeout: 500 * time.Millisecond})
			if !errors.Is(err, ErrStatementTimeout) {
				t.Fatalf("got error %v, want ErrStatementTimeout", err)
			}
			res := exec.Results[1]
			if res.Status != StatusFailed || !res.TimedOut || res.Duration > 8*time.Second {
				t.Errorf("got %s, timed out %v after %s; want a failure by timeout", res.Status, res.TimedOut, res.Duration)
			}
			if got := tt.dump(t, "SELECT note FROM events WHERE id = 1"); !reflect.DeepEqual(got, []string{"'seed'"}) {
				t.Errorf("got %v, want the UPDATE rolled back", got)
			}
		})
	}
}

func TestRowsNotSaved(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			tt := newTarget(t, engine)
			tt.load(t)
			tt.exec(t, "CREATE TABLE nokey (a INT, b INT)", "INSERT INTO nokey VALUES (1, 2)")
			sql := `UPDATE nokey SET b = 3;
				UPDATE items SET id = id + 100 WHERE region = 'asia';
				UPDATE events SET note = 'z' WHERE id = 3;`
			exec, err := tt.db.Execute(ctx, split(t, engine, sql), Options{})
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			wantNotes := []string{"rows not saved: table nokey has no primary key", "rows not saved: the statement changes primary key column id", ""}
			if got := notes(exec); !reflect.DeepEqual(got, wantNotes) {
				t.Errorf("got notes %q, want %q", got, wantNotes)
			}
			rollback, err := GenerateRollback(engine, exec)
			var ie *IncompleteRollbackError
			if !errors.As(err, &ie) || !reflect.DeepEqual(ie.Statements, []int{0}) {
				t.Errorf("got error %v, want statement 1 named as not undone", err)
			}
			if !strings.Contains(rollback, "'keep'") {
				t.Errorf("rollback does not restore the events row:\n%s", rollback)
			}
		})
	}
}

func TestMySQLInsertKeysFromLastInsertID(t *testing.T) {
	ctx := context.Background()
	tt := newTarget(t, MySQL)
	dump := tt.load(t)
	before := dump()
	tt.db.flavour = &flavour{mariaDB: true, returning: false}
	sql := `INSERT INTO events (note) VALUES ('a'), ('b');
		INSERT INTO events (id, note) VALUES (100, 'explicit');
		INSERT INTO events SET note = 'set form';`
	exec, err := tt.db.Execute(ctx, split(t, MySQL, sql), Options{})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if len(exec.Saved) != 1 || !reflect.DeepEqual(exec.Saved[0].Rows, []Row{{"4"}, {"5"}}) {
		t.Fatalf("got saved %+v, want keys 4 and 5", exec.Saved)
	}
	got := notes(exec)
	if got[0] != "" || !strings.HasPrefix(got[1], "inserted keys not known") || !strings.HasPrefix(got[2], "inserted keys not known") {
		t.Errorf("got notes %q", got)
	}
	tt.exec(t, "DELETE FROM events WHERE id > 5")
	rollback, err := GenerateRollback(MySQL, exec)
	if !errors.Is(err, ErrIncompleteRollback) {
		t.Fatalf("got error %v, want ErrIncompleteRollback", err)
	}
	if _, err := tt.db.Execute(ctx, split(t, MySQL, rollback), Options{}); err != nil {
		t.Fatalf("run rollback: %v", err)
	}
	if got := dump(); !reflect.DeepEqual(got, before) {
		t.Errorf("got %q, want %q", got, before)
	}
}

func TestTransactionControlRefused(t *testing.T) {
	tt := newTarget(t, SQLite)
	_, err := tt.db.Execute(context.Background(), split(t, SQLite, "BEGIN; SELECT 1; COMMIT"), Options{})
	if !errors.Is(err, ErrTransactionControl) {
		t.Errorf("got error %v, want ErrTransactionControl", err)
	}
	var se *StatementError
	if err := Check(MySQL, split(t, MySQL, "UPDATE t SET a = 1; COMMIT")); !errors.As(err, &se) || se.Index != 1 || !errors.Is(err, ErrTransactionControl) {
		t.Errorf("Check: got %v, want statement 2 refused as transaction control", err)
	}
	if err := Check(Postgres, split(t, Postgres, "UPDATE t SET a = 1; SELECT 1")); err != nil {
		t.Errorf("Check of plain statements: %v", err)
	}
}

func TestVerifyReportsMismatches(t *testing.T) {
	ctx := context.Background()
	tt := newTarget(t, Postgres)
	tt.load(t)
	exec, err := tt.db.Execute(ctx, split(t, Postgres, change), Options{})
	if err != nil {
		t.Fatal(err)
	}
	rollback, err := GenerateRollback(Postgres, exec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tt.db.Execute(ctx, split(t, Postgres, rollback), Options{}); err != nil {
		t.Fatal(err)
	}
	tt.exec(t, "UPDATE items SET name = 'drift' WHERE region = 'eu' AND id = 1",
		"DELETE FROM items WHERE region = 'us' AND id = 2",
		"INSERT INTO items (region, id) VALUES ('asia', 1)")
	report, err := tt.db.Verify(ctx, exec.Saved)
	if err != nil {
		t.Fatal(err)
	}
	if report.Checked != 12 || report.Matched != 9 || len(report.Mismatches) != 3 {
		t.Fatalf("got %s, want 9 of 12 rows to match", report)
	}
	problems := map[string]string{}
	for _, m := range report.Mismatches {
		problems[m.Key] = m.Problem
	}
	want := map[string]string{
		"region='eu', id=1":   `column name: want 'Zoë''s "café" E''\\'' 😀', got 'drift'`,
		"region='us', id=2":   "row is missing",
		"region='asia', id=1": "row added by statement 3 is still there",
	}
	for k, w := range want {
		if k == "region='eu', id=1" {
			if !strings.HasPrefix(problems[k], "column name: want ") || !strings.HasSuffix(problems[k], "got 'drift'") {
				t.Errorf("%s: got %q", k, problems[k])
			}
			continue
		}
		if problems[k] != w {
			t.Errorf("%s: got %q, want %q", k, problems[k], w)
		}
	}
}

func TestMySQLTableThatCannotRollBack(t *testing.T) {
	ctx := context.Background()
	tt := newTarget(t, MySQL)
	tt.load(t)
	tt.exec(t, "CREATE TABLE logs (id INT PRIMARY KEY, m VARCHAR(10)) ENGINE=MyISAM", "INSERT INTO logs VALUES (1, 'a')")

	rep, err := tt.db.Preview(ctx, split(t, MySQL, "DELETE FROM logs; DELETE FROM items WHERE region = 'us'"), Options{})
	if err != nil {
		t.Fatalf("Preview: %v", err)
	}
	if rep.Transactional || !strings.Contains(rep.NotTransactionalReason, "MyISAM") {
		t.Errorf("got transactional %v %q, want not, because of the MyISAM table", rep.Transactional, rep.NotTransactionalReason)
	}
	if statuses(rep.Results)[1] != StatusPreviewed {
		t.Errorf("got %v, want previewed", statuses(rep.Results))
	}
	if got := tt.dump(t, "SELECT * FROM logs"); !reflect.DeepEqual(got, []string{"'1' | 'a'"}) {
		t.Errorf("preview changed the MyISAM table: %v", got)
	}

	exec, err := tt.db.Execute(ctx, split(t, MySQL, "UPDATE logs SET m = 'b'"), Options{})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if exec.Transactional || len(exec.Saved) != 1 {
		t.Errorf("got Transactional %v with %d saved, want false with the row saved", exec.Transactional, len(exec.Saved))
	}
}

func TestPostgresStatementOutsideTransaction(t *testing.T) {
	ctx := context.Background()
	tt := newTarget(t, Postgres)
	tt.load(t)
	stmts := split(t, Postgres, "CREATE INDEX CONCURRENTLY items_name ON items (name); DELETE FROM items WHERE region = 'us'")

	rep, err := tt.db.Preview(ctx, stmts, Options{})
	if err != nil {
		t.Fatalf("Preview: %v", err)
	}
	if got := statuses(rep.Results); !reflect.DeepEqual(got, []Status{StatusPreviewed, StatusPreviewed}) {
		t.Errorf("preview: got %v", got)
	}
	if rep.Transactional || !strings.Contains(rep.NotTransactionalReason, "CONCURRENTLY") {
		t.Errorf("preview: got transactional %v %q, want not because of CONCURRENTLY", rep.Transactional, rep.NotTransactionalReason)
	}

	exec, err := tt.db.Execute(ctx, stmts, Options{})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if exec.Transactional || !strings.Contains(exec.NotTransactionalReason, "CONCURRENTLY") {
		t.Errorf("got Transactional %v (%q), want false because of CONCURRENTLY", exec.Transactional, exec.NotTransactionalReason)
	}
	if len(exec.Saved) != 1 || len(exec.Saved[0].Rows) != 3 {
		t.Errorf("got saved %+v, want the 3 deleted rows", exec.Saved)
	}
}

func TestCascadingForeignKeyNamed(t *testing.T) {
	for _, engine := range []Engine{Postgres, MySQL} {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			tt := newTarget(t, engine)
			tt.exec(t, "CREATE TABLE parent (id INT PRIMARY KEY)",
				"CREATE TABLE child (id INT PRIMARY KEY, parent_id INT REFERENCES parent (id) ON DELETE CASCADE)",
				"INSERT INTO parent VALUES (1), (2)", "INSERT INTO child VALUES (10, 1), (20, 2)")
			if engine == MySQL {
				tt.exec(t, "ALTER TABLE child ADD FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE")
			}
			exec, err := tt.db.Execute(ctx, split(t, engine, "DELETE FROM parent WHERE id = 1"), Options{})
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			if len(exec.Saved) != 1 || len(exec.Saved[0].Rows) != 1 || !strings.Contains(exec.Saved[0].Gap, "child") {
				t.Fatalf("got saved %+v, want the parent row with a gap naming child", exec.Saved)
			}
			if !strings.HasPrefix(exec.Results[0].Note, "only some rows saved") {
				t.Errorf("got note %q", exec.Results[0].Note)
			}
			rollback, err := GenerateRollback(engine, exec)
			if !errors.Is(err, ErrIncompleteRollback) || !strings.Contains(rollback, "INSERT INTO") {
				t.Errorf("got %v, want a partial rollback with ErrIncompleteRollback\n%s", err, rollback)
			}
		})
	}
}
