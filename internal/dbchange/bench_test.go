package dbchange

import (
	"context"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/rewind"
)

const benchRows = 100_000

var benchSchema = map[string]string{
	rewind.EngineMySQL:    `CREATE TABLE big (id BIGINT PRIMARY KEY, name VARCHAR(40), qty INT, price DECIMAL(12,2), seen DATETIME(6)) ENGINE=InnoDB`,
	rewind.EnginePostgres: `CREATE TABLE big (id bigint PRIMARY KEY, name text, qty int, price numeric(12,2), seen timestamptz)`,
	rewind.EngineSQLite:   `CREATE TABLE big (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER, price TEXT, seen TEXT)`,
}

var benchFill = map[string]string{
	rewind.EngineMySQL: `SET STATEMENT max_recursive_iterations = 200000 FOR INSERT INTO big WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 100000)
		SELECT n, CONCAT('name-', n), n % 1000, n / 7, TIMESTAMP '2024-01-01 00:00:00' + INTERVAL n SECOND FROM s`,
	rewind.EnginePostgres: `INSERT INTO big SELECT n, 'name-' || n, n % 1000, n / 7.0, timestamptz '2024-01-01 00:00:00+00' + n * interval '1 second'
		FROM generate_series(1, 100000) AS n`,
	rewind.EngineSQLite: `INSERT INTO big WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 100000)
		SELECT n, 'name-' || n, n % 1000, printf('%.2f', n / 7.0), datetime('2024-01-01', '+' || n || ' seconds') FROM s`,
}

var benchOptions = Options{StatementTimeout: 5 * time.Minute, MaxSavedRows: 2 * benchRows, MaxSavedBytes: 1 << 30}

func (f *fixture) refill(b *testing.B) {
	b.StopTimer()
	defer b.StartTimer()
	f.exec(b, "DELETE FROM big", benchFill[f.engine])
	if f.engine == rewind.EnginePostgres {
		f.exec(b, "VACUUM ANALYZE big")
	}
}

// BenchmarkChange100k runs a request deleting 100,000 rows end to end, as
// the runner does: execute (with or without saving the rows), generate the
// rollback SQL, compress the saved rows and record everything.
func BenchmarkChange100k(b *testing.B) {
	for _, engine := range engines {
		for _, saving := range []bool{true, false} {
			name := engine + "/saved"
			if !saving {
				name = engine + "/unsaved"
			}
			b.Run(name, func(b *testing.B) {
				f := newFixture(b, engine, benchOptions)
				f.exec(b, benchSchema[engine])
				for b.Loop() {
					f.refill(b)
					_, outcome, err := f.run(b, rewind.SQLRequest{Kind: rewind.SQLKindChange, SQL: "DELETE FROM big WHERE id > 0", ConfirmNoSavedRows: !saving})
					if err != nil {
						b.Fatalf("%v: %s", err, outcome)
					}
				}
			})
		}
	}
}

// BenchmarkRollback100k runs the generated rollback of a DELETE of 100,000
// rows end to end: execute it (saving the inserted keys), record it, and
// check the rows against the saved rows.
func BenchmarkRollback100k(b *testing.B) {
	for _, engine := range engines {
		b.Run(engine, func(b *testing.B) {
			ctx := context.Background()
			f := newFixture(b, engine, benchOptions)
			f.exec(b, benchSchema[engine])
			for b.Loop() {
				f.refill(b)
				b.StopTimer()
				r, outcome, err := f.run(b, rewind.SQLRequest{Kind: rewind.SQLKindChange, SQL: "DELETE FROM big WHERE id > 0"})
				if err != nil {
					b.Fatalf("%v: %s", err, outcome)
				}
				ex, err := f.store.SQLExecutionByStep(ctx, r.First().ID)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				_, outcome, err = f.run(b, rewind.SQLRequest{Kind: rewind.SQLKindRollback, SQL: ex.RollbackSQL, OfVersion: ex.VersionID, Generated: true})
				if err != nil {
					b.Fatalf("rollback: %v: %s", err, outcome)
				}
			}
		})
	}
}
