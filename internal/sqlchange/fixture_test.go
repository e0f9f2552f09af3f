package sqlchange

import (
	"strings"
	"testing"
)

// fixture is a pair of tables with awkward values on one engine:
// items (composite key, NULLs, binary, JSON, dates, timestamps, unicode,
// decimals, big integers, floats) and events (an auto-generated key).
type fixture struct {
	setup []string
	dumps []string
}

var fixtures = map[Engine]fixture{
	MySQL: {
		setup: []string{
			`CREATE TABLE items (region VARCHAR(20) NOT NULL, id BIGINT UNSIGNED NOT NULL, name VARCHAR(100),
				price DECIMAL(20,6), ratio DOUBLE, data VARBINARY(64), doc JSON, born DATE, seen DATETIME(6),
				stamp TIMESTAMP(6) NULL DEFAULT NULL, flag BOOLEAN, PRIMARY KEY (region, id)) ENGINE=InnoDB`,
			`INSERT INTO items VALUES
				('eu', 1, 'Zoë''s "café" \\ 😀 \0 end', 12345678901234.123456, 0.1, x'00ff10', '{"k": "v\\"q", "ü": [1, 2.50, null]}',
					'2024-02-29', '2024-02-29 23:59:59.123456', '2024-03-31 01:30:00.000001', TRUE),
				('eu', 18446744073709551615, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
				('us', 1, 'plain', -0.000001, 1e-300, x'', '[]', '1000-01-01', '9999-12-31 23:59:59.999999', '1970-01-02 00:00:01', FALSE),
				('us', 2, 'tab\tnew\nline', 99.5, -2.5e10, x'deadbeef', '{}', '2000-01-01', '2000-01-01 00:00:00', '2038-01-19 03:14:07', TRUE),
				('us', 3, '', 0, 0, NULL, 'null', NULL, NULL, NULL, NULL)`,
			`CREATE TABLE events (id BIGINT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(50)) ENGINE=InnoDB`,
			`INSERT INTO events (note) VALUES ('seed'), ('seed'), ('keep')`,
		},
		dumps: []string{"SELECT * FROM items ORDER BY region, id", "SELECT * FROM events ORDER BY id"},
	},
	Postgres: {
		setup: []string{
			`CREATE TABLE items (region text NOT NULL, id bigint NOT NULL, name text, price numeric(30,6),
				ratio double precision, data bytea, doc jsonb, born date, seen timestamp(6), stamp timestamptz,
				flag boolean, tags text[], PRIMARY KEY (region, id))`,
			`INSERT INTO items VALUES
				('eu', 1, 'Zoë''s "café" \ 😀', 12345678901234.123456, 0.1, '\x00ff10', '{"k": "v\"q", "ü": [1, 2.50, null]}',
					'2024-02-29', '2024-02-29 23:59:59.123456', '2024-03-31 01:30:00.000001+02', true, '{a,"b c",NULL}'),
				('eu', 9223372036854775807, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
				('us', 1, 'plain', -0.000001, 1e-300, '\x', '[]', '0001-01-01', '294276-12-31 23:59:59.999999', '1970-01-01 00:00:01+00', false, '{}'),
				('us', 2, E'tab\tnew\nline', 99.5, -2.5e10, '\xdeadbeef', '{}', 'infinity', '2000-01-01', '2038-01-19 03:14:07+05:30', true, NULL),
				('us', 3, '', 0, 'NaN', NULL, 'null', NULL, NULL, NULL, NULL, NULL)`,
			`CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text)`,
			`INSERT INTO events (note) VALUES ('seed'), ('seed'), ('keep')`,
		},
		dumps: []string{"SELECT i::text FROM items i ORDER BY region, id", "SELECT e::text FROM events e ORDER BY id"},
	},
	SQLite: {
		setup: []string{
			`CREATE TABLE items (region TEXT NOT NULL, id INTEGER NOT NULL, name TEXT, price TEXT, ratio REAL,
				data BLOB, doc TEXT, born DATE, seen DATETIME, stamp TIMESTAMP, flag BOOLEAN, PRIMARY KEY (region, id))`,
			`INSERT INTO items VALUES
				('eu', 1, 'Zoë''s "café" \ 😀', '12345678901234.123456', 0.1, X'00ff10', '{"k": "v\"q", "ü": [1, 2.50, null]}',
					'2024-02-29', '2024-02-29 23:59:59.123456', '2024-03-31T01:30:00.000001+02:00', 1),
				('eu', 9223372036854775807, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
				('us', 1, 'plain', '-0.000001', 1e-300, X'', '[]', '1000-01-01', '9999-12-31 23:59:59.999999', '1970-01-01 00:00:01', 0),
				('us', 2, 'tab' || char(9) || 'new' || char(10) || 'line', '99.5', -2.5e10, X'deadbeef', '{}', 20240101, 1.5, 'not a time', 1),
				('us', 3, '', 0, 1.0, NULL, 'null', NULL, NULL, NULL, NULL)`,
			`CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, note TEXT)`,
			`INSERT INTO events (note) VALUES ('seed'), ('seed'), ('keep')`,
		},
		dumps: []string{
			"SELECT " + sqliteDumpList("region", "id", "name", "price", "ratio", "data", "doc", "born", "seen", "stamp", "flag") + " FROM items ORDER BY region, id",
			"SELECT " + sqliteDumpList("id", "note") + " FROM events ORDER BY id",
		},
	},
}

// sqliteDumpList shows each column with its storage class and exact value.
func sqliteDumpList(cols ...string) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = "typeof(" + c + ") || ':' || CASE typeof(" + c + ") WHEN 'real' THEN printf('%!.17g', " + c + ") ELSE quote(" + c + ") END"
	}
	return strings.Join(parts, ", ")
}

// load creates the fixture tables and returns a function that dumps them.
func (tt *testTarget) load(tb testing.TB) func() []string {
	tb.Helper()
	f := fixtures[tt.engine]
	tt.exec(tb, f.setup...)
	return func() []string {
		var out []string
		for _, q := range f.dumps {
			out = append(out, tt.dump(tb, q)...)
		}
		return out
	}
}

// change touches both tables several times, some rows twice.
const change = `
UPDATE items SET name = 'changed', price = NULL, doc = NULL, data = NULL, flag = NULL WHERE region = 'eu';
DELETE FROM items WHERE region = 'us';
INSERT INTO items (region, id, name) VALUES ('asia', 1, 'new'), ('asia', 2, 'new2');
INSERT INTO events (note) VALUES ('a'), ('b'), ('c');
UPDATE items SET name = 'again', ratio = 2 WHERE region = 'eu' AND id = 1;
DELETE FROM events WHERE note = 'seed';
`
