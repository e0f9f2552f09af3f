package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/rewindhq/rewind/internal/postgres"
	"github.com/rewindhq/rewind/internal/postgres/pgtest"
)

// TestEnginesHaveTheSameMigrations checks that every migration of SQLite
// has its PostgreSQL twin, with the same number and name, and no more.
func TestEnginesHaveTheSameMigrations(t *testing.T) {
	lite, err := EngineMigrations(SQLite)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := EngineMigrations(Postgres)
	if err != nil {
		t.Fatal(err)
	}
	names := func(ms []Migration) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Name)
		}
		return out
	}
	if got, want := names(pg), names(lite); !slices.Equal(got, want) {
		t.Errorf("db/migrations_postgres holds %v,\nbut db/migrations holds %v: write the PostgreSQL twin of each SQLite migration (same number and name)", got, want)
	}
}

// TestEnginesMakeTheSameSchema applies each engine's migrations to a new
// store and checks that both hold the same tables, with the same columns
// in the same order, the same types (SQLite's INTEGER is PostgreSQL's
// BIGINT, BLOB is BYTEA), the same NOT NULLs, primary keys, unique keys,
// named indexes and foreign keys.
func TestEnginesMakeTheSameSchema(t *testing.T) {
	ctx := context.Background()
	lite, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	if _, err := Migrate(ctx, lite); err != nil {
		t.Fatal(err)
	}
	pg, err := postgres.Open(pgtest.NewStore(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if _, err := MigratePostgres(ctx, pg); err != nil {
		t.Fatal(err)
	}
	want, err := sqliteSchema(ctx, lite)
	if err != nil {
		t.Fatal(err)
	}
	got, err := postgresSchema(ctx, pg)
	if err != nil {
		t.Fatal(err)
	}
	for table, w := range want {
		g, ok := got[table]
		if !ok {
			t.Errorf("table %s: missing on PostgreSQL", table)
			continue
		}
		for _, part := range []struct {
			what      string
			got, want []string
		}{
			{"columns", g.columns, w.columns},
			{"primary key", g.primary, w.primary},
			{"unique keys", g.unique, w.unique},
			{"indexes", g.indexes, w.indexes},
			{"foreign keys", g.foreign, w.foreign},
		} {
			if !slices.Equal(part.got, part.want) {
				t.Errorf("table %s, %s:\n PostgreSQL %v\n SQLite     %v", table, part.what, part.got, part.want)
			}
		}
	}
	for table := range got {
		if _, ok := want[table]; !ok {
			t.Errorf("table %s: on PostgreSQL only", table)
		}
	}
}

// TestPostgresMigrateOnce checks that replicas starting together on a new
// PostgreSQL store apply each migration once, and that a store from a newer
// Rewind is refused.
func TestPostgresMigrateOnce(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewStore(t)
	ms, err := EngineMigrations(Postgres)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	applied := make([]int, 3)
	errs := make([]error, 3)
	for i := range applied {
		wg.Go(func() {
			db, err := postgres.Open(url)
			if err != nil {
				errs[i] = err
				return
			}
			defer db.Close()
			applied[i], errs[i] = MigratePostgres(ctx, db)
		})
	}
	wg.Wait()
	total := 0
	for i := range applied {
		if errs[i] != nil {
			t.Fatalf("replica %d: %v", i, errs[i])
		}
		total += applied[i]
	}
	if total != len(ms) {
		t.Errorf("the replicas applied %v migrations, %d in all; want %d in all", applied, total, len(ms))
	}
	db, err := postgres.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations (number, name) VALUES (999, 'future')`); err != nil {
		t.Fatal(err)
	}
	var newer *ErrNewerStore
	if _, err := MigratePostgres(ctx, db); !errors.As(err, &newer) || newer.Have != 999 {
		t.Errorf("a store from a newer Rewind: %v, want ErrNewerStore", err)
	}
}

// schemaTable is one table's shape, each part in a form both engines share.
type schemaTable struct {
	columns, primary, unique, indexes, foreign []string
}

// liteType maps SQLite's declared types to the PostgreSQL types of the twins.
var liteType = map[string]string{"INTEGER": "bigint", "TEXT": "text", "BLOB": "bytea"}

func sqliteSchema(ctx context.Context, db *sql.DB) (map[string]*schemaTable, error) {
	tables, err := strings1(ctx, db, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name != 'schema_migrations'`)
	if err != nil {
		return nil, err
	}
	out := map[string]*schemaTable{}
	for _, table := range tables {
		st := &schemaTable{}
		out[table] = st
		rows, err := db.QueryContext(ctx, `SELECT name, type, "notnull", pk FROM pragma_table_info(?) ORDER BY cid`, table)
		if err != nil {
			return nil, err
		}
		pk := map[int]string{}
		for rows.Next() {
			var name, typ string
			var notNull bool
			var pkPos int
			if err := rows.Scan(&name, &typ, &notNull, &pkPos); err != nil {
				rows.Close()
				return nil, err
			}
			if pkPos > 0 {
				pk[pkPos] = name
				notNull = true
			}
			st.columns = append(st.columns, column(name, liteType[strings.ToUpper(typ)], notNull))
		}
		rows.Close()
		for i := 1; i <= len(pk); i++ {
			st.primary = append(st.primary, pk[i])
		}
		idx, err := db.QueryContext(ctx, `SELECT name, "unique", origin, partial FROM pragma_index_list(?)`, table)
		if err != nil {
			return nil, err
		}
		type index struct {
			name, origin    string
			unique, partial bool
		}
		var indexes []index
		for idx.Next() {
			var ix index
			if err := idx.Scan(&ix.name, &ix.unique, &ix.origin, &ix.partial); err != nil {
				idx.Close()
				return nil, err
			}
			indexes = append(indexes, ix)
		}
		idx.Close()
		for _, ix := range indexes {
			cols, err := strings1(ctx, db, `SELECT name FROM pragma_index_info(?) ORDER BY seqno`, ix.name)
			if err != nil {
				return nil, err
			}
			switch ix.origin {
			case "pk":
			case "u":
				st.unique = append(st.unique, strings.Join(cols, ","))
			default:
				st.indexes = append(st.indexes, indexName(ix.name, cols, ix.unique, ix.partial))
			}
		}
		fks, err := db.QueryContext(ctx, `SELECT "from", "table", "to" FROM pragma_foreign_key_list(?)`, table)
		if err != nil {
			return nil, err
		}
		for fks.Next() {
			var from, to, toCol string
			if err := fks.Scan(&from, &to, &toCol); err != nil {
				fks.Close()
				return nil, err
			}
			st.foreign = append(st.foreign, from+"->"+to+"."+toCol)
		}
		fks.Close()
		st.sort()
	}
	return out, nil
}

func postgresSchema(ctx context.Context, db *sql.DB) (map[string]*schemaTable, error) {
	tables, err := strings1(ctx, db, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name != 'schema_migrations'`)
	if err != nil {
		return nil, err
	}
	out := map[string]*schemaTable{}
	for _, table := range tables {
		st := &schemaTable{}
		out[table] = st
		rows, err := db.QueryContext(ctx, `SELECT column_name, data_type, is_nullable FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position`, table)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var name, typ, nullable string
			if err := rows.Scan(&name, &typ, &nullable); err != nil {
				rows.Close()
				return nil, err
			}
			st.columns = append(st.columns, column(name, typ, nullable == "NO"))
		}
		rows.Close()
		// Indexes, with the constraint (p, u) that made each, if any.
		idx, err := db.QueryContext(ctx, `SELECT i.relname, ix.indisunique, ix.indpred IS NOT NULL, COALESCE(c.contype, ''),
				array_to_string(ARRAY(SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY k(n, o)
					JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.n ORDER BY k.o), ',')
			FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class t ON t.oid = ix.indrelid
			LEFT JOIN pg_constraint c ON c.conindid = ix.indexrelid AND c.contype IN ('p', 'u')
			WHERE t.relname = ? AND t.relnamespace = current_schema()::regnamespace`, table)
		if err != nil {
			return nil, err
		}
		for idx.Next() {
			var name, origin, cols string
			var unique, partial bool
			if err := idx.Scan(&name, &unique, &partial, &origin, &cols); err != nil {
				idx.Close()
				return nil, err
			}
			switch origin {
			case "p":
				st.primary = strings.Split(cols, ",")
			case "u":
				st.unique = append(st.unique, cols)
			default:
				st.indexes = append(st.indexes, indexName(name, strings.Split(cols, ","), unique, partial))
			}
		}
		idx.Close()
		fks, err := db.QueryContext(ctx, `SELECT a.attname, r.relname, ra.attname
			FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_class r ON r.oid = c.confrelid
			JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
			JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = c.confkey[1]
			WHERE c.contype = 'f' AND t.relname = ? AND t.relnamespace = current_schema()::regnamespace`, table)
		if err != nil {
			return nil, err
		}
		for fks.Next() {
			var from, to, toCol string
			if err := fks.Scan(&from, &to, &toCol); err != nil {
				fks.Close()
				return nil, err
			}
			st.foreign = append(st.foreign, from+"->"+to+"."+toCol)
		}
		fks.Close()
		st.sort()
	}
	return out, nil
}

func column(name, typ string, notNull bool) string {
	if notNull {
		return fmt.Sprintf("%s %s NOT NULL", name, typ)
	}
	return name + " " + typ
}

func indexName(name string, cols []string, unique, partial bool) string {
	s := name + "(" + strings.Join(cols, ",") + ")"
	if unique {
		s = "UNIQUE " + s
	}
	if partial {
		s += " WHERE …"
	}
	return s
}

func (st *schemaTable) sort() {
	sort.Strings(st.unique)
	sort.Strings(st.indexes)
	sort.Strings(st.foreign)
}

// strings1 returns the first column of a query's rows.
func strings1(ctx context.Context, db *sql.DB, q string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
