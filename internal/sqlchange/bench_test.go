package sqlchange

import (
	"context"
	"strconv"
	"testing"
	"time"
)

const benchRows = 100_000

var benchSchema = map[Engine][]string{
	MySQL: {
		`CREATE TABLE big (id BIGINT PRIMARY KEY, name VARCHAR(40), qty INT, price DECIMAL(12,2), seen DATETIME(6)) ENGINE=InnoDB`,
	},
	Postgres: {
		`CREATE TABLE big (id bigint PRIMARY KEY, name text, qty int, price numeric(12,2), seen timestamptz)`,
	},
	SQLite: {
		`CREATE TABLE big (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER, price TEXT, seen TEXT)`,
	},
}

var benchFill = map[Engine]string{
	MySQL: `SET STATEMENT max_recursive_iterations = 200000 FOR INSERT INTO big WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 100000)
		SELECT n, CONCAT('name-', n), n % 1000, n / 7, TIMESTAMP '2024-01-01 00:00:00' + INTERVAL n SECOND FROM s`,
	Postgres: `INSERT INTO big SELECT n, 'name-' || n, n % 1000, n / 7.0, timestamptz '2024-01-01 00:00:00+00' + n * interval '1 second'
		FROM generate_series(1, 100000) AS n`,
	SQLite: `INSERT INTO big WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 100000)
		SELECT n, 'name-' || n, n % 1000, printf('%.2f', n / 7.0), datetime('2024-01-01', '+' || n || ' seconds') FROM s`,
}

// benchTarget makes a database with an empty table big.
func benchTarget(b *testing.B, engine Engine) *testTarget {
	tt := newTarget(b, engine)
	tt.exec(b, benchSchema[engine]...)
	return tt
}

// refill puts the 100,000 rows back, outside the timed part.
func (tt *testTarget) refill(b *testing.B) {
	b.StopTimer()
	defer b.StartTimer()
	tt.exec(b, "DELETE FROM big", benchFill[tt.engine])
	if tt.engine == Postgres {
		tt.exec(b, "VACUUM ANALYZE big")
	}
}

var benchOptions = Options{StatementTimeout: 5 * time.Minute, MaxSavedRows: 2 * benchRows, MaxSavedBytes: 1 << 30}

// BenchmarkDelete100k executes a DELETE of 100,000 rows, with and without
// saving the rows.
func BenchmarkDelete100k(b *testing.B) {
	for _, engine := range engines {
		for _, saving := range []bool{true, false} {
			name := string(engine) + "/saved"
			if !saving {
				name = string(engine) + "/unsaved"
			}
			b.Run(name, func(b *testing.B) {
				ctx := context.Background()
				tt := benchTarget(b, engine)
				stmts := split(b, engine, "DELETE FROM big WHERE id > 0")
				opts := benchOptions
				opts.SkipSaving = !saving
				var encoded int
				for b.Loop() {
					tt.refill(b)
					exec, err := tt.db.Execute(ctx, stmts, opts)
					if err != nil {
						b.Fatal(err)
					}
					if got := exec.Results[0].RowsAffected; got != benchRows {
						b.Fatalf("deleted %d rows, want %d", got, benchRows)
					}
					if saving {
						b.StopTimer()
						data, err := EncodeSaved(exec.Saved)
						if err != nil {
							b.Fatal(err)
						}
						encoded = len(data)
						b.StartTimer()
					}
				}
				if saving {
					b.ReportMetric(float64(encoded), "saved-bytes")
				}
			})
		}
	}
}

// BenchmarkRollback100k generates the rollback of a DELETE of 100,000 rows
// and runs it (saving the inserted keys, as any change does).
func BenchmarkRollback100k(b *testing.B) {
	for _, engine := range engines {
		b.Run(string(engine), func(b *testing.B) {
			ctx := context.Background()
			tt := benchTarget(b, engine)
			stmts := split(b, engine, "DELETE FROM big WHERE id > 0")
			var generate, run time.Duration
			for b.Loop() {
				tt.refill(b)
				b.StopTimer()
				exec, err := tt.db.Execute(ctx, stmts, benchOptions)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				started := time.Now()
				rollback, err := GenerateRollback(engine, exec)
				if err != nil {
					b.Fatal(err)
				}
				rbStmts, err := Split(engine, rollback)
				if err != nil {
					b.Fatal(err)
				}
				generate += time.Since(started)
				started = time.Now()
				if _, err := tt.db.Execute(ctx, rbStmts, benchOptions); err != nil {
					b.Fatal(err)
				}
				run += time.Since(started)
			}
			b.ReportMetric(float64(generate.Milliseconds())/float64(b.N), "generate-ms/op")
			b.ReportMetric(float64(run.Milliseconds())/float64(b.N), "run-ms/op")
		})
	}
}

// BenchmarkGenerateRollback100k generates and splits the rollback of a
// DELETE of 100,000 rows, without a database.
func BenchmarkGenerateRollback100k(b *testing.B) {
	saved := SavedRows{Kind: KindDelete, Table: TableName{Name: "big"}, PrimaryKey: []string{"id"},
		Columns: []Column{{"id", "bigint"}, {"name", "text"}, {"qty", "integer"}, {"price", "numeric(12,2)"}, {"seen", "timestamp with time zone"}}}
	for n := range benchRows {
		saved.Rows = append(saved.Rows, Row{
			strconv.Itoa(n + 1), "name-" + strconv.Itoa(n+1), strconv.Itoa(n % 1000), "12345.67", "2024-01-01 10:00:00+00"})
	}
	exec := &Execution{Engine: Postgres, Saved: []SavedRows{saved},
		Results: []StatementResult{{Kind: KindDelete, Status: StatusSucceeded, RowsAffected: benchRows}}}
	for b.Loop() {
		sql, err := GenerateRollback(Postgres, exec)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Split(Postgres, sql); err != nil {
			b.Fatal(err)
		}
	}
}
