package sqlchange

import "strings"

// Functions a statement calls decide two things: whether a preview may hand
// the statement to the engine at all (MariaDB evaluates constant
// expressions, stored functions and LOAD_FILE included, while it prepares),
// and whether the change can be proved transactional. Rewind does not try
// to know what a function does: it knows a short list of built-ins that
// only compute on their arguments, and treats every other name as a
// function that may act outside the transaction.

// notCalls are words that come before "(" without being function calls:
// keywords, type names and the places where a table or index name is
// followed by a column list.
var notCalls = map[string]bool{
	"IN": true, "VALUES": true, "VALUE": true, "EXISTS": true, "ANY": true, "SOME": true, "ALL": true,
	"AS": true, "ON": true, "USING": true, "KEY": true, "INDEX": true, "PRIMARY": true, "UNIQUE": true,
	"REFERENCES": true, "CHECK": true, "CONSTRAINT": true, "PARTITION": true, "OVER": true, "WINDOW": true,
	"FOR": true, "INTO": true, "TABLE": true, "FROM": true, "JOIN": true, "WHERE": true, "AND": true,
	"OR": true, "NOT": true, "SELECT": true, "SET": true, "WITH": true, "RETURNING": true, "BY": true,
	"HAVING": true, "UNION": true, "EXCEPT": true, "INTERSECT": true, "THEN": true, "ELSE": true, "WHEN": true,
	"CASE": true, "IS": true, "LIKE": true, "BETWEEN": true, "DEFAULT": true, "FILTER": true, "ROW": true,
	"ARRAY": true, "FOREIGN": true, "GENERATED": true, "STORED": true, "VIRTUAL": true, "CONFLICT": true,
	"LATERAL": true, "ONLY": true, "DO": true, "UPDATE": true, "DELETE": true, "INSERT": true, "REPLACE": true,
	"INCLUDE": true, "EXCLUDE": true, "TYPE": true, "ADD": true, "COLUMN": true, "MODIFY": true, "CHANGE": true,
	"RECURSIVE": true, "MATERIALIZED": true, "DISTINCT": true, "LIMIT": true, "OFFSET": true, "ORDER": true,
	"GROUP": true, "OUTER": true, "INNER": true, "LEFT": true, "RIGHT": true, "CROSS": true, "FULL": true,
	"NATURAL": true, "HIGH_PRIORITY": true, "IGNORE": true, "VIEW": true, "FULLTEXT": true, "SPATIAL": true,
	// type names (MySQL, PostgreSQL, SQLite)
	"INT": true, "INTEGER": true, "SMALLINT": true, "BIGINT": true, "TINYINT": true, "MEDIUMINT": true,
	"DECIMAL": true, "NUMERIC": true, "DEC": true, "FLOAT": true, "DOUBLE": true, "REAL": true, "BIT": true,
	"CHAR": true, "VARCHAR": true, "CHARACTER": true, "VARYING": true, "NCHAR": true, "NVARCHAR": true,
	"BINARY": true, "VARBINARY": true, "TEXT": true, "BLOB": true, "ENUM": true, "TIME": true,
	"TIMESTAMP": true, "DATETIME": true, "INTERVAL": true, "PRECISION": true, "VARBIT": true,
	"TIMESTAMPTZ": true, "TIMETZ": true, "BOOLEAN": true, "BOOL": true, "SERIAL": true, "BIGSERIAL": true,
}

// mysqlPure are MySQL/MariaDB built-ins that only compute on their
// arguments: no reads of files, tables or other sessions, no writes (SLEEP
// only waits, within the statement timeout, and is never folded while
// preparing). LOAD_FILE, BENCHMARK, GET_LOCK, NEXTVAL, LAST_INSERT_ID,
// EXTRACTVALUE, UPDATEXML, RAND and every stored function are left out.
var mysqlPure = wordSet(`ABS ACOS ASIN ATAN ATAN2 CEIL CEILING COS COT CRC32 DEGREES EXP FLOOR LN LOG LOG10 LOG2
	MOD PI POW POWER RADIANS ROUND SIGN SIN SQRT TAN TRUNCATE GREATEST LEAST COALESCE IFNULL NULLIF IF ISNULL
	ASCII BIN BIT_LENGTH CHAR_LENGTH CHARACTER_LENGTH CONCAT CONCAT_WS ELT FIELD FIND_IN_SET FORMAT HEX INSTR
	LCASE LEFT LENGTH LOCATE LOWER LPAD LTRIM MID OCT OCTET_LENGTH ORD POSITION QUOTE REPEAT REPLACE REVERSE
	RIGHT RPAD RTRIM SPACE STRCMP SUBSTR SUBSTRING SUBSTRING_INDEX TRIM UCASE UNHEX UPPER CAST CONVERT
	ADDDATE ADDTIME CONVERT_TZ CURDATE CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP CURTIME DATE DATE_ADD
	DATE_FORMAT DATE_SUB DATEDIFF DAY DAYNAME DAYOFMONTH DAYOFWEEK DAYOFYEAR EXTRACT FROM_DAYS FROM_UNIXTIME
	HOUR LAST_DAY LOCALTIME LOCALTIMESTAMP MAKEDATE MAKETIME MICROSECOND MINUTE MONTH MONTHNAME NOW
	PERIOD_ADD PERIOD_DIFF QUARTER SEC_TO_TIME SECOND STR_TO_DATE SUBDATE SUBTIME SYSDATE TIME_FORMAT
	TIME_TO_SEC TIMEDIFF TIMESTAMPADD TIMESTAMPDIFF TO_DAYS TO_SECONDS UNIX_TIMESTAMP UTC_DATE UTC_TIME
	UTC_TIMESTAMP WEEK WEEKDAY WEEKOFYEAR YEAR YEARWEEK COUNT SUM AVG MIN MAX GROUP_CONCAT STD STDDEV
	VARIANCE BIT_AND BIT_OR BIT_XOR MD5 SHA1 SHA SHA2 UUID JSON_ARRAY JSON_OBJECT JSON_EXTRACT JSON_UNQUOTE
	JSON_VALUE JSON_SET JSON_INSERT JSON_REPLACE JSON_REMOVE JSON_CONTAINS JSON_LENGTH JSON_VALID JSON_QUOTE
	JSON_TYPE JSON_KEYS JSON_MERGE_PATCH JSON_ARRAYAGG JSON_OBJECTAGG ROW_NUMBER RANK DENSE_RANK LAG LEAD
	FIRST_VALUE LAST_VALUE NTILE INET_ATON INET_NTOA INET6_ATON INET6_NTOA TO_BASE64 FROM_BASE64 REGEXP_REPLACE
	REGEXP_SUBSTR REGEXP_INSTR SLEEP`)

// pgHarmlessVolatile are PostgreSQL built-ins marked volatile that act on
// nothing outside the statement: they only make new values, or wait
// (within the statement timeout).
var pgHarmlessVolatile = wordSet(`random gen_random_uuid uuid_generate_v4 clock_timestamp timeofday
	statement_timestamp now transaction_timestamp random_normal pg_sleep pg_sleep_for pg_sleep_until`)

func wordSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

// calls lists the names the statement calls as functions: a name followed
// by "(" that is not a keyword, a type name or a table's column list. A
// qualified name (schema.f) is given as written, schema and all.
func (a *analyzer) calls() []string {
	var out []string
	seen := map[string]bool{}
	for i := 0; i+1 < len(a.toks); i++ {
		t := a.toks[i]
		if !a.punct(i+1, "(") || (t.kind != tokWord && t.kind != tokIdent) {
			continue
		}
		if t.kind == tokWord && notCalls[t.val] && (i == 0 || !a.punct(i-1, ".")) {
			// A keyword or type name; db.left(...) is a stored function, though.
			continue
		}
		// Walk back over a qualified name to what comes before it.
		j := i
		for j >= 2 && a.punct(j-1, ".") {
			j -= 2
		}
		if j > 0 {
			switch a.word(j - 1) {
			case "INTO", "TABLE", "REFERENCES", "INDEX", "KEY", "UNIQUE", "CONSTRAINT", "EXISTS", "VIEW", "TYPE":
				// a table, index or constraint name and its column list
				continue
			case "ON":
				if a.word(0) == "CREATE" {
					// CREATE INDEX i ON t (a)
					continue
				}
			}
			if a.word(j-1) == "AS" && j >= 2 && a.depth[j-1] == 0 {
				// a CTE or alias with a column list: WITH x AS (...), t AS x (a, b)
				continue
			}
		}
		// A CTE name with a column list: WITH x (a, b) AS (...).
		if a.word(j-1) == "WITH" || a.word(j-1) == "RECURSIVE" || (j > 0 && a.punct(j-1, ",") && a.word(0) == "WITH" && a.depth[j-1] == 0) {
			// ... AS ( or AS [NOT] MATERIALIZED (, unlike a select item f() AS y.
			if k := a.closing(i + 1); k > 0 && a.word(k+1) == "AS" && (a.punct(k+2, "(") || a.word(k+2) == "MATERIALIZED" || a.word(k+2) == "NOT") {
				continue
			}
		}
		name := a.qualifiedText(j, i)
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}

// closing returns the index of the ")" that closes the "(" at i, or -1.
func (a *analyzer) closing(i int) int {
	for k := i + 1; k < len(a.toks); k++ {
		if a.depth[k] == a.depth[i] && a.punct(k, ")") {
			return k
		}
	}
	return -1
}

// qualifiedText returns the name from token j to token i (parts joined by
// "."), each part as identPart reads it.
func (a *analyzer) qualifiedText(j, i int) string {
	var parts []string
	for k := j; k <= i; k += 2 {
		p, _ := a.identPart(k)
		parts = append(parts, p)
	}
	return strings.Join(parts, ".")
}

// unqualified returns the last part of a possibly qualified name.
func unqualified(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// mysqlImpure returns the first called name that is not a known pure
// MySQL/MariaDB built-in, or "".
func mysqlImpure(calls []string) string {
	for _, c := range calls {
		if strings.Contains(c, ".") || !mysqlPure[strings.ToUpper(c)] {
			return c
		}
	}
	return ""
}
