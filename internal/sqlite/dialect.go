package sqlite

import (
	"fmt"

	"github.com/rewindhq/rewind/db"
)

// The few expressions that SQLite and PostgreSQL spell differently. Their
// arguments are column names and keys written in the code, never input.

// jsonText is the text at key of the JSON object in column col; NULL when
// col holds no object.
func (s *Store) jsonText(col, key string) string {
	if s.engine == db.Postgres {
		return fmt.Sprintf(`(CASE WHEN left(ltrim(%s), 1) = '{' THEN %s::jsonb ->> '%s' END)`, col, col, key)
	}
	return fmt.Sprintf(`(CASE WHEN json_valid(%s) THEN json_extract(%s, '$.%s') END)`, col, col, key)
}

// jsonInt is the integer at key of the JSON object in column col; NULL
// when col holds no object.
func (s *Store) jsonInt(col, key string) string {
	if s.engine == db.Postgres {
		return fmt.Sprintf(`(CASE WHEN left(ltrim(%s), 1) = '{' THEN CAST(%s::jsonb ->> '%s' AS BIGINT) END)`, col, col, key)
	}
	return fmt.Sprintf(`(CASE WHEN json_valid(%s) THEN CAST(json_extract(%s, '$.%s') AS INTEGER) END)`, col, col, key)
}
