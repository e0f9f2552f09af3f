package sqlchange

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// tableMeta is what Rewind needs to know of a table to save its rows.
type tableMeta struct {
	columns []Column // the columns that can be written back (generated ones left out)
	key     []string // primary key columns, in key order
	keyIdx  []int    // their positions in columns
	autoInc string   // MySQL: the AUTO_INCREMENT column, if any
	hasTS   bool     // MySQL: has TIMESTAMP columns
	noKey   string   // why the rows cannot be keyed; empty when they can
}

// queryer runs queries on a connection or a transaction.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// tableMeta reads the columns and primary key of t. It returns nil when
// the table does not exist.
func (d *DB) tableMeta(ctx context.Context, q queryer, t TableName) (*tableMeta, error) {
	var m *tableMeta
	var err error
	switch d.engine {
	case MySQL:
		m, err = mysqlMeta(ctx, q, t)
	case Postgres:
		m, err = postgresMeta(ctx, q, t)
	case SQLite:
		m, err = sqliteMeta(ctx, q, t)
	}
	if err != nil {
		return nil, fmt.Errorf("read columns of table %s: %w", t, err)
	}
	if m == nil {
		return nil, nil
	}
	if len(m.key) == 0 {
		m.noKey = "table " + t.String() + " has no primary key"
		return m, nil
	}
	for _, k := range m.key {
		at := -1
		for i, c := range m.columns {
			if c.Name == k {
				at = i
			}
		}
		if at < 0 {
			m.noKey = "primary key column " + k + " of table " + t.String() + " is generated"
			return m, nil
		}
		m.keyIdx = append(m.keyIdx, at)
	}
	return m, nil
}

// cascades lists the tables whose rows change with t's through foreign
// keys that cascade (or set NULL or a default) on delete, or on update.
func (d *DB) cascades(ctx context.Context, q queryer, t TableName, onDelete bool) ([]string, error) {
	var query string
	var args []any
	switch d.engine {
	case Postgres:
		col := "confupdtype"
		if onDelete {
			col = "confdeltype"
		}
		query = `SELECT DISTINCT conrelid::regclass::text FROM pg_constraint
			WHERE contype = 'f' AND confrelid = to_regclass($1) AND ` + col + ` IN ('c', 'n', 'd') ORDER BY 1`
		args = []any{quoteTable(Postgres, t)}
	case MySQL:
		col := "UPDATE_RULE"
		if onDelete {
			col = "DELETE_RULE"
		}
		query = `SELECT DISTINCT CONCAT(CONSTRAINT_SCHEMA, '.', TABLE_NAME) FROM information_schema.REFERENTIAL_CONSTRAINTS
			WHERE UNIQUE_CONSTRAINT_SCHEMA = COALESCE(?, DATABASE()) AND REFERENCED_TABLE_NAME = ?
			AND ` + col + ` IN ('CASCADE', 'SET NULL', 'SET DEFAULT') ORDER BY 1`
		args = []any{nullIfEmpty(t.Schema), t.Name}
	default:
		// Rewind's SQLite connections leave foreign keys off unless the
		// DSN turns them on; their cascades are not looked for.
		return nil, nil
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read foreign keys to %s: %w", t, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	return out, rows.Err()
}

// keyColumns returns the primary key columns.
func (m *tableMeta) keyColumns() []Column {
	cols := make([]Column, len(m.keyIdx))
	for i, j := range m.keyIdx {
		cols[i] = m.columns[j]
	}
	return cols
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func mysqlMeta(ctx context.Context, q queryer, t TableName) (*tableMeta, error) {
	rows, err := q.QueryContext(ctx, `SELECT COLUMN_NAME, COLUMN_TYPE, EXTRA FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
		nullIfEmpty(t.Schema), t.Name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := &tableMeta{}
	found := false
	for rows.Next() {
		found = true
		var name, typ, extra string
		if err := rows.Scan(&name, &typ, &extra); err != nil {
			return nil, err
		}
		ex := strings.ToUpper(extra)
		if strings.Contains(ex, "VIRTUAL") || strings.Contains(ex, "STORED") || strings.Contains(ex, "PERSISTENT") {
			continue
		}
		if strings.Contains(ex, "AUTO_INCREMENT") {
			m.autoInc = name
		}
		if columnClass(MySQL, typ) == classTimestamp {
			m.hasTS = true
		}
		m.columns = append(m.columns, Column{Name: name, Type: typ})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if !found {
		return nil, nil
	}
	keys, err := q.QueryContext(ctx, `SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE
		WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY'
		ORDER BY ORDINAL_POSITION`, nullIfEmpty(t.Schema), t.Name)
	if err != nil {
		return nil, err
	}
	defer keys.Close()
	for keys.Next() {
		var k string
		if err := keys.Scan(&k); err != nil {
			return nil, err
		}
		m.key = append(m.key, k)
	}
	return m, keys.Err()
}

func postgresMeta(ctx context.Context, q queryer, t TableName) (*tableMeta, error) {
	rel := quoteTable(Postgres, t)
	rows, err := q.QueryContext(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attgenerated <> ''
		FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY a.attnum`, rel)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := &tableMeta{}
	found := false
	for rows.Next() {
		found = true
		var name, typ string
		var generated bool
		if err := rows.Scan(&name, &typ, &generated); err != nil {
			return nil, err
		}
		if !generated {
			m.columns = append(m.columns, Column{Name: name, Type: typ})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if !found {
		return nil, nil
	}
	keys, err := q.QueryContext(ctx, `SELECT a.attname FROM pg_index i
		CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
		WHERE i.indrelid = to_regclass($1) AND i.indisprimary ORDER BY k.ord`, rel)
	if err != nil {
		return nil, err
	}
	defer keys.Close()
	for keys.Next() {
		var k string
		if err := keys.Scan(&k); err != nil {
			return nil, err
		}
		m.key = append(m.key, k)
	}
	return m, keys.Err()
}

func sqliteMeta(ctx context.Context, q queryer, t TableName) (*tableMeta, error) {
	pragma := "PRAGMA "
	if t.Schema != "" {
		pragma += quoteIdent(SQLite, t.Schema) + "."
	}
	pragma += "table_xinfo(" + stringLiteral(SQLite, t.Name) + ")"
	rows, err := q.QueryContext(ctx, pragma)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := &tableMeta{}
	found := false
	type keyCol struct {
		name string
		pos  int
	}
	var keys []keyCol
	for rows.Next() {
		found = true
		var cid, notNull, pk, hidden int64
		var name, typ string
		var dflt any
		if err := rows.Scan(&cid, &name, &typ, &notNull, &dflt, &pk, &hidden); err != nil {
			return nil, err
		}
		if hidden != 0 {
			continue
		}
		if pk > 0 {
			keys = append(keys, keyCol{name, int(pk)})
		}
		m.columns = append(m.columns, Column{Name: name, Type: typ})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if !found {
		return nil, nil
	}
	m.key = make([]string, len(keys))
	for _, k := range keys {
		if k.pos >= 1 && k.pos <= len(keys) {
			m.key[k.pos-1] = k.name
		}
	}
	return m, nil
}
