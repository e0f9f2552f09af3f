package dbchange

import (
	"reflect"
	"testing"

	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/sqlchange"
)

func TestTables(t *testing.T) {
	cols := []sqlchange.Column{{Name: "id", Type: "int"}, {Name: "v", Type: "bytea"}}
	saved := func(stmt int, kind sqlchange.Kind, table string, rows ...sqlchange.Row) sqlchange.SavedRows {
		return sqlchange.SavedRows{Statement: stmt, Kind: kind, Table: sqlchange.TableName{Name: table}, Columns: cols, PrimaryKey: []string{"id"}, Rows: rows}
	}
	in := []sqlchange.SavedRows{
		saved(0, sqlchange.KindUpdate, "a", sqlchange.Row{int64(1), []byte{0, 0xff}}),
		saved(2, sqlchange.KindUpdate, "a", sqlchange.Row{"2", nil}, sqlchange.Row{"3", "x"}),
		saved(3, sqlchange.KindDelete, "a", sqlchange.Row{"4", "y"}),
		saved(4, sqlchange.KindUpdate, "b", sqlchange.Row{"5", "z"}),
		saved(5, sqlchange.KindUpdate, "c", sqlchange.Row{"6", "w"}),
	}
	got, hidden := tables(in, 2, 3)
	if hidden != 1 || len(got) != 3 {
		t.Fatalf("got %d tables, %d hidden; want 3 and 1", len(got), hidden)
	}
	first := got[0]
	if first.Statement != 0 || first.LastStatement != 2 || first.Total != 3 || len(first.Rows) != 2 {
		t.Errorf("merged table = %+v", first)
	}
	if want := []int{0, 2}; !reflect.DeepEqual(first.RowStatements, want) {
		t.Errorf("row statements = %v, want %v", first.RowStatements, want)
	}
	if want := [][]rewind.SavedValue{{{Text: "1"}, {Text: "x'00ff'"}}, {{Text: "2"}, {Text: "NULL", Null: true}}}; !reflect.DeepEqual(first.Rows, want) {
		t.Errorf("rows = %+v, want %+v", first.Rows, want)
	}
	if !first.Columns[0].Key || first.Columns[1].Key {
		t.Errorf("columns = %+v", first.Columns)
	}
	if got[1].Kind != "DELETE" || got[1].RowStatements != nil || got[2].Table != "b" {
		t.Errorf("tables = %+v", got[1:])
	}
}
