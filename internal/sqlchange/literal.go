package sqlchange

import (
	"encoding/hex"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// class is how a column's values are written as SQL literals.
type class int

const (
	classText      class = iota // quoted string
	classNumber                 // bare number when the text is a plain number
	classBool                   // PostgreSQL boolean
	classBytes                  // binary: hex literal
	classTimestamp              // MySQL TIMESTAMP: text that depends on the session time zone
)

// columnClass derives the class of a column from its type as the database
// shows it.
func columnClass(engine Engine, typ string) class {
	t := strings.ToLower(strings.TrimSpace(typ))
	base := t
	if i := strings.IndexAny(base, "( "); i >= 0 {
		base = base[:i]
	}
	switch engine {
	case MySQL:
		switch base {
		case "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric",
			"float", "double", "real", "year", "bool", "boolean", "dec", "fixed":
			return classNumber
		case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "bit",
			"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
			"multipolygon", "geometrycollection", "geomcollection":
			return classBytes
		case "timestamp":
			return classTimestamp
		}
	case Postgres:
		if strings.HasSuffix(t, "]") {
			return classText
		}
		switch {
		case t == "smallint" || t == "integer" || t == "bigint" || t == "real" || t == "double precision" ||
			base == "numeric" || base == "decimal":
			return classNumber
		case t == "boolean":
			return classBool
		case t == "bytea":
			return classBytes
		}
	}
	return classText
}

var plainNumber = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

// literal writes v, a saved value of column c, as a SQL literal for engine.
func literal(engine Engine, c Column, v any) string {
	return classLiteral(engine, columnClass(engine, c.Type), v)
}

// classes returns the class of each column.
func classes(engine Engine, cols []Column) []class {
	out := make([]class, len(cols))
	for i, c := range cols {
		out[i] = columnClass(engine, c.Type)
	}
	return out
}

// classLiteral writes v, a saved value of a column of class cls.
func classLiteral(engine Engine, cls class, v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return floatLiteral(x)
	case []byte:
		switch engine {
		case Postgres:
			return `'\x` + hex.EncodeToString(x) + `'::bytea`
		case MySQL:
			return "x'" + hex.EncodeToString(x) + "'"
		default:
			return "X'" + hex.EncodeToString(x) + "'"
		}
	case string:
		switch cls {
		case classNumber:
			if plainNumber.MatchString(x) {
				return x
			}
		case classBool:
			switch x {
			case "true", "t":
				return "TRUE"
			case "false", "f":
				return "FALSE"
			}
		}
		return stringLiteral(engine, x)
	}
	return "NULL"
}

// floatLiteral writes a SQLite REAL so that it stays a REAL.
func floatLiteral(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "9e999"
	case math.IsInf(f, -1):
		return "-9e999"
	case math.IsNaN(f):
		return "NULL"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// stringLiteral quotes text for engine. Text with backslashes or NUL bytes
// is written so that it reads the same whatever the server's escaping
// settings.
func stringLiteral(engine Engine, s string) string {
	switch engine {
	case MySQL:
		if strings.ContainsAny(s, "\\\x00") {
			return "_utf8mb4 x'" + hex.EncodeToString([]byte(s)) + "'"
		}
	case Postgres:
		if strings.Contains(s, `\`) {
			return "E'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", "''") + "'"
		}
	case SQLite:
		if strings.Contains(s, "\x00") {
			return "CAST(X'" + hex.EncodeToString([]byte(s)) + "' AS TEXT)"
		}
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// quoteIdent quotes one identifier for engine.
func quoteIdent(engine Engine, name string) string {
	if engine == MySQL {
		return "`" + strings.ReplaceAll(name, "`", "``") + "`"
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// quoteTable quotes a possibly qualified table name.
func quoteTable(engine Engine, t TableName) string {
	if t.Schema == "" {
		return quoteIdent(engine, t.Name)
	}
	return quoteIdent(engine, t.Schema) + "." + quoteIdent(engine, t.Name)
}

// selectExpr is how Rewind reads a column so that its value comes back
// exact: PostgreSQL values as their text (bytea as bytes), MySQL values as
// the text the server sends, SQLite values with their own storage class
// (the unary + keeps the driver from turning date-like text into times).
func selectExpr(engine Engine, c Column) string {
	q := quoteIdent(engine, c.Name)
	switch engine {
	case Postgres:
		if columnClass(engine, c.Type) == classBytes {
			return q
		}
		return q + "::text"
	case SQLite:
		return "+" + q
	}
	return q
}

func selectList(engine Engine, cols []Column) string {
	var b strings.Builder
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(selectExpr(engine, c))
	}
	return b.String()
}

// keyCondition writes a WHERE condition matching the keys of rows, whose
// key columns are at idx in cols.
func keyCondition(engine Engine, cols []Column, idx []int, rows []Row) string {
	var b strings.Builder
	if len(idx) == 1 {
		c := cols[idx[0]]
		b.WriteString(quoteIdent(engine, c.Name))
		b.WriteString(" IN (")
		for i, r := range rows {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(literal(engine, c, r[idx[0]]))
		}
		b.WriteString(")")
		return b.String()
	}
	for i, r := range rows {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteString("(")
		b.WriteString(keyEquals(engine, cols, idx, r))
		b.WriteString(")")
	}
	return b.String()
}

// keyEquals writes "k1 = v1 AND k2 = v2" for one row.
func keyEquals(engine Engine, cols []Column, idx []int, r Row) string {
	var b strings.Builder
	for i, j := range idx {
		if i > 0 {
			b.WriteString(" AND ")
		}
		b.WriteString(quoteIdent(engine, cols[j].Name))
		b.WriteString(" = ")
		b.WriteString(literal(engine, cols[j], r[j]))
	}
	return b.String()
}
