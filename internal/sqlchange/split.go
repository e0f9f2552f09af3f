package sqlchange

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Statement is one statement of a SQL change, as cut by Split.
type Statement struct {
	// SQL is the statement's text without its terminating delimiter.
	SQL string
	// Line and Col give where the statement starts in the change (1-based;
	// Col counts characters, not bytes).
	Line, Col int
	// Kind says what the statement does.
	Kind Kind
	// Table names the table the statement writes, when it writes one table
	// that Rewind can name (INSERT, UPDATE, DELETE, CREATE/ALTER/DROP/TRUNCATE TABLE).
	Table string
}

// Kind is what a statement does, as far as saving rows is concerned.
type Kind string

// The kinds of statement.
const (
	KindSelect Kind = "SELECT"
	KindInsert Kind = "INSERT"
	KindUpdate Kind = "UPDATE"
	KindDelete Kind = "DELETE"
	KindDDL    Kind = "DDL"
	KindOther  Kind = "OTHER"
)

// SplitError is returned by Split for SQL that cannot be cut into
// statements; Line and Col (1-based, in characters) point at the problem.
type SplitError struct {
	Line, Col int
	Msg       string
}

// Error says where the problem is and what it is.
func (e *SplitError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Col, e.Msg)
}

// Split cuts sql into statements the way the engine's own client would:
// it understands the engine's quotes, comments, PostgreSQL dollar quoting,
// BEGIN ... END bodies of routines and triggers, and MySQL's DELIMITER
// command. Empty statements are dropped; input without any statement, or
// with an unterminated quote, comment or block, or that is not valid UTF-8, is refused with a
// *SplitError that says where.
func Split(engine Engine, sql string) ([]Statement, error) {
	if err := engine.valid(); err != nil {
		return nil, err
	}
	if err := checkUTF8(sql); err != nil {
		return nil, err
	}
	parts, err := splitTokens(engine, sql)
	if err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		return nil, &SplitError{Line: 1, Col: 1, Msg: "no SQL statement found"}
	}
	pos := newPositions(sql)
	stmts := make([]Statement, 0, len(parts))
	for _, toks := range parts {
		p := analyze(engine, sql, toks)
		line, col := pos.at(toks[0].start)
		stmts = append(stmts, Statement{
			SQL:   sql[toks[0].start:toks[len(toks)-1].end],
			Line:  line,
			Col:   col,
			Kind:  p.kind,
			Table: p.tableDisplay(),
		})
	}
	return stmts, nil
}

// checkUTF8 refuses text that is not valid UTF-8 with a *SplitError at
// its first bad byte: SQL is sent as it was given, never with bytes
// replaced, and the engines are told it is UTF-8.
func checkUTF8(sql string) error {
	if utf8.ValidString(sql) {
		return nil
	}
	for i := 0; i < len(sql); {
		r, n := utf8.DecodeRuneInString(sql[i:])
		if r == utf8.RuneError && n <= 1 {
			line, col := newPositions(sql).at(i)
			return &SplitError{Line: line, Col: col, Msg: fmt.Sprintf("invalid UTF-8 (byte 0x%02x): the SQL must be UTF-8 text", sql[i])}
		}
		i += n
	}
	return nil
}

// tokKind is the lexical class of a token.
type tokKind int

const (
	tokWord   tokKind = iota // keyword or bare identifier
	tokIdent                 // quoted identifier: "x", `x`, [x]
	tokString                // '..', E'..', $$..$$, MySQL "..", x'..'
	tokNumber                // 12, 1.5e3
	tokPunct                 // one character: ( ) , ; . = * ...
	tokCode                  // MySQL executable comment /*! ... */
	tokDelim                 // a MySQL DELIMITER other than ;
	tokEOF
)

// token is one lexical token of the change. val holds the upper-cased word,
// the unquoted identifier, or the punctuation character.
type token struct {
	kind       tokKind
	start, end int
	val        string
}

func (t token) is(word string) bool { return t.kind == tokWord && t.val == word }

func (t token) punct(c string) bool { return t.kind == tokPunct && t.val == c }

// scanner reads tokens from src for one engine's dialect.
type scanner struct {
	engine Engine
	src    string
	pos    int
	delim  string
}

func (s *scanner) errAt(off int, format string, args ...any) error {
	line, col := newPositions(s.src).at(off)
	return &SplitError{Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// skipSpace skips white space and comments; it fails on an unterminated
// block comment.
func (s *scanner) skipSpace() error {
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			s.pos++
		case c == '-' && strings.HasPrefix(s.src[s.pos:], "--") && s.dashComment():
			s.skipLine()
		case c == '#' && s.engine == MySQL:
			s.skipLine()
		case c == '/' && strings.HasPrefix(s.src[s.pos:], "/*") && !s.execComment():
			if err := s.skipBlockComment(); err != nil {
				return err
			}
		default:
			if c >= utf8.RuneSelf {
				// A byte order mark, as editors leave at the start of files.
				if r, n := utf8.DecodeRuneInString(s.src[s.pos:]); r == '\ufeff' {
					s.pos += n
					continue
				}
			}
			return nil
		}
	}
	return nil
}

// dashComment says whether the "--" at pos starts a comment: always on
// PostgreSQL and SQLite, only before white space or the end on MySQL.
func (s *scanner) dashComment() bool {
	if s.engine != MySQL {
		return true
	}
	if s.pos+2 >= len(s.src) {
		return true
	}
	c := s.src[s.pos+2]
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c < ' '
}

// execComment says whether the "/*" at pos is MySQL's executable comment
// (/*! ... */ or MariaDB's /*M! ... */), which holds code.
func (s *scanner) execComment() bool {
	if s.engine != MySQL {
		return false
	}
	rest := s.src[s.pos:]
	return strings.HasPrefix(rest, "/*!") || strings.HasPrefix(rest, "/*M!")
}

func (s *scanner) skipLine() {
	i := strings.IndexByte(s.src[s.pos:], '\n')
	if i < 0 {
		s.pos = len(s.src)
		return
	}
	s.pos += i + 1
}

// skipBlockComment skips /* ... */, nested on PostgreSQL.
func (s *scanner) skipBlockComment() error {
	start := s.pos
	depth := 0
	for s.pos < len(s.src) {
		switch {
		case strings.HasPrefix(s.src[s.pos:], "/*") && (depth == 0 || s.engine == Postgres):
			depth++
			s.pos += 2
		case strings.HasPrefix(s.src[s.pos:], "*/"):
			depth--
			s.pos += 2
			if depth == 0 {
				return nil
			}
		default:
			s.pos++
		}
	}
	return s.errAt(start, "unterminated /* comment")
}

func isWordStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= utf8.RuneSelf
}

func isWordByte(c byte) bool {
	return isWordStart(c) || (c >= '0' && c <= '9') || c == '$'
}

// next returns the next token, or a token of kind tokEOF at the end.
func (s *scanner) next() (token, error) {
	if err := s.skipSpace(); err != nil {
		return token{}, err
	}
	start := s.pos
	if s.pos >= len(s.src) {
		return token{kind: tokEOF, start: start, end: start}, nil
	}
	if s.delim != "" && s.delim != ";" && strings.HasPrefix(s.src[s.pos:], s.delim) {
		s.pos += len(s.delim)
		return token{kind: tokDelim, start: start, end: s.pos, val: s.delim}, nil
	}
	c := s.src[s.pos]
	switch {
	case c == '\'':
		return s.quoted(start, '\'', tokString, s.engine == MySQL)
	case c == '"':
		if s.engine == MySQL {
			return s.quoted(start, '"', tokString, true)
		}
		return s.quoted(start, '"', tokIdent, false)
	case c == '`' && s.engine != Postgres:
		return s.quoted(start, '`', tokIdent, false)
	case c == '[' && s.engine == SQLite:
		end := strings.IndexByte(s.src[s.pos+1:], ']')
		if end < 0 {
			return token{}, s.errAt(start, "unterminated [identifier]")
		}
		s.pos += end + 2
		return token{kind: tokIdent, start: start, end: s.pos, val: s.src[start+1 : s.pos-1]}, nil
	case c == '$' && s.engine == Postgres:
		if tag, ok := s.dollarTag(); ok {
			end := strings.Index(s.src[s.pos+len(tag):], tag)
			if end < 0 {
				return token{}, s.errAt(start, "unterminated dollar-quoted string %s", tag)
			}
			s.pos += len(tag) + end + len(tag)
			return token{kind: tokString, start: start, end: s.pos}, nil
		}
		s.pos++
		for s.pos < len(s.src) && s.src[s.pos] >= '0' && s.src[s.pos] <= '9' {
			s.pos++
		}
		return token{kind: tokPunct, start: start, end: s.pos, val: "$"}, nil
	case c == '/' && s.execComment():
		end := strings.Index(s.src[s.pos+2:], "*/")
		if end < 0 {
			return token{}, s.errAt(start, "unterminated /*! comment")
		}
		s.pos += end + 4
		return token{kind: tokCode, start: start, end: s.pos}, nil
	case c >= '0' && c <= '9' || (c == '.' && s.pos+1 < len(s.src) && s.src[s.pos+1] >= '0' && s.src[s.pos+1] <= '9'):
		for s.pos < len(s.src) && (isWordByte(s.src[s.pos]) || s.src[s.pos] == '.') {
			s.pos++
		}
		return token{kind: tokNumber, start: start, end: s.pos, val: s.src[start:s.pos]}, nil
	case isWordStart(c):
		for s.pos < len(s.src) && isWordByte(s.src[s.pos]) {
			if s.src[s.pos] == '$' && s.engine == SQLite {
				break
			}
			s.pos++
		}
		word := s.src[start:s.pos]
		if s.engine == Postgres && (word == "E" || word == "e") && s.pos < len(s.src) && s.src[s.pos] == '\'' {
			return s.quoted(start, '\'', tokString, true)
		}
		return token{kind: tokWord, start: start, end: s.pos, val: strings.ToUpper(word)}, nil
	default:
		_, n := utf8.DecodeRuneInString(s.src[s.pos:])
		s.pos += n
		return token{kind: tokPunct, start: start, end: s.pos, val: s.src[start:s.pos]}, nil
	}
}

// quoted reads a quoted string or identifier whose opening quote is at
// s.pos; a doubled quote stands for one, and with backslash a backslash
// escapes the next character. start is where the token began (before any
// prefix such as E).
func (s *scanner) quoted(start int, q byte, kind tokKind, backslash bool) (token, error) {
	open := s.pos
	s.pos++
	var val strings.Builder
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		switch {
		case backslash && c == '\\' && s.pos+1 < len(s.src):
			s.pos += 2
		case c == q && s.pos+1 < len(s.src) && s.src[s.pos+1] == q:
			if kind == tokIdent {
				val.WriteByte(q)
			}
			s.pos += 2
		case c == q:
			s.pos++
			return token{kind: kind, start: start, end: s.pos, val: val.String()}, nil
		default:
			if kind == tokIdent {
				val.WriteByte(c)
			}
			s.pos++
		}
	}
	what := "string"
	if kind == tokIdent {
		what = "quoted identifier"
	}
	return token{}, s.errAt(open, "unterminated %s (opened with %c)", what, q)
}

// dollarTag reads a PostgreSQL dollar-quote opener ($$ or $tag$) at s.pos.
func (s *scanner) dollarTag() (string, bool) {
	i := s.pos + 1
	if i < len(s.src) && s.src[i] == '$' {
		return "$$", true
	}
	if i >= len(s.src) || !isWordStart(s.src[i]) {
		return "", false
	}
	for i < len(s.src) && isWordByte(s.src[i]) && s.src[i] != '$' {
		i++
	}
	if i < len(s.src) && s.src[i] == '$' {
		return s.src[s.pos : i+1], true
	}
	return "", false
}

// peekWord returns the next token without consuming it.
func (s *scanner) peek() token {
	saved := s.pos
	t, err := s.next()
	s.pos = saved
	if err != nil {
		return token{kind: tokEOF}
	}
	return t
}

// delimiterCommand reads MySQL's client command "DELIMITER xx" at s.pos,
// which changes the statement delimiter until the next such command.
func (s *scanner) delimiterCommand() (bool, error) {
	const cmd = "DELIMITER"
	rest := s.src[s.pos:]
	if len(rest) <= len(cmd) || !strings.EqualFold(rest[:len(cmd)], cmd) || (rest[len(cmd)] != ' ' && rest[len(cmd)] != '\t') {
		return false, nil
	}
	line := rest[len(cmd):]
	if i := strings.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	d := strings.TrimSpace(line)
	if d == "" || strings.ContainsAny(d, " \t") || strings.Contains(d, "\\") {
		return true, s.errAt(s.pos, "DELIMITER needs one delimiter without spaces or backslashes")
	}
	s.pos += len(cmd) + len(line)
	s.delim = d
	return true, nil
}

// block follows BEGIN ... END bodies of routines and triggers, inside
// which a semicolon does not end the statement.
type block struct {
	engine  Engine
	first   string
	routine bool
	depth   int
	parens  int
	prev    string
	opened  int
}

// see updates the block state for token t; s is used to look ahead.
func (b *block) see(t token, s *scanner) {
	switch {
	case t.punct("("):
		b.parens++
	case t.punct(")"):
		b.parens--
	}
	if t.kind != tokWord {
		b.prev = ""
		return
	}
	w := t.val
	defer func() { b.prev = w }()
	if b.first == "" {
		b.first = w
		return
	}
	if b.first != "CREATE" {
		return
	}
	if !b.routine {
		switch w {
		case "PROCEDURE", "FUNCTION", "TRIGGER", "EVENT":
			b.routine = b.parens == 0 && (b.engine != SQLite || w == "TRIGGER")
		}
		return
	}
	if b.depth == 0 {
		switch {
		case b.engine == Postgres && w == "ATOMIC" && b.prev == "BEGIN":
			b.depth, b.opened = 1, t.start
		case b.engine != Postgres && w == "BEGIN":
			b.depth, b.opened = 1, t.start
		}
		return
	}
	switch w {
	case "BEGIN":
		b.depth++
	case "CASE":
		if b.prev != "END" {
			b.depth++
		}
	case "END":
		if b.engine == MySQL {
			if n := s.peek(); n.is("IF") || n.is("LOOP") || n.is("WHILE") || n.is("REPEAT") {
				return
			}
		}
		b.depth--
	}
}

// splitTokens cuts src into statements, each a non-empty list of tokens.
func splitTokens(engine Engine, src string) ([][]token, error) {
	s := &scanner{engine: engine, src: src, delim: ";"}
	var stmts [][]token
	var cur []token
	b := &block{engine: engine}
	end := func() {
		if len(cur) > 0 {
			stmts = append(stmts, cur)
			// The next statement is likely as long: save regrowing.
			cur = make([]token, 0, len(cur))
		}
		b = &block{engine: engine}
	}
	for {
		if engine == MySQL && len(cur) == 0 {
			if err := s.skipSpace(); err != nil {
				return nil, err
			}
			ok, err := s.delimiterCommand()
			if err != nil {
				return nil, err
			}
			if ok {
				continue
			}
		}
		t, err := s.next()
		if err != nil {
			return nil, err
		}
		switch {
		case t.kind == tokEOF:
			if b.depth > 0 && s.delim == ";" {
				return nil, s.errAt(b.opened, "unterminated BEGIN ... END block")
			}
			end()
			return stmts, nil
		case t.kind == tokDelim:
			end()
			continue
		case t.punct(";") && s.delim == ";" && b.depth == 0:
			end()
			continue
		}
		b.see(t, s)
		cur = append(cur, t)
	}
}

// positions turns byte offsets into 1-based line and character columns.
type positions struct {
	src   string
	lines []int
}

func newPositions(src string) positions {
	p := positions{src: src, lines: []int{0}}
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			p.lines = append(p.lines, i+1)
		}
	}
	return p
}

func (p positions) at(off int) (line, col int) {
	lo, hi := 0, len(p.lines)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if p.lines[mid] <= off {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo + 1, utf8.RuneCountInString(p.src[p.lines[lo]:off]) + 1
}
