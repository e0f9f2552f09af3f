package sqlite

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/rewindhq/rewind/db"
	"github.com/rewindhq/rewind/internal/postgres"
	"github.com/rewindhq/rewind/internal/rewind"
)

// CopyReport says what a copy of a store moved: rows by table, in the
// order the tables were copied.
type CopyReport struct {
	Tables []TableCount
}

// TableCount is how many rows of a table were copied and checked.
type TableCount struct {
	Table string
	Rows  int64
}

// Rows is how many rows the copy moved in all.
func (r CopyReport) Rows() int64 {
	var n int64
	for _, t := range r.Tables {
		n += t.Rows
	}
	return n
}

// notCopied are the tables a copy leaves: the schema's own record, and
// the replicas' lease and login counts, which belong to running processes.
var notCopied = map[string]bool{"schema_migrations": true, "leases": true, "login_throttle": true}

// CopyTo copies every row of this SQLite store into dst, an empty
// PostgreSQL store at the same schema version opened with the same secret
// key (sealed credentials are copied as they are), in one transaction, then
// reads every row back from both and compares them. Nothing is written to
// dst unless all of it is; a failed check says which row differs.
func (s *Store) CopyTo(ctx context.Context, dst *Store) (CopyReport, error) {
	var rep CopyReport
	if s.engine != db.SQLite || dst.engine != db.Postgres {
		return rep, rewind.Errorf(rewind.EINVALID, "A store is copied from SQLite to PostgreSQL.")
	}
	tables, err := s.copyTables(ctx)
	if err != nil {
		return rep, err
	}
	for _, t := range tables {
		var n int64
		if err := dst.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t.name).Scan(&n); err != nil {
			return rep, fmt.Errorf("destination table %s: %w", t.name, err)
		}
		if n > 0 && t.name != "store_keys" {
			return rep, rewind.Errorf(rewind.ECONFLICT, "The destination store is not empty (table %s holds %d rows): copy into a new database. Nothing was changed.", t.name, n)
		}
	}
	err = postgres.WithConn(ctx, dst.db, func(pg *pgx.Conn) error {
		tx, err := pg.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))`, postgres.WriterLock); err != nil {
			return err
		}
		// Tables refer to each other both ways (requests and releases):
		// their foreign keys go while the rows come, and come back after,
		// which checks every row against them.
		fks, err := dropForeignKeys(ctx, tx)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM store_keys`); err != nil {
			return err
		}
		// The rows come as SQLite holds them, with what its triggers
		// keep (a target's count of versions): PostgreSQL's triggers,
		// the same rules, wait until they are in.
		for _, t := range tables {
			if _, err := tx.Exec(ctx, `ALTER TABLE `+t.name+` DISABLE TRIGGER USER`); err != nil {
				return err
			}
		}
		for _, t := range tables {
			n, err := s.copyTable(ctx, tx, t)
			if err != nil {
				return fmt.Errorf("copy table %s: %w", t.name, err)
			}
			rep.Tables = append(rep.Tables, TableCount{Table: t.name, Rows: n})
			if t.identity {
				if _, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence($1, 'id'), (SELECT COALESCE(MAX(id), 0) + 1 FROM `+t.name+`), false)`, t.name); err != nil {
					return fmt.Errorf("table %s: next ID: %w", t.name, err)
				}
			}
		}
		for _, fk := range fks {
			if _, err := tx.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s ADD CONSTRAINT %s %s`, fk.table, pgx.Identifier{fk.name}.Sanitize(), fk.def)); err != nil {
				return fmt.Errorf("the copied rows break a foreign key of %s (%s): %w", fk.table, fk.def, err)
			}
		}
		for _, t := range tables {
			if _, err := tx.Exec(ctx, `ALTER TABLE `+t.name+` ENABLE TRIGGER USER`); err != nil {
				return err
			}
		}
		return tx.Commit(ctx)
	})
	if err != nil {
		return CopyReport{}, err
	}
	for _, t := range tables {
		if err := s.compareTable(ctx, dst, t); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// copyTable is one table to copy: its columns in order, its primary key,
// and whether its id is an identity column on PostgreSQL.
type copyTable struct {
	name     string
	columns  []string
	key      []string        // primary key columns
	text     map[string]bool // the columns of type TEXT
	identity bool
}

// copyTables lists the tables of the store to copy.
func (s *Store) copyTables(ctx context.Context) ([]copyTable, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		return nil, err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		if !notCopied[n] {
			names = append(names, n)
		}
	}
	rows.Close()
	var out []copyTable
	for _, name := range names {
		t := copyTable{name: name, text: map[string]bool{}}
		cols, err := s.db.QueryContext(ctx, `SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid`, name)
		if err != nil {
			return nil, err
		}
		pk := map[int]string{}
		for cols.Next() {
			var col, typ string
			var pos int
			if err := cols.Scan(&col, &typ, &pos); err != nil {
				cols.Close()
				return nil, err
			}
			t.columns = append(t.columns, col)
			t.text[col] = strings.EqualFold(typ, "TEXT")
			if pos > 0 {
				pk[pos] = col
				t.identity = t.identity || (col == "id" && strings.EqualFold(typ, "INTEGER"))
			}
		}
		cols.Close()
		for i := 1; i <= len(pk); i++ {
			t.key = append(t.key, pk[i])
		}
		if len(t.key) != 1 {
			t.identity = false
		}
		out = append(out, t)
	}
	return out, nil
}

// copyTable copies the rows of t through COPY and returns how many.
func (s *Store) copyTable(ctx context.Context, tx pgx.Tx, t copyTable) (int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+strings.Join(quoted(t.columns), ", ")+` FROM `+t.name)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	src := &sqlRows{rows: rows, values: make([]any, len(t.columns))}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.columns, src)
	if err != nil {
		return n, err
	}
	return n, src.err
}

// sqlRows feeds database/sql rows to COPY.
type sqlRows struct {
	rows   *sql.Rows
	values []any
	err    error
}

func (r *sqlRows) Next() bool {
	if !r.rows.Next() {
		r.err = r.rows.Err()
		return false
	}
	ptrs := make([]any, len(r.values))
	for i := range r.values {
		ptrs[i] = &r.values[i]
	}
	if err := r.rows.Scan(ptrs...); err != nil {
		r.err = err
		return false
	}
	return true
}

func (r *sqlRows) Values() ([]any, error) { return r.values, nil }
func (r *sqlRows) Err() error             { return r.err }

// foreignKey is a foreign key of the destination, to be made again.
type foreignKey struct{ table, name, def string }

func dropForeignKeys(ctx context.Context, tx pgx.Tx) ([]foreignKey, error) {
	rows, err := tx.Query(ctx, `SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
		WHERE contype = 'f' AND connamespace = current_schema()::regnamespace ORDER BY conrelid::regclass::text, conname`)
	if err != nil {
		return nil, err
	}
	fks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (foreignKey, error) {
		var fk foreignKey
		err := r.Scan(&fk.table, &fk.name, &fk.def)
		return fk, err
	})
	if err != nil {
		return nil, err
	}
	for _, fk := range fks {
		if _, err := tx.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s DROP CONSTRAINT %s`, fk.table, pgx.Identifier{fk.name}.Sanitize())); err != nil {
			return nil, err
		}
	}
	return fks, nil
}

// compareTable reads every row of t from both stores, in the order of its
// key, and fails at the first that differs.
func (s *Store) compareTable(ctx context.Context, dst *Store, t copyTable) error {
	cols := strings.Join(quoted(t.columns), ", ")
	var liteOrder, pgOrder []string
	for _, k := range t.key {
		liteOrder = append(liteOrder, `"`+k+`"`)
		if t.text[k] {
			pgOrder = append(pgOrder, `"`+k+`" COLLATE "C"`) // SQLite's order: by bytes
		} else {
			pgOrder = append(pgOrder, `"`+k+`"`)
		}
	}
	if len(t.key) == 0 {
		return fmt.Errorf("table %s has no primary key to compare its rows by", t.name)
	}
	a, err := s.db.QueryContext(ctx, `SELECT `+cols+` FROM `+t.name+` ORDER BY `+strings.Join(liteOrder, ", "))
	if err != nil {
		return err
	}
	defer a.Close()
	b, err := dst.db.QueryContext(ctx, `SELECT `+cols+` FROM `+t.name+` ORDER BY `+strings.Join(pgOrder, ", "))
	if err != nil {
		return err
	}
	defer b.Close()
	va, vb := make([]any, len(t.columns)), make([]any, len(t.columns))
	pa, pb := make([]any, len(t.columns)), make([]any, len(t.columns))
	for i := range va {
		pa[i], pb[i] = &va[i], &vb[i]
	}
	for row := 1; ; row++ {
		na, nb := a.Next(), b.Next()
		if !na || !nb {
			if err := a.Err(); err != nil {
				return err
			}
			if err := b.Err(); err != nil {
				return err
			}
			if na != nb {
				return rewind.Errorf(rewind.EINTERNAL, "Check of table %s: the copy holds a different number of rows (at row %d).", t.name, row)
			}
			return nil
		}
		if err := a.Scan(pa...); err != nil {
			return err
		}
		if err := b.Scan(pb...); err != nil {
			return err
		}
		for i, col := range t.columns {
			if t.text[col] {
				// SQLite keeps bytes written to a TEXT column as a BLOB;
				// PostgreSQL's column holds them as text.
				va[i], vb[i] = asText(va[i]), asText(vb[i])
			}
			if canonical(va[i]) != canonical(vb[i]) {
				return rewind.Errorf(rewind.EINTERNAL, "Check of table %s: row %d differs in column %s.", t.name, row, col)
			}
		}
	}
}

// canonical is a value as text that tells its kind, so that 1 and "1" differ.
func canonical(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case int64:
		return "i" + strconv.FormatInt(x, 10)
	case float64:
		return "f" + strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		return "s" + x
	case []byte:
		return "b" + hex.EncodeToString(x)
	case bool:
		if x {
			return "i1"
		}
		return "i0"
	}
	return fmt.Sprintf("?%T:%v", v, v)
}

func asText(v any) any {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return v
}

func quoted(cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = `"` + c + `"`
	}
	return out
}
