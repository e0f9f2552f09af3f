package sqlchange

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// The classes of issue 7: SQL that acts outside a transaction, or reveals
// data, must do neither in a preview. Each case is previewed (and, where
// it may be submitted, checked); afterwards the database's tables and
// their rows, sequences, extensions, routines, roles and global settings
// are as before, no file appeared, the planted secret came back in no
// result or error, and the preview returned in bounded time.

// snapshot is what a case must leave unchanged.
func (tt *testTarget) snapshot(tb testing.TB) []string {
	tb.Helper()
	var qs []string
	switch tt.engine {
	case Postgres:
		qs = []string{
			`SELECT n.nspname || '.' || c.relname || ':' || c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
				WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1`,
			"SELECT i::text FROM items i ORDER BY region, id", "SELECT e::text FROM events e ORDER BY id", "SELECT pw FROM secrets",
			"SELECT sequencename || '=' || coalesce(last_value::text, 'unused') FROM pg_sequences ORDER BY 1",
			"SELECT extname FROM pg_extension ORDER BY 1",
			"SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace ORDER BY 1",
			"SELECT rolname FROM pg_roles WHERE rolname LIKE 'rewind_evil%' ORDER BY 1",
			"SELECT name || '=' || setting FROM pg_file_settings ORDER BY 1",
			"SELECT count(*) FROM pg_largeobject_metadata",
		}
	case MySQL:
		qs = []string{
			"SELECT TABLE_NAME, TABLE_TYPE, COALESCE(ENGINE, '') FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1",
			"SELECT * FROM items ORDER BY region, id", "SELECT * FROM events ORDER BY id", "SELECT pw FROM secrets", "SELECT * FROM log",
			"SELECT next_not_cached_value FROM seq",
			"SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() ORDER BY 1",
			"SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()",
			"SELECT CONCAT(User, '@', Host) FROM mysql.user WHERE User LIKE 'rewind_evil%'",
			"SELECT PLUGIN_NAME, PLUGIN_STATUS FROM information_schema.PLUGINS ORDER BY 1",
			`SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME IN
				('MAX_CONNECTIONS', 'SQL_MODE', 'GENERAL_LOG', 'EVENT_SCHEDULER', 'LOCAL_INFILE', 'READ_ONLY', 'WAIT_TIMEOUT') ORDER BY 1`,
		}
	case SQLite:
		qs = []string{"SELECT type, name, sql FROM sqlite_master ORDER BY name", "SELECT * FROM items ORDER BY region, id",
			"SELECT * FROM events ORDER BY id", "SELECT pw FROM secrets", "PRAGMA journal_mode", "PRAGMA user_version"}
	}
	var out []string
	for _, q := range qs {
		out = append(out, q)
		out = append(out, tt.dump(tb, q)...)
	}
	return out
}

// safetyTarget is a target with the fixture, a planted secret, and on each
// engine what the cases need: a sequence, a function that writes, ...
func safetyTarget(t *testing.T, engine Engine) (*testTarget, string) {
	t.Helper()
	tt := newTarget(t, engine)
	tt.load(t)
	secret := randomName("s3cr3t-")
	tt.exec(t, "CREATE TABLE secrets (pw VARCHAR(60))", "INSERT INTO secrets VALUES ('"+secret+"')")
	switch engine {
	case Postgres:
		tt.exec(t, "CREATE SEQUENCE seq", "SELECT nextval('seq')",
			"CREATE EXTENSION IF NOT EXISTS dblink", "CREATE EXTENSION IF NOT EXISTS adminpack",
			"CREATE FUNCTION leak() RETURNS text IMMUTABLE LANGUAGE sql AS $$ SELECT pw FROM secrets LIMIT 1 $$",
			"CREATE FUNCTION write_item() RETURNS int LANGUAGE sql AS $$ INSERT INTO items (region, id) VALUES ('fn', 1) RETURNING 1 $$",
			"CREATE PROCEDURE add_item() LANGUAGE sql AS $$ INSERT INTO items (region, id) VALUES ('proc', 1) $$",
			"CREATE FUNCTION flip() RETURNS text LANGUAGE sql AS $$ SELECT set_config('standard_conforming_strings', 'off', false) $$",
			"CREATE VIEW leaky AS SELECT leak() AS pw",
			"CREATE VIEW writing AS SELECT write_item() AS n",
			"CREATE VIEW leaky2 AS SELECT * FROM leaky")
	case MySQL:
		tt.exec(t, "CREATE TABLE log (n INT) ENGINE=MyISAM", "CREATE SEQUENCE seq",
			"CREATE FUNCTION g() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN INSERT INTO log VALUES (2); RETURN 2; END",
			"CREATE FUNCTION h() RETURNS VARCHAR(60) DETERMINISTIC READS SQL DATA RETURN (SELECT pw FROM secrets LIMIT 1)",
			"CREATE PROCEDURE p() BEGIN INSERT INTO log VALUES (3); COMMIT; END",
			// Creating the view runs g() once; preparing a read of it would again.
			"CREATE VIEW fv AS SELECT extractvalue('<a>1</a>', concat('/a', IF(g() > 0, '', ''))) AS x")
	}
	return tt, secret
}

// probeFile is a path a case tries to write; it must not appear.
func probeFile(t *testing.T) string {
	p := filepath.Join(os.TempDir(), randomName("rewind_probe_"))
	t.Cleanup(func() { os.Remove(p) })
	return p
}

// serverFileExists asks the database server too, in case its /tmp is not ours.
func (tt *testTarget) serverFileExists(t *testing.T, path string) bool {
	if _, err := os.Stat(path); err == nil {
		return true
	}
	var exists bool
	switch tt.engine {
	case Postgres:
		tt.raw.QueryRow("SELECT pg_stat_file($1, true) IS NOT NULL", path).Scan(&exists)
	case MySQL:
		tt.raw.QueryRow("SELECT LOAD_FILE(?) IS NOT NULL", path).Scan(&exists)
	}
	return exists
}

// texts gathers every text a preview gave back.
func texts(rep *PreviewReport, err error) string {
	var b strings.Builder
	if err != nil {
		b.WriteString(err.Error())
	}
	if rep != nil {
		b.WriteString(rep.NotTransactionalReason)
		for _, r := range rep.Results {
			fmt.Fprintf(&b, "\n%s %s %s %s %v %v", r.Error, r.Note, r.EstimateNote, r.SQL, r.Columns, r.Rows)
		}
	}
	return b.String()
}

type safetyCase struct {
	name string
	sql  string // %s is replaced by a fresh probe file path
	// refused says Check (and so submitting) refuses the SQL outright.
	refused bool
}

var safetyCases = map[Engine][]safetyCase{
	Postgres: {
		{name: "COPY TO PROGRAM", sql: "COPY items TO PROGRAM 'touch %s'"},
		{name: "COPY TO file", sql: "COPY items TO '%s'"},
		{name: "COPY FROM PROGRAM", sql: "COPY items FROM PROGRAM 'touch %s'"},
		{name: "lo_export", sql: "SELECT lo_export(lo_from_bytea(0, 'x'), '%s')"},
		{name: "pg_file_write", sql: "SELECT pg_file_write('%s', 'x', false)"},
		{name: "dblink writes through another connection", sql: "SELECT dblink_exec('host=127.0.0.1 user=postgres dbname=' || current_database(), 'INSERT INTO items (region, id) VALUES (''dblink'', 1)')"},
		{name: "pg_terminate_backend", sql: "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"},
		{name: "pg_cancel_backend", sql: "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"},
		{name: "nextval", sql: "SELECT nextval('seq')"},
		{name: "setval", sql: "SELECT setval('seq', 1000)"},
		{name: "INSERT taking identity values", sql: "INSERT INTO events (note) VALUES ('x')"},
		{name: "CREATE EXTENSION", sql: "CREATE EXTENSION postgres_fdw"},
		{name: "ALTER SYSTEM", sql: "ALTER SYSTEM SET work_mem = '77MB'"},
		{name: "CREATE ROLE", sql: "CREATE ROLE rewind_evil_role SUPERUSER"},
		{name: "DDL", sql: "DROP TABLE items; CREATE TABLE made (id int); CREATE TABLE copied AS SELECT * FROM secrets"},
		{name: "DO block", sql: "DO $$ BEGIN INSERT INTO items (region, id) VALUES ('do', 1); PERFORM pg_sleep(3); END $$"},
		{name: "CALL", sql: "CALL add_item()"},
		{name: "function that writes", sql: "SELECT write_item()"},
		{name: "function that changes lexing", sql: "SELECT flip()"},
		{name: "data-modifying CTE", sql: "WITH d AS (DELETE FROM items RETURNING *) SELECT count(*) FROM d"},
		{name: "dollar quotes hide a semicolon", sql: "SELECT $a$; DELETE FROM items; $a$"},
		{name: "backslash under standard strings", sql: `SELECT 'a\''; DELETE FROM items; --'`},
		{name: "set standard_conforming_strings", sql: "SET standard_conforming_strings = off", refused: true},
		{name: "set backslash_quote", sql: "SET SESSION backslash_quote = on", refused: true},
		{name: "set client_encoding", sql: "SET client_encoding = 'SJIS'", refused: true},
		{name: "SET NAMES", sql: "SET NAMES 'SJIS'", refused: true},
		{name: "RESET ALL", sql: "RESET ALL", refused: true},
		{name: "set_config of lexing", sql: "SELECT set_config('standard_conforming_strings', 'off', false)", refused: true},
		{name: "transaction control", sql: "COMMIT", refused: true},
		{name: "cast error shows data", sql: "SELECT leak()::int"},
		{name: "cast error through a view", sql: "SELECT pw::int FROM leaky"},
		{name: "view that writes", sql: "SELECT * FROM writing"},
		{name: "cast error through nested views", sql: "SELECT pw::int FROM leaky2"},
		{name: "cast error in a condition", sql: "SELECT 1 FROM items WHERE CAST(leak() AS int) = 1"},
		{name: "cast error of a subquery", sql: "SELECT (SELECT pw FROM secrets)::int"},
		{name: "pg_read_file", sql: "SELECT pg_read_file('/etc/hostname')"},
		{name: "row count of secret rows", sql: "SELECT * FROM secrets"},
		{name: "pg_sleep", sql: "SELECT pg_sleep(8)"},
		{name: "pg_sleep in a subquery", sql: "SELECT 1 FROM items WHERE (SELECT pg_sleep(8)) IS NULL"},
		{name: "timing on secret", sql: "SELECT CASE WHEN (SELECT pw FROM secrets) LIKE 's%' THEN pg_sleep(8) END"},
	},
	MySQL: {
		{name: "INTO OUTFILE", sql: "SELECT * FROM items INTO OUTFILE '%s'"},
		{name: "INTO DUMPFILE", sql: "SELECT pw FROM secrets INTO DUMPFILE '%s'"},
		{name: "KILL another connection", sql: "KILL CONNECTION 1"},
		{name: "NEXTVAL", sql: "SELECT NEXTVAL(seq)"},
		{name: "NEXT VALUE FOR", sql: "SELECT NEXT VALUE FOR seq"},
		{name: "SETVAL", sql: "SELECT SETVAL(seq, 1000)"},
		{name: "INSTALL SONAME", sql: "INSTALL SONAME 'ha_blackhole'"},
		{name: "SET GLOBAL", sql: "SET GLOBAL max_connections = 77"},
		{name: "implicit commit", sql: "INSERT INTO items (region, id) VALUES ('ic', 1); CREATE TABLE made (id INT); DROP TABLE events"},
		{name: "CREATE TABLE ... SELECT", sql: "CREATE TABLE copied AS SELECT * FROM secrets"},
		{name: "CREATE USER", sql: "CREATE USER 'rewind_evil'@'%' IDENTIFIED BY 'x'"},
		{name: "stored function that writes, folded while preparing", sql: "SELECT extractvalue(1, concat(0x7e, g()))"},
		{name: "stored function in WHERE", sql: "SELECT * FROM items WHERE id = g()"},
		{name: "view that calls a stored function", sql: "SELECT * FROM fv"},
		{name: "view in a subquery", sql: "UPDATE items SET name = (SELECT x FROM fv) WHERE id = 1"},
		{name: "CALL with COMMIT", sql: "CALL p()"},
		{name: "executable comment", sql: "SELECT 1 /*! , (SELECT pw FROM secrets) */", refused: true},
		{name: "MariaDB executable comment", sql: "/*M!100000 DROP TABLE items */", refused: true},
		{name: "versioned executable comment", sql: "SELECT 1 /*!50000 ; DELETE FROM items */", refused: true},
		{name: "SET STATEMENT lexing", sql: "SET STATEMENT sql_mode = 'NO_BACKSLASH_ESCAPES' FOR SELECT 1", refused: true},
		{name: "SET STATEMENT", sql: "SET STATEMENT max_statement_time = 100 FOR DELETE FROM items"},
		{name: "set sql_mode ANSI_QUOTES", sql: "SET sql_mode = 'ANSI_QUOTES'", refused: true},
		{name: "set sql_mode NO_BACKSLASH_ESCAPES", sql: "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'", refused: true},
		{name: "SET @@sql_mode", sql: "SET @@sql_mode = 'ANSI'", refused: true},
		{name: "SET NAMES", sql: "SET NAMES gbk", refused: true},
		{name: "SET CHARACTER SET", sql: "SET CHARACTER SET gbk", refused: true},
		{name: "SET character_set_client", sql: "SET character_set_client = 'sjis'", refused: true},
		{name: "transaction control", sql: "COMMIT", refused: true},
		{name: "backslash inside a string", sql: `SELECT 'a\'; DELETE FROM items; -- '`},
		{name: "double quotes hide a semicolon", sql: `SELECT "a; DELETE FROM items; "`},
		{name: "extractvalue error text", sql: "SELECT extractvalue(1, concat(0x7e, (SELECT pw FROM secrets LIMIT 1)))"},
		{name: "extractvalue of a reading function", sql: "SELECT extractvalue(1, concat(0x7e, h()))"},
		{name: "updatexml error text", sql: "SELECT 1 FROM items WHERE updatexml(1, concat(0x7e, (SELECT pw FROM secrets)), 1)"},
		{name: "LOAD_FILE", sql: "SELECT LOAD_FILE('/etc/hostname')"},
		{name: "LOAD_FILE folded", sql: "SELECT extractvalue(1, concat(0x7e, LOAD_FILE('/etc/hostname')))"},
		{name: "row count of secret rows", sql: "SELECT * FROM secrets"},
		{name: "SLEEP", sql: "SELECT SLEEP(8)"},
		{name: "SLEEP in a subquery", sql: "SELECT * FROM items WHERE id = (SELECT SLEEP(8))"},
		{name: "BENCHMARK", sql: "SELECT BENCHMARK(1000000000, MD5('x'))"},
		{name: "timing on secret", sql: "SELECT IF((SELECT pw FROM secrets) LIKE 's%', SLEEP(8), 0)"},
	},
	SQLite: {
		{name: "ATTACH makes a file", sql: "ATTACH DATABASE '%s' AS other"},
		{name: "VACUUM INTO makes a file", sql: "VACUUM INTO '%s'"},
		{name: "PRAGMA journal_mode", sql: "PRAGMA journal_mode = WAL"},
		{name: "PRAGMA user_version", sql: "PRAGMA user_version = 99"},
		{name: "DDL", sql: "DROP TABLE items; CREATE TABLE made (id INT); CREATE TABLE copied AS SELECT * FROM secrets"},
		{name: "writes", sql: "DELETE FROM items; INSERT INTO events (note) VALUES ('x'); UPDATE secrets SET pw = 'x'"},
		{name: "load_extension", sql: "SELECT load_extension('/tmp/nothing')"},
		{name: "trigger body", sql: "CREATE TRIGGER tr AFTER INSERT ON events BEGIN DELETE FROM items; END"},
		{name: "transaction control", sql: "COMMIT", refused: true},
		{name: "row count of secret rows", sql: "SELECT * FROM secrets"},
		{name: "slow query", sql: "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"},
	},
}

func TestPreviewHasNoLastingEffect(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			tt, secret := safetyTarget(t, engine)
			// A connection of another session, which cases try to end.
			other, err := tt.db.db.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			for _, c := range safetyCases[engine] {
				t.Run(c.name, func(t *testing.T) {
					ctx := context.Background()
					path := probeFile(t)
					q := c.sql
					if strings.Contains(q, "%s") {
						q = fmt.Sprintf(q, path)
					}
					before := tt.snapshot(t)
					stmts, err := Split(engine, q)
					if err != nil {
						t.Fatalf("Split: %v", err)
					}
					checkErr := Check(engine, stmts)
					if got := checkErr != nil; got != c.refused {
						t.Fatalf("Check: got refused %v (%v), want %v", got, checkErr, c.refused)
					}
					started := time.Now()
					rep, err := tt.db.Preview(ctx, stmts, Options{})
					took := time.Since(started)
					if c.refused && err == nil {
						t.Errorf("Preview ran SQL that Check refuses")
					}
					if !c.refused && err != nil {
						t.Errorf("Preview: %v", err)
					}
					if took > 4*time.Second {
						t.Errorf("preview took %s, want it bounded well below the statement's own time", took)
					}
					if got := tt.snapshot(t); !reflect.DeepEqual(got, before) {
						t.Errorf("preview changed the database\ngot  %q\nwant %q", got, before)
					}
					if tt.serverFileExists(t, path) {
						t.Errorf("preview made file %s", path)
					}
					if all := texts(rep, err); strings.Contains(all, secret) {
						t.Errorf("the secret came back: %s", all)
					}
					if rep != nil {
						t.Logf("took %s; transactional %v %s", took.Round(time.Millisecond), rep.Transactional, rep.NotTransactionalReason)
						for _, r := range rep.Results {
							t.Logf("  %d %s: %s | %s | %s", r.Index+1, r.Status, r.Error, r.Note, r.EstimateNote)
							if r.RowsAffected != 0 || r.Rows != nil {
								t.Errorf("statement %d: a preview gave rows or counts (%d, %v)", r.Index+1, r.RowsAffected, r.Rows)
							}
						}
					}
					if err := other.PingContext(ctx); err != nil {
						t.Errorf("the other session ended: %v", err)
					}
				})
			}
		})
	}
}

// TestPreviewReportsFailures checks that statements the database refuses
// are reported with a message that names the problem, while a message that
// could hold data is replaced by its code.
func TestPreviewReportsFailures(t *testing.T) {
	tests := []struct {
		engine  Engine
		sql     string
		want    string // in the error
		notWant string
	}{
		{Postgres, "SELECT * FROM nowhere", "relation \"nowhere\" does not exist", ""},
		{Postgres, "UPDATE items SET nope = 1", "column \"nope\"", ""},
		{Postgres, "SELEC 1", "syntax error", ""},
		{Postgres, "SELECT 'planted-literal'::int", "SQLSTATE 22P02", "planted-literal"},
		{MySQL, "SELECT * FROM nowhere", "nowhere' doesn't exist", ""},
		{MySQL, "UPDATE items SET nope = 1", "Unknown column 'nope'", ""},
		{MySQL, "SELEC 1", "error in your SQL syntax", ""},
		{SQLite, "SELECT * FROM nowhere", "no such table: nowhere", ""},
		{SQLite, "SELEC 1", "syntax error", ""},
	}
	for _, tc := range tests {
		t.Run(string(tc.engine)+" "+tc.sql, func(t *testing.T) {
			tt := newTarget(t, tc.engine)
			tt.load(t)
			rep, err := tt.db.Preview(context.Background(), split(t, tc.engine, tc.sql+"; SELECT 1"), Options{})
			if err != nil {
				t.Fatalf("Preview: %v", err)
			}
			if got := statuses(rep.Results); !reflect.DeepEqual(got, []Status{StatusFailed, StatusPreviewed}) || !rep.Failed() {
				t.Fatalf("got %v, want the first failed and the second previewed", got)
			}
			msg := rep.Results[0].Error
			if !strings.Contains(msg, tc.want) || (tc.notWant != "" && strings.Contains(msg, tc.notWant)) {
				t.Errorf("got error %q, want %q without %q", msg, tc.want, tc.notWant)
			}
		})
	}
}

// TestPreviewErrorHidesData checks the rule itself on the engines' own
// error types: MariaDB's XPATH error and PostgreSQL's data errors carry
// values, so only their codes are shown.
func TestPreviewErrorHidesData(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&mysql.MySQLError{Number: 1105, SQLState: [5]byte{'H', 'Y', '0', '0', '0'}, Message: "XPATH syntax error: '~secret'"}, "error 1105"},
		{&mysql.MySQLError{Number: 1292, Message: "Truncated incorrect DOUBLE value: 'secret'"}, "error 1292"},
		{&mysql.MySQLError{Number: 1146, Message: "Table 'd.nowhere' doesn't exist"}, "Table 'd.nowhere' doesn't exist (error 1146)"},
	}
	for _, tc := range tests {
		got := previewError(tc.err)
		if !strings.Contains(got, tc.want) || strings.Contains(got, "secret") {
			t.Errorf("previewError(%v) = %q, want %q and no data", tc.err, got, tc.want)
		}
	}
}

func TestPreviewDependsOnEarlierDDL(t *testing.T) {
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			tt := newTarget(t, engine)
			rep, err := tt.db.Preview(context.Background(), split(t, engine, "CREATE TABLE fresh (id INT PRIMARY KEY); INSERT INTO fresh (id) VALUES (1)"), Options{})
			if err != nil {
				t.Fatalf("Preview: %v", err)
			}
			r := rep.Results[1]
			if r.Status != StatusNotPreviewed || !strings.Contains(r.Note, "statement 1") || r.Error != "" {
				t.Errorf("got %s %q %q, want not previewed because statement 1 makes the table", r.Status, r.Note, r.Error)
			}
		})
	}
}

func TestPreviewsAreLimited(t *testing.T) {
	tt := newTarget(t, SQLite)
	for range MaxPreviews {
		tt.db.previews <- struct{}{}
	}
	_, err := tt.db.Preview(context.Background(), split(t, SQLite, "SELECT 1"), Options{})
	if !errors.Is(err, ErrPreviewBusy) {
		t.Errorf("got %v, want ErrPreviewBusy", err)
	}
	<-tt.db.previews
	if _, err := tt.db.Preview(context.Background(), split(t, SQLite, "SELECT 1"), Options{}); err != nil {
		t.Errorf("with a free slot: %v", err)
	}
}

// TestServerRefusesSecondCommand sends text holding two statements past
// Rewind's lexer, straight to the path every statement of a change takes,
// with the session set so that the lexer and the server would disagree:
// the server (or, on SQLite, the prepare check) refuses it.
func TestServerRefusesSecondCommand(t *testing.T) {
	tests := []struct {
		engine Engine
		setup  string // session setting that makes the text two statements to the server
		sql    string
	}{
		{Postgres, "", "SELECT 1; DELETE FROM items"},
		{Postgres, "SET standard_conforming_strings = off", `SELECT 'a\''; DELETE FROM items; --'`},
		{MySQL, "", "SELECT 1; DELETE FROM items"},
		{MySQL, "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'", `SELECT 'a\'; DELETE FROM items; -- '`},
		{MySQL, "SET SESSION sql_mode = 'ANSI_QUOTES'", `SELECT "a\"; DELETE FROM items; -- "`},
		{SQLite, "", "SELECT 1; DELETE FROM items"},
		{SQLite, "", "SELECT 1; -- fine\n DELETE FROM items"},
	}
	for _, tc := range tests {
		t.Run(string(tc.engine)+" "+tc.sql, func(t *testing.T) {
			ctx := context.Background()
			tt := newTarget(t, tc.engine)
			dump := tt.load(t)
			before := dump()
			r, err := tt.db.start(ctx, split(t, tc.engine, "SELECT 1"), Options{}, false)
			if err != nil {
				t.Fatal(err)
			}
			defer r.conn.Close()
			if tc.setup != "" {
				if _, err := r.conn.ExecContext(ctx, tc.setup); err != nil {
					t.Fatal(err)
				}
			}
			_, _, _, execErr := r.execUser(ctx, tc.sql)
			rows, queryErr := r.queryUser(ctx, tc.sql)
			if queryErr == nil {
				for rows.Next() {
				}
				queryErr = rows.Err()
				rows.Close()
			}
			if execErr == nil || queryErr == nil {
				t.Errorf("got exec error %v, query error %v, want both refused", execErr, queryErr)
			}
			if got := dump(); !reflect.DeepEqual(got, before) {
				t.Errorf("the second statement ran")
			}
		})
	}
}

// TestLexingChangeStopsExecution: a function that turns
// standard_conforming_strings off would make the server read the next
// statement differently; Rewind notices after the statement and stops.
func TestLexingChangeStopsExecution(t *testing.T) {
	ctx := context.Background()
	tt, _ := safetyTarget(t, Postgres)
	before := tt.dump(t, "SELECT i::text FROM items i ORDER BY region, id")
	exec, err := tt.db.Execute(ctx, split(t, Postgres, `SELECT flip(); SELECT 'a\''; DELETE FROM items; --'`), Options{})
	if !errors.Is(err, ErrLexingChanged) {
		t.Fatalf("got %v, want ErrLexingChanged", err)
	}
	if exec.Transactional || !strings.Contains(exec.NotTransactionalReason, "public.flip") {
		t.Errorf("got transactional %v %q, want not because of flip", exec.Transactional, exec.NotTransactionalReason)
	}
	if got := statuses(exec.Results); !reflect.DeepEqual(got, []Status{StatusFailed, StatusNotRun}) {
		t.Errorf("got %v", got)
	}
	if !exec.Results[0].PartialEffect {
		t.Errorf("statement 1 ran outside a transaction and failed: want it marked as maybe taken effect")
	}
	if got := tt.dump(t, "SELECT i::text FROM items i ORDER BY region, id"); !reflect.DeepEqual(got, before) {
		t.Errorf("items changed")
	}
}

func TestNotProvableRunsOneByOne(t *testing.T) {
	tests := []struct {
		engine Engine
		sql    string
		reason string
	}{
		{Postgres, "SELECT nextval('seq'); DELETE FROM items WHERE region = 'us'; DELETE FROM nowhere", "nextval"},
		{Postgres, "SELECT write_item(); DELETE FROM items WHERE region = 'us'; DELETE FROM nowhere", "public.write_item"},
		{Postgres, "SELECT * FROM writing; DELETE FROM items WHERE region = 'us'; DELETE FROM nowhere", "view"},
		{MySQL, "SELECT * FROM fv; DELETE FROM items WHERE region = 'us'; DELETE FROM nowhere", "view"},
		{MySQL, "SELECT g(); DELETE FROM items WHERE region = 'us'; DELETE FROM nowhere", "calls g"},
		{MySQL, "SELECT NEXTVAL(seq); DELETE FROM items WHERE region = 'us'; DELETE FROM nowhere", "sequence"},
		{MySQL, "INSERT INTO log VALUES (9); DELETE FROM items WHERE region = 'us'; DELETE FROM nowhere", "MyISAM"},
		{SQLite, "PRAGMA user_version = 7; DELETE FROM items WHERE region = 'us'; DELETE FROM nowhere", "PRAGMA"},
	}
	for _, tc := range tests {
		t.Run(string(tc.engine)+" "+tc.reason, func(t *testing.T) {
			tt, _ := safetyTarget(t, tc.engine)
			exec, err := tt.db.Execute(context.Background(), split(t, tc.engine, tc.sql), Options{})
			var se *StatementError
			if !errors.As(err, &se) || se.Index != 2 {
				t.Fatalf("got %v, want statement 3 to fail", err)
			}
			if exec.Transactional || !strings.Contains(exec.NotTransactionalReason, tc.reason) || !strings.HasPrefix(exec.NotTransactionalReason, "statement 1: ") {
				t.Errorf("got transactional %v %q, want not, because of %s", exec.Transactional, exec.NotTransactionalReason, tc.reason)
			}
			if got := statuses(exec.Results); !reflect.DeepEqual(got, []Status{StatusSucceeded, StatusSucceeded, StatusFailed}) {
				t.Errorf("got %v, want the first two applied", got)
			}
			var n int
			if err := tt.raw.QueryRow("SELECT COUNT(*) FROM items WHERE region = 'us'").Scan(&n); err != nil || n != 0 {
				t.Errorf("the DELETE that the record says took effect left %d rows (%v)", n, err)
			}
			if len(exec.Saved) != 1 || len(exec.Saved[0].Rows) != 3 {
				t.Errorf("got saved %+v, want the 3 deleted rows", exec.Saved)
			}
		})
	}
}

// TestTransactionalFailureSaysSequences: a failed transactional change
// changed nothing, except the sequence values its INSERT took, which the
// result says.
func TestTransactionalFailureSaysSequences(t *testing.T) {
	tt := newTarget(t, Postgres)
	dump := tt.load(t)
	before := dump()
	exec, err := tt.db.Execute(context.Background(), split(t, Postgres, "INSERT INTO events (note) VALUES ('x'); DELETE FROM nowhere"), Options{})
	if err == nil || !exec.Transactional {
		t.Fatalf("got %v transactional %v, want a failed transaction", err, exec.Transactional)
	}
	if got := dump(); !reflect.DeepEqual(got, before) {
		t.Errorf("rows changed")
	}
	if !strings.Contains(exec.Results[0].Note, "sequence values") {
		t.Errorf("got note %q, want the sequence values named", exec.Results[0].Note)
	}
}

func TestInvalidUTF8Refused(t *testing.T) {
	for _, engine := range engines {
		_, err := Split(engine, "SELECT 1;\nSELECT 'ok', '\xff'")
		var se *SplitError
		if !errors.As(err, &se) || se.Line != 2 || se.Col != 15 || !strings.Contains(se.Msg, "UTF-8") {
			t.Errorf("%s: got %v, want line 2, column 15, invalid UTF-8", engine, err)
		}
		if err := Check(engine, []Statement{{SQL: "SELECT '\xc3'"}}); err == nil {
			t.Errorf("%s: Check took invalid UTF-8", engine)
		}
	}
}

// tableExists says whether the target has a table of that name.
func tableExists(t *testing.T, tt *testTarget, name string) bool {
	t.Helper()
	q := map[Engine]string{
		Postgres: "SELECT count(*) FROM pg_class WHERE relname = $1",
		MySQL:    "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
		SQLite:   "SELECT count(*) FROM sqlite_master WHERE name = ?",
	}[tt.engine]
	var n int
	if err := tt.raw.QueryRow(q, name).Scan(&n); err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatal(err)
	}
	return n > 0
}

// TestMariaDBPrepareRunsFoldedFunctions records the engine behaviour the
// MySQL preview is built around: a server-side prepare (the driver's
// PrepareContext is a real COM_STMT_PREPARE: interpolateParams is off) runs
// nothing in a WHERE clause, but folds constant expressions, and so runs a
// DETERMINISTIC stored function, while preparing. If this test starts to
// fail, MariaDB changed and the allow-list of functions can be revisited.
func TestMariaDBPrepareRunsFoldedFunctions(t *testing.T) {
	ctx := context.Background()
	tt, _ := safetyTarget(t, MySQL)
	conn, err := tt.db.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	logRows := func() int {
		var n int
		if err := tt.raw.QueryRow("SELECT COUNT(*) FROM log").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	start := logRows()
	for _, q := range []string{"SELECT * FROM items WHERE id = g()", "SELECT * FROM items WHERE id = (SELECT g())", "UPDATE items SET name = 'x' WHERE id = g()"} {
		stmt, err := conn.PrepareContext(ctx, q)
		if err != nil {
			t.Fatalf("prepare %q: %v", q, err)
		}
		stmt.Close()
	}
	if got := logRows(); got != start {
		t.Errorf("preparing statements with g() in WHERE wrote %d rows", got-start)
	}
	_, err = conn.PrepareContext(ctx, "SELECT extractvalue(1, concat(0x7e, g()))")
	if err == nil || !strings.Contains(err.Error(), "~2") || logRows() != start+1 {
		t.Errorf("got %v and %d new log rows; MariaDB no longer folds stored functions while preparing", err, logRows()-start)
	}
}

func TestCallsAndRules(t *testing.T) {
	tests := []struct {
		engine      Engine
		sql         string
		calls       string
		notProvable bool
	}{
		{MySQL, "INSERT INTO items (region, id) VALUES ('a', 1)", "", false},
		{MySQL, "UPDATE items SET name = CONCAT(name, 'x') WHERE id IN (1, 2)", "CONCAT", false},
		{MySQL, "SELECT * FROM t JOIN u ON SLEEP(1) = 0", "SLEEP", false},
		{MySQL, "SELECT db.f(1)", "db.f", false},
		{MySQL, "SELECT LEFT('ab', 1), db.LEFT('ab')", "db.LEFT", false},
		{MySQL, "CREATE TABLE t (a DECIMAL(10,2), KEY k (a))", "", true},
		{MySQL, "SELECT 1 INTO @x", "", true},
		{MySQL, "SET GLOBAL max_connections = 10", "", true},
		{MySQL, "SET @@GLOBAL.max_connections = 10", "", true},
		{MySQL, "SELECT NEXT VALUE FOR s", "", true},
		{Postgres, "WITH x (a) AS (SELECT 1) SELECT now() FROM x", "now", false},
		{Postgres, "WITH x AS (SELECT 1), y (b) AS MATERIALIZED (SELECT 2) SELECT 1, g() AS z FROM x", "g", false},
		{MySQL, "WITH x AS (SELECT 1) SELECT 1, g() AS y FROM x", "g", false},
		{Postgres, "INSERT INTO t (a) SELECT nextval('s')", "nextval", false},
		{Postgres, "COPY t TO STDOUT", "", true},
		{Postgres, "MERGE INTO t USING u ON t.a = u.a WHEN MATCHED THEN DELETE", "", true},
		{SQLite, "PRAGMA foreign_keys = ON", "", true},
	}
	for _, tc := range tests {
		parts, err := splitTokens(tc.engine, tc.sql)
		if err != nil {
			t.Fatal(err)
		}
		p := analyze(tc.engine, tc.sql, parts[0])
		if got := strings.Join(p.calls, ","); got != tc.calls || (p.notProvable != "") != tc.notProvable {
			t.Errorf("%s %q: got calls %q, not provable %q; want %q, %v", tc.engine, tc.sql, got, p.notProvable, tc.calls, tc.notProvable)
		}
	}
}
