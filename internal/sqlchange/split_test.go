package sqlchange

import (
	"errors"
	"reflect"
	"testing"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		name   string
		engine Engine
		sql    string
		want   []string
	}{
		{"semicolons in strings and comments", MySQL,
			"UPDATE t SET a = 'x;y' WHERE b = \"p;q\"; -- c;d\nDELETE FROM t /* e;f */ WHERE id = 1;",
			[]string{"UPDATE t SET a = 'x;y' WHERE b = \"p;q\"", "DELETE FROM t /* e;f */ WHERE id = 1"}},
		{"mysql backslash and doubled quotes", MySQL,
			`INSERT INTO t VALUES ('it\'s; ok', 'a''b;'); SELECT 1`,
			[]string{`INSERT INTO t VALUES ('it\'s; ok', 'a''b;')`, "SELECT 1"}},
		{"mysql hash comment and backticks", MySQL,
			"SELECT `a;b` FROM `t;t` # x;y\n; SELECT 2",
			[]string{"SELECT `a;b` FROM `t;t`", "SELECT 2"}},
		{"mysql double dash needs a space", MySQL,
			"SELECT 5--1; SELECT 2",
			[]string{"SELECT 5--1", "SELECT 2"}},
		{"mysql delimiter command", MySQL,
			"DELIMITER //\nCREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END//\nDELIMITER ;\nCALL p();",
			[]string{"CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END", "CALL p()"}},
		{"mysql procedure body without delimiter", MySQL,
			"CREATE PROCEDURE p() BEGIN IF 1 THEN SELECT 1; END IF; CASE WHEN 1 THEN SELECT 2; END CASE; END; SELECT 3",
			[]string{"CREATE PROCEDURE p() BEGIN IF 1 THEN SELECT 1; END IF; CASE WHEN 1 THEN SELECT 2; END CASE; END", "SELECT 3"}},
		{"mysql column named begin is no block", MySQL,
			"CREATE TABLE t (begin INT); SELECT 1",
			[]string{"CREATE TABLE t (begin INT)", "SELECT 1"}},
		{"mysql executable comment is code", MySQL,
			"/*!40101 SET NAMES utf8mb4 */; SELECT 1",
			[]string{"/*!40101 SET NAMES utf8mb4 */", "SELECT 1"}},
		{"postgres dollar quotes", Postgres,
			"CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql; DO $body$ BEGIN RAISE NOTICE 'a;b'; END $body$; SELECT 1",
			[]string{"CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql", "DO $body$ BEGIN RAISE NOTICE 'a;b'; END $body$", "SELECT 1"}},
		{"postgres positional parameter is no dollar quote", Postgres,
			"PREPARE q AS SELECT $1; SELECT a$b FROM t",
			[]string{"PREPARE q AS SELECT $1", "SELECT a$b FROM t"}},
		{"postgres nested comments and E strings", Postgres,
			"SELECT /* a /* b; */ c; */ 1; SELECT E'x\\';y', 'p\\'; SELECT 3",
			[]string{"SELECT /* a /* b; */ c; */ 1", "SELECT E'x\\';y', 'p\\'", "SELECT 3"}},
		{"postgres quoted identifiers", Postgres,
			`UPDATE "we;ird""t" SET a = 1; SELECT 2`,
			[]string{`UPDATE "we;ird""t" SET a = 1`, "SELECT 2"}},
		{"postgres begin atomic", Postgres,
			"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END; SELECT 3",
			[]string{"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END", "SELECT 3"}},
		{"sqlite trigger body", SQLite,
			"CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE u SET n = n + 1; DELETE FROM v; END; SELECT 1",
			[]string{"CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE u SET n = n + 1; DELETE FROM v; END", "SELECT 1"}},
		{"sqlite brackets", SQLite,
			"SELECT [a;b] FROM t; SELECT 2",
			[]string{"SELECT [a;b] FROM t", "SELECT 2"}},
		{"unicode", Postgres,
			"UPDATE t SET name = 'héllo; 世界' WHERE id = 1; -- ünïcode; comment\nSELECT '😀'",
			[]string{"UPDATE t SET name = 'héllo; 世界' WHERE id = 1", "SELECT '😀'"}},
		{"empty statements dropped", SQLite,
			";; SELECT 1;;\n;",
			[]string{"SELECT 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stmts, err := Split(tt.engine, tt.sql)
			if err != nil {
				t.Fatalf("Split: %v", err)
			}
			var got []string
			for _, s := range stmts {
				got = append(got, s.SQL)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestSplitPositions(t *testing.T) {
	stmts, err := Split(Postgres, "SELECT 'é';\n  -- note\n  UPDATE t SET a = 1;\n\tDELETE FROM t")
	if err != nil {
		t.Fatal(err)
	}
	type pos struct{ Line, Col int }
	var got []pos
	for _, s := range stmts {
		got = append(got, pos{s.Line, s.Col})
	}
	want := []pos{{1, 1}, {3, 3}, {4, 2}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestSplitErrors(t *testing.T) {
	tests := []struct {
		name      string
		engine    Engine
		sql       string
		line, col int
	}{
		{"empty", MySQL, "  \n -- only a comment\n", 1, 1},
		{"unterminated string", MySQL, "SELECT 1;\nSELECT 'abc", 2, 8},
		{"unterminated string after unicode", Postgres, "SELECT 'é', 'x", 1, 13},
		{"backslash escapes the quote on mysql", MySQL, `SELECT 'a\'`, 1, 8},
		{"unterminated comment", Postgres, "SELECT 1 /* a /* b */", 1, 10},
		{"unterminated dollar quote", Postgres, "SELECT 1;\n  DO $x$ BEGIN END $y$", 2, 6},
		{"unterminated identifier", SQLite, "SELECT \"abc", 1, 8},
		{"unterminated backtick", MySQL, "SELECT `abc", 1, 8},
		{"unterminated block", SQLite, "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n SELECT 1;", 1, 37},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Split(tt.engine, tt.sql)
			var se *SplitError
			if !errors.As(err, &se) {
				t.Fatalf("got error %v, want a *SplitError", err)
			}
			if se.Line != tt.line || se.Col != tt.col {
				t.Errorf("got %d:%d (%v), want %d:%d", se.Line, se.Col, se, tt.line, tt.col)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		engine Engine
		sql    string
		kind   Kind
		table  string
		where  string
		noSave bool
	}{
		{MySQL, "SELECT * FROM t", KindSelect, "", "", false},
		{MySQL, "UPDATE LOW_PRIORITY `db`.`t` SET a = 1 WHERE id IN (SELECT id FROM u WHERE x = 2) ORDER BY id LIMIT 5", KindUpdate, "db.t", "id IN (SELECT id FROM u WHERE x = 2)", false},
		{MySQL, "UPDATE t SET a = 1 LIMIT 5", KindUpdate, "t", "", true},
		{MySQL, "UPDATE t1, t2 SET t1.a = t2.a", KindUpdate, "t1", "", true},
		{MySQL, "UPDATE t JOIN u ON t.id = u.id SET t.a = 1", KindUpdate, "t", "", true},
		{MySQL, "DELETE t1 FROM t1 JOIN t2 ON t1.id = t2.id", KindDelete, "", "", true},
		{MySQL, "DELETE FROM t USING t JOIN u", KindDelete, "t", "", true},
		{MySQL, "DELETE QUICK FROM t WHERE a = 'x' ORDER BY id DESC LIMIT 1", KindDelete, "t", "a = 'x'", false},
		{MySQL, "REPLACE INTO t VALUES (1)", KindInsert, "t", "", true},
		{MySQL, "INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = 2", KindInsert, "t", "", true},
		{MySQL, "ALTER TABLE t ADD c INT", KindDDL, "t", "", false},
		{Postgres, "UPDATE ONLY Public.T AS x SET a = 1 WHERE x.id = 2 RETURNING *", KindUpdate, "public.t", "x.id = 2", false},
		{Postgres, "UPDATE t SET a = u.a FROM u WHERE t.id = u.id", KindUpdate, "t", "", true},
		{Postgres, "DELETE FROM \"My Table\" WHERE id = 1", KindDelete, "My Table", "id = 1", false},
		{Postgres, "DELETE FROM t WHERE CURRENT OF c", KindDelete, "t", "", true},
		{Postgres, "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", KindSelect, "", "", true},
		{Postgres, "INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = 2", KindInsert, "t", "", true},
		{Postgres, "INSERT INTO t (a) VALUES (1) ON CONFLICT DO NOTHING", KindInsert, "t", "", false},
		{Postgres, "CREATE INDEX CONCURRENTLY i ON t (a)", KindDDL, "", "", false},
		{SQLite, "UPDATE OR REPLACE t SET a = 1", KindUpdate, "t", "", true},
		{SQLite, "DELETE FROM main.t INDEXED BY i WHERE a > 1", KindDelete, "main.t", "a > 1", false},
		{SQLite, "VACUUM", KindOther, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.sql, func(t *testing.T) {
			parts, err := splitTokens(tt.engine, tt.sql)
			if err != nil {
				t.Fatal(err)
			}
			p := analyze(tt.engine, tt.sql, parts[0])
			if p.kind != tt.kind || p.tableDisplay() != tt.table || p.where != tt.where || (p.noSave != "") != tt.noSave {
				t.Errorf("got kind %s table %q where %q noSave %q; want %s %q %q noSave=%v",
					p.kind, p.tableDisplay(), p.where, p.noSave, tt.kind, tt.table, tt.where, tt.noSave)
			}
		})
	}
}

func TestTransactionRules(t *testing.T) {
	tests := []struct {
		engine                    Engine
		sql                       string
		txControl, noTx, implicit bool
	}{
		{Postgres, "BEGIN", true, false, false},
		{MySQL, "START TRANSACTION", true, false, false},
		{MySQL, "SET autocommit = 1", true, false, false},
		{SQLite, "COMMIT", true, false, false},
		{Postgres, "CREATE INDEX CONCURRENTLY i ON t (a)", false, true, false},
		{Postgres, "VACUUM t", false, true, false},
		{Postgres, "ALTER TABLE t ADD c int", false, false, false},
		{SQLite, "VACUUM", false, true, false},
		{MySQL, "ALTER TABLE t ADD c INT", false, false, true},
		{MySQL, "CALL p()", false, false, true},
		{MySQL, "SET @a = 1", false, false, false},
		{MySQL, "DELETE FROM t", false, false, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.engine)+" "+tt.sql, func(t *testing.T) {
			parts, err := splitTokens(tt.engine, tt.sql)
			if err != nil {
				t.Fatal(err)
			}
			p := analyze(tt.engine, tt.sql, parts[0])
			got := [3]bool{p.txControl, p.noTx != "", p.implicitCommit != ""}
			want := [3]bool{tt.txControl, tt.noTx, tt.implicit}
			if got != want {
				t.Errorf("got txControl, noTx, implicitCommit = %v, want %v", got, want)
			}
		})
	}
}
