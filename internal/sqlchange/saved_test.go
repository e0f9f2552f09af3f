package sqlchange

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestEncodeSavedRoundTrip(t *testing.T) {
	saved := []SavedRows{{
		Statement:  2,
		Kind:       KindDelete,
		Table:      TableName{Schema: "shop", Name: "orders"},
		Columns:    []Column{{"id", "bigint"}, {"v", "any"}},
		PrimaryKey: []string{"id"},
		Rows: []Row{
			{"1", nil},
			{"2", ""},
			{"3", []byte{}},
			{"4", []byte{0, 0xff, 'a'}},
			{"5", int64(math.MaxInt64)},
			{"6", int64(math.MinInt64)},
			{"7", 0.1},
			{"8", 1.0},
			{"9", math.Inf(-1)},
			{"10", "Zoë \"q\" \\ \n\t\x00 <&> \u2028 😀"},
			{"11", "\xff\xfe not UTF-8"},
			{"12", `{"json": [1, 2.50, null]}`},
			{"13", "18446744073709551615"},
			{"14", "2024-03-31 01:30:00.000001+02"},
		},
	}}
	data, err := EncodeSaved(saved)
	if err != nil {
		t.Fatalf("EncodeSaved: %v", err)
	}
	got, err := DecodeSaved(data)
	if err != nil {
		t.Fatalf("DecodeSaved: %v", err)
	}
	if !reflect.DeepEqual(got, saved) {
		t.Errorf("got %#v\nwant %#v", got, saved)
	}
}

func TestDecodeSavedRejectsGarbage(t *testing.T) {
	if _, err := DecodeSaved([]byte("not gzip")); err == nil {
		t.Error("got no error for bytes that are not saved rows")
	}
}

func TestLiteral(t *testing.T) {
	tests := []struct {
		engine Engine
		typ    string
		v      any
		want   string
	}{
		{MySQL, "varchar(10)", "it's", "'it''s'"},
		{MySQL, "varchar(10)", `a\b`, "_utf8mb4 x'615c62'"},
		{MySQL, "bigint(20) unsigned", "18446744073709551615", "18446744073709551615"},
		{MySQL, "decimal(10,2)", "-12.50", "-12.50"},
		{MySQL, "varbinary(4)", []byte{0xde, 0xad}, "x'dead'"},
		{MySQL, "json", nil, "NULL"},
		{MySQL, "timestamp(6)", "2024-01-01 00:00:00.000001", "'2024-01-01 00:00:00.000001'"},
		{Postgres, "text", "it's", "'it''s'"},
		{Postgres, "text", `a\b`, `E'a\\b'`},
		{Postgres, "bytea", []byte{0, 1}, `'\x0001'::bytea`},
		{Postgres, "boolean", "true", "TRUE"},
		{Postgres, "numeric(10,2)", "NaN", "'NaN'"},
		{Postgres, "double precision", "1e+20", "1e+20"},
		{Postgres, "integer[]", "{1,2}", "'{1,2}'"},
		{Postgres, "jsonb", `{"a": "it's"}`, `'{"a": "it''s"}'`},
		{SQLite, "INTEGER", int64(-5), "-5"},
		{SQLite, "REAL", 2.0, "2.0"},
		{SQLite, "REAL", math.Inf(1), "9e999"},
		{SQLite, "BLOB", []byte("x"), "X'78'"},
		{SQLite, "TEXT", "a\x00b", "CAST(X'610062' AS TEXT)"},
	}
	for _, tt := range tests {
		t.Run(string(tt.engine)+" "+tt.typ, func(t *testing.T) {
			if got := literal(tt.engine, Column{Name: "c", Type: tt.typ}, tt.v); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestQuoteIdent(t *testing.T) {
	tests := []struct {
		engine Engine
		table  TableName
		want   string
	}{
		{MySQL, TableName{"db", "we`ird"}, "`db`.`we``ird`"},
		{Postgres, TableName{"", `My "T"`}, `"My ""T"""`},
		{SQLite, TableName{"main", "t"}, `"main"."t"`},
	}
	for _, tt := range tests {
		if got := quoteTable(tt.engine, tt.table); got != tt.want {
			t.Errorf("got %s, want %s", got, tt.want)
		}
	}
}

func TestGenerateRollbackNothing(t *testing.T) {
	exec := &Execution{Engine: SQLite, Results: []StatementResult{{Index: 0, SQL: "DELETE FROM t", Kind: KindDelete, Status: StatusRolledBack}}}
	if _, err := GenerateRollback(SQLite, exec); err != ErrNothingToRollBack {
		t.Errorf("got %v, want ErrNothingToRollBack", err)
	}
	exec.Engine = MySQL
	if _, err := GenerateRollback(SQLite, exec); err == nil || !strings.Contains(err.Error(), "mysql") {
		t.Errorf("got %v, want an engine mismatch", err)
	}
}
