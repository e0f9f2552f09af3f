package sqlchange

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Rewind's lexer reads quotes and backslashes as the server does with the
// settings below. A statement that changes them would make the server read
// the statements after it differently from Rewind (and so cut them
// elsewhere), so such statements are refused before anything runs; the
// settings are pinned when a session starts and read again after every
// statement, in case a function changed them.

// ErrLexingSetting: the change holds a statement that changes how the
// server reads SQL text (quotes, backslashes, character set), or an
// executable comment; Rewind refuses it.
var ErrLexingSetting = errors.New("statement changes how the server reads SQL")

// ErrLexingChanged: after a statement, the session's lexing settings were
// not what Rewind pinned; Rewind stopped.
var ErrLexingChanged = errors.New("the session's SQL reading settings changed")

// pgLexing and mysqlLexing are the settings, lower-cased, that change how
// the engine reads SQL text.
var (
	pgLexing    = []string{"standard_conforming_strings", "backslash_quote", "client_encoding", "escape_string_warning"}
	mysqlLexing = []string{"sql_mode", "character_set_client", "character_set_connection", "collation_connection", "names", "charset"}
)

// lexingRules refuses statements that change lexing settings and MySQL's
// executable comments.
func (a *analyzer) lexingRules(p *plan) {
	switch a.engine {
	case Postgres:
		switch p.verb {
		case "SET", "RESET":
			if a.word(1) == "ALL" || (p.verb == "RESET" && a.word(1) == "SESSION") {
				p.refused = p.verb + " ALL would reset standard_conforming_strings and client_encoding"
				return
			}
			if name := a.namesSetting(pgLexing, 1); name != "" {
				p.refused = "it sets " + name
				return
			}
			if a.word(1) == "NAMES" || (a.word(1) == "SESSION" || a.word(1) == "LOCAL") && a.word(2) == "NAMES" {
				p.refused = "SET NAMES sets client_encoding"
				return
			}
		case "DISCARD":
			p.refused = "DISCARD resets the session's settings"
			return
		}
		if a.callsName("set_config") {
			for _, t := range a.toks {
				if t.kind != tokString {
					continue
				}
				text := strings.ToLower(a.src[t.start:t.end])
				for _, n := range pgLexing {
					if strings.Contains(text, n) {
						p.refused = "set_config of " + n
						return
					}
				}
			}
		}
	case MySQL:
		for _, t := range a.toks {
			if t.kind == tokCode {
				p.refused = "it holds an executable comment (/*! ... */ or /*M! ... */), whose code Rewind cannot read"
				return
			}
		}
		if p.verb != "SET" {
			return
		}
		if name := a.namesSetting(mysqlLexing, 1); name != "" {
			p.refused = "it sets " + name
			return
		}
		if a.word(1) == "CHARACTER" && a.word(2) == "SET" {
			p.refused = "SET CHARACTER SET sets the client character set"
			return
		}
	}
}

// namesSetting returns the first of names (lower-case) that appears as a
// word or quoted name from token i on, or "".
func (a *analyzer) namesSetting(names []string, i int) string {
	for ; i < len(a.toks); i++ {
		part, ok := a.identPart(i)
		if !ok {
			continue
		}
		part = strings.ToLower(part)
		for _, n := range names {
			if part == n {
				return n
			}
		}
	}
	return ""
}

// callsName says whether the statement calls a function of that name
// (unqualified, compared without case).
func (a *analyzer) callsName(name string) bool {
	for _, c := range a.calls() {
		if strings.EqualFold(unqualified(c), name) {
			return true
		}
	}
	return false
}

// provableRules marks what can never be proved to stay inside a
// transaction, whatever the database holds.
func (a *analyzer) provableRules(p *plan) {
	if p.noTx != "" {
		p.notProvable = p.noTx
		return
	}
	if p.implicitCommit != "" {
		p.notProvable = p.implicitCommit
		return
	}
	dml := p.kind == KindSelect || p.kind == KindInsert || p.kind == KindUpdate || p.kind == KindDelete
	switch a.engine {
	case Postgres:
		p.explainable = dml || p.verb == "MERGE"
		switch {
		case p.verb == "COPY":
			p.notProvable = "COPY can read and write files and programs on the database host"
		case p.verb == "DO" || p.verb == "CALL":
			p.notProvable = p.verb + " runs procedural code Rewind cannot read"
		case p.verb == "CREATE" && a.word(1) == "EXTENSION", p.verb == "ALTER" && a.word(1) == "EXTENSION":
			p.notProvable = "an extension's scripts may act outside the transaction"
		case p.verb == "LOAD":
			p.notProvable = "LOAD loads a library into the server"
		case p.verb == "REFRESH":
			p.notProvable = "REFRESH MATERIALIZED VIEW runs the view's query, which Rewind does not read"
		case p.kind == KindDDL:
		case dml:
		case p.verb == "SET" || p.verb == "RESET" || p.verb == "SHOW" || p.verb == "EXPLAIN" || p.verb == "LOCK" || p.verb == "NOTIFY" || p.verb == "ANALYZE":
		default:
			p.notProvable = p.verb + " is not known to Rewind to stay inside the transaction"
		}
	case MySQL:
		p.sequence = a.nextValue()
		switch {
		case a.setsGlobal():
			p.notProvable = "it sets a global server setting"
		case p.verb == "SET" && a.word(1) == "STATEMENT":
			p.notProvable = "SET STATEMENT ... FOR runs a statement with changed settings"
		case p.kind == KindSelect && a.selectInto() != "":
			p.notProvable = "SELECT ... INTO " + a.selectInto() + " acts outside the transaction"
		case p.verb == "DO":
			p.notProvable = "DO evaluates expressions for their effects"
		case p.sequence:
			p.notProvable = "MariaDB sequences do not roll back"
		}
	case SQLite:
		if p.verb == "PRAGMA" {
			p.notProvable = "some PRAGMAs act outside the transaction"
		}
	}
}

// setsGlobal says whether a MySQL statement sets a global or persisted
// server setting.
func (a *analyzer) setsGlobal() bool {
	for i, t := range a.toks {
		switch {
		case t.kind == tokWord && (t.val == "GLOBAL" || t.val == "PERSIST" || t.val == "PERSIST_ONLY") && a.word(0) == "SET":
			return true
		case t.kind == tokWord && strings.HasPrefix(t.val, "@@GLOBAL") || t.punct("@") && a.punct(i+1, "@") && (a.word(i+2) == "GLOBAL" || a.word(i+2) == "PERSIST"):
			return true
		}
	}
	return false
}

// selectInto returns where a MySQL SELECT puts its rows when not sent back
// (OUTFILE, DUMPFILE or variables), or "".
func (a *analyzer) selectInto() string {
	for i := range a.toks {
		if a.word(i) != "INTO" {
			continue
		}
		switch w := a.word(i + 1); w {
		case "OUTFILE", "DUMPFILE":
			return w
		}
		return "variables"
	}
	return ""
}

// nextValue says whether a MariaDB statement takes a sequence's value
// (NEXT VALUE FOR, NEXTVAL, SETVAL, LASTVAL).
func (a *analyzer) nextValue() bool {
	for i := range a.toks {
		if (a.word(i) == "NEXT" || a.word(i) == "PREVIOUS") && a.word(i+1) == "VALUE" && a.word(i+2) == "FOR" {
			return true
		}
	}
	for _, c := range a.calls() {
		switch strings.ToUpper(unqualified(c)) {
		case "NEXTVAL", "SETVAL", "LASTVAL":
			return true
		}
	}
	return false
}

// lexState is the value of the lexing settings of a session.
type lexState string

// pinLexing sets the session's lexing settings to what Rewind's lexer
// assumes and returns them as read back.
func (d *DB) pinLexing(ctx context.Context, conn *sql.Conn) (lexState, error) {
	switch d.engine {
	case Postgres:
		if _, err := conn.ExecContext(ctx, "SET standard_conforming_strings = on"); err != nil {
			return "", fmt.Errorf("pin standard_conforming_strings: %w", err)
		}
		if _, err := conn.ExecContext(ctx, "SET backslash_quote = safe_encoding"); err != nil {
			return "", fmt.Errorf("pin backslash_quote: %w", err)
		}
		if _, err := conn.ExecContext(ctx, "SET client_encoding = 'UTF8'"); err != nil {
			return "", fmt.Errorf("pin client_encoding: %w", err)
		}
	case MySQL:
		var mode string
		if err := conn.QueryRowContext(ctx, "SELECT @@SESSION.sql_mode").Scan(&mode); err != nil {
			return "", fmt.Errorf("read sql_mode: %w", err)
		}
		var keep []string
		for _, m := range strings.Split(mode, ",") {
			switch m {
			case "ANSI_QUOTES", "NO_BACKSLASH_ESCAPES", "ANSI", "":
			default:
				keep = append(keep, m)
			}
		}
		if _, err := conn.ExecContext(ctx, "SET SESSION sql_mode = ?", strings.Join(keep, ",")); err != nil {
			return "", fmt.Errorf("pin sql_mode: %w", err)
		}
		if _, err := conn.ExecContext(ctx, "SET NAMES utf8mb4"); err != nil {
			return "", fmt.Errorf("pin character set: %w", err)
		}
	default:
		return "", nil
	}
	st, err := d.readLexing(ctx, conn)
	if err != nil {
		return "", err
	}
	if err := st.check(d.engine); err != nil {
		return "", err
	}
	return st, nil
}

// readLexing reads the session's lexing settings.
func (d *DB) readLexing(ctx context.Context, q queryer) (lexState, error) {
	var a, b, c string
	var err error
	switch d.engine {
	case Postgres:
		// The extended protocol: pgx refuses simple-protocol queries once
		// standard_conforming_strings is off, and then the answer is the point.
		err = q.QueryRowContext(ctx, `SELECT current_setting('standard_conforming_strings'), current_setting('backslash_quote'),
			current_setting('client_encoding')`, pgx.QueryExecModeExec).Scan(&a, &b, &c)
	case MySQL:
		err = q.QueryRowContext(ctx, "SELECT @@SESSION.sql_mode, @@SESSION.character_set_client, @@SESSION.character_set_connection").Scan(&a, &b, &c)
	default:
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read SQL reading settings: %w", err)
	}
	return lexState(a + "|" + b + "|" + c), nil
}

// check says whether the settings are those Rewind's lexer assumes.
func (s lexState) check(engine Engine) error {
	parts := strings.Split(string(s), "|")
	if len(parts) != 3 {
		return fmt.Errorf("%w: cannot read them", ErrLexingChanged)
	}
	switch engine {
	case Postgres:
		if parts[0] != "on" || !strings.EqualFold(parts[2], "UTF8") {
			return fmt.Errorf("%w: standard_conforming_strings=%s client_encoding=%s", ErrLexingChanged, parts[0], parts[2])
		}
	case MySQL:
		for _, m := range strings.Split(parts[0], ",") {
			if m == "ANSI_QUOTES" || m == "NO_BACKSLASH_ESCAPES" {
				return fmt.Errorf("%w: sql_mode has %s", ErrLexingChanged, m)
			}
		}
		if parts[1] != "utf8mb4" || parts[2] != "utf8mb4" {
			return fmt.Errorf("%w: character set %s/%s", ErrLexingChanged, parts[1], parts[2])
		}
	}
	return nil
}
