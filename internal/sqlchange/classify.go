package sqlchange

import (
	"strings"
)

// TableName is a table as a statement names it: Schema is empty when the
// statement does not qualify the name (MySQL: the database; PostgreSQL: the
// schema; SQLite: the attached database).
type TableName struct {
	Schema string `json:"schema,omitempty"`
	Name   string `json:"name"`
}

// String shows the name as schema.name, unquoted.
func (t TableName) String() string {
	if t.Schema == "" {
		return t.Name
	}
	return t.Schema + "." + t.Name
}

// plan is what Rewind reads from one statement: its kind and, for a
// single-table UPDATE, DELETE or INSERT, the parts needed to save rows.
type plan struct {
	sql  string
	kind Kind
	verb string

	table    TableName
	hasTable bool
	fromText string // the table reference as written (with ONLY, alias, INDEXED BY)
	where    string // the WHERE condition, without the keyword
	orderBy  string // MySQL/SQLite: "ORDER BY ..." as written
	limit    string // MySQL/SQLite: "LIMIT ..." as written
	noSave   string // why rows cannot be saved; empty when they can

	setCols       []string // UPDATE: assigned columns
	insertCols    []string // INSERT: the column list, nil when absent
	hasColumnList bool
	returning     bool // the statement has its own RETURNING clause
	ignore        bool // MySQL INSERT IGNORE

	txControl      bool   // BEGIN, COMMIT, ... which would break Rewind's own transaction
	noTx           string // PostgreSQL/SQLite: why it cannot run inside a transaction
	implicitCommit string // MySQL: why it cannot run inside a transaction
	returnsRows    bool   // read with a query rather than an exec
	schemas        []string

	// refused says why Rewind will not run the statement at all (it would
	// change how the server reads the statements after it, or hides code
	// in a comment); empty when it may run.
	refused string
	// calls lists the names the statement calls as functions.
	calls []string
	// notProvable says why the statement, whatever the database holds,
	// cannot be proved to stay inside a transaction; empty when it may.
	notProvable string
	// explainable says PostgreSQL can plan the statement with EXPLAIN.
	explainable bool
	// sequence says a MariaDB statement takes a sequence's value.
	sequence bool
}

func (p *plan) tableDisplay() string {
	if !p.hasTable {
		return ""
	}
	return p.table.String()
}

// clauseWords end a table reference: a bare word among them is not an alias.
var clauseWords = map[string]bool{
	"SET": true, "WHERE": true, "USING": true, "FROM": true, "ORDER": true, "LIMIT": true,
	"RETURNING": true, "INDEXED": true, "NOT": true, "PARTITION": true, "JOIN": true,
	"INNER": true, "LEFT": true, "RIGHT": true, "CROSS": true, "NATURAL": true,
	"STRAIGHT_JOIN": true, "FULL": true, "OUTER": true, "ON": true, "VALUES": true,
	"VALUE": true, "SELECT": true, "DEFAULT": true, "WITH": true, "OVERRIDING": true,
	"USE": true, "FORCE": true, "IGNORE": true, "TABLE": true, "AS": true,
}

// analyzer walks the tokens of one statement.
type analyzer struct {
	engine Engine
	src    string
	toks   []token
	depth  []int // parenthesis depth before each token
}

// analyze classifies one statement (src holds it, toks are its tokens)
// and, for UPDATE, DELETE and INSERT, finds what saving rows needs.
func analyze(engine Engine, src string, toks []token) *plan {
	a := &analyzer{engine: engine, src: src, toks: toks, depth: make([]int, len(toks))}
	d := 0
	for i, t := range toks {
		if t.punct(")") {
			d--
		}
		a.depth[i] = d
		if t.punct("(") {
			d++
		}
	}
	p := &plan{kind: KindOther, sql: src[toks[0].start:toks[len(toks)-1].end]}
	first := toks[0]
	if first.kind == tokWord {
		p.verb = first.val
	}
	p.schemas = a.qualifiers()
	switch {
	case first.punct("("):
		p.kind, p.returnsRows = KindSelect, true
	case p.verb == "SELECT" || p.verb == "VALUES" || p.verb == "TABLE":
		p.kind, p.returnsRows = KindSelect, true
	case p.verb == "WITH":
		p.kind = a.withKind()
		p.returnsRows = p.kind == KindSelect
		p.noSave = "statements that start with WITH are not analysed"
	case p.verb == "INSERT" || p.verb == "REPLACE":
		p.kind = KindInsert
		a.insert(p)
	case p.verb == "UPDATE":
		p.kind = KindUpdate
		a.update(p)
	case p.verb == "DELETE":
		p.kind = KindDelete
		a.delete(p)
	case p.verb == "CREATE" || p.verb == "ALTER" || p.verb == "DROP" || p.verb == "TRUNCATE" ||
		p.verb == "RENAME" || p.verb == "COMMENT" || p.verb == "GRANT" || p.verb == "REVOKE":
		p.kind = KindDDL
		a.ddlTable(p)
	case p.verb == "SHOW" || p.verb == "EXPLAIN" || p.verb == "DESCRIBE" || p.verb == "DESC" ||
		p.verb == "PRAGMA" || p.verb == "HELP":
		p.returnsRows = true
	}
	a.transactionRules(p)
	p.calls = a.calls()
	a.lexingRules(p)
	a.provableRules(p)
	return p
}

// word returns token i's upper-cased word, or "" when it is not a word.
func (a *analyzer) word(i int) string {
	if i < len(a.toks) && a.toks[i].kind == tokWord {
		return a.toks[i].val
	}
	return ""
}

func (a *analyzer) punct(i int, c string) bool {
	return i < len(a.toks) && a.toks[i].punct(c)
}

// text returns the source from token i to just before token j.
func (a *analyzer) text(i, j int) string {
	if i >= len(a.toks) || i >= j {
		return ""
	}
	end := a.toks[len(a.toks)-1].end
	if j < len(a.toks) {
		end = a.toks[j-1].end
	}
	return a.src[a.toks[i].start:end]
}

// identPart reads token i as one part of a name.
func (a *analyzer) identPart(i int) (string, bool) {
	if i >= len(a.toks) {
		return "", false
	}
	t := a.toks[i]
	switch t.kind {
	case tokIdent:
		return t.val, true
	case tokWord:
		raw := a.src[t.start:t.end]
		if a.engine == Postgres {
			raw = asciiLower(raw)
		}
		return raw, true
	}
	return "", false
}

// name reads a possibly qualified name at token i.
func (a *analyzer) name(i int) (TableName, int, bool) {
	var parts []string
	for {
		part, ok := a.identPart(i)
		if !ok || (a.toks[i].kind == tokWord && clauseWords[a.toks[i].val]) {
			return TableName{}, i, false
		}
		parts = append(parts, part)
		i++
		if !a.punct(i, ".") {
			break
		}
		i++
	}
	if len(parts) > 3 || (len(parts) == 3 && a.engine != Postgres) {
		return TableName{}, i, false
	}
	n := TableName{Name: parts[len(parts)-1]}
	if len(parts) > 1 {
		n.Schema = parts[len(parts)-2]
	}
	return n, i, true
}

// alias skips an optional [AS] alias after a table name.
func (a *analyzer) alias(i int) int {
	if a.word(i) == "AS" {
		if _, ok := a.identPart(i + 1); ok {
			return i + 2
		}
		return i
	}
	if i < len(a.toks) && (a.toks[i].kind == tokIdent || (a.toks[i].kind == tokWord && !clauseWords[a.toks[i].val])) {
		return i + 1
	}
	return i
}

// tableRef reads the single table an UPDATE or DELETE writes, starting at i
// (after any modifiers), and fills p.table and p.fromText.
func (a *analyzer) tableRef(p *plan, i int) (int, bool) {
	start := i
	if a.engine == Postgres && a.word(i) == "ONLY" {
		i++
	}
	n, j, ok := a.name(i)
	if !ok {
		return i, false
	}
	p.table, p.hasTable = n, true
	i = j
	if a.engine == Postgres && a.punct(i, "*") {
		i++
	}
	i = a.alias(i)
	if a.engine == SQLite {
		switch {
		case a.word(i) == "INDEXED" && a.word(i+1) == "BY":
			i += 3
		case a.word(i) == "NOT" && a.word(i+1) == "INDEXED":
			i += 2
		}
	}
	p.fromText = a.text(start, i)
	return i, true
}

// clauses finds the top-level clause keywords from token i on.
func (a *analyzer) clauses(i int) map[string]int {
	at := map[string]int{}
	for ; i < len(a.toks); i++ {
		if a.depth[i] != 0 || a.toks[i].kind != tokWord {
			continue
		}
		w := a.toks[i].val
		switch w {
		case "ORDER":
			if a.word(i+1) != "BY" {
				continue
			}
		case "WHERE", "LIMIT", "RETURNING", "FROM", "USING", "JOIN":
		default:
			continue
		}
		if _, seen := at[w]; !seen {
			at[w] = i
		}
	}
	return at
}

// tail fills where, orderBy and limit from the top-level clause positions at.
func (a *analyzer) tail(p *plan, at map[string]int) {
	next := func(from int) int {
		end := len(a.toks)
		for _, w := range []string{"ORDER", "LIMIT", "RETURNING"} {
			if j, ok := at[w]; ok && j > from && j < end {
				end = j
			}
		}
		return end
	}
	if w, ok := at["WHERE"]; ok {
		if next(-1) < w {
			p.noSave = "the WHERE clause comes after ORDER BY, LIMIT or RETURNING"
			return
		}
		if a.word(w+1) == "CURRENT" && a.word(w+2) == "OF" {
			p.noSave = "WHERE CURRENT OF a cursor cannot be read ahead"
			return
		}
		p.where = a.text(w+1, next(w))
		if strings.TrimSpace(p.where) == "" {
			p.noSave = "the WHERE clause is empty"
			return
		}
	}
	r, hasRet := at["RETURNING"]
	p.returning = hasRet
	o, hasOrder := at["ORDER"]
	l, hasLimit := at["LIMIT"]
	if hasRet && ((hasOrder && o > r) || (hasLimit && l > r)) {
		p.noSave = "ORDER BY or LIMIT after RETURNING is not understood"
		return
	}
	if hasOrder {
		p.orderBy = a.text(o, next(o))
	}
	if hasLimit {
		p.limit = a.text(l, next(l))
		if !hasOrder {
			p.noSave = "LIMIT without ORDER BY picks rows in no fixed order"
		}
	}
}

func (a *analyzer) update(p *plan) {
	i := 1
	for {
		w := a.word(i)
		if a.engine == MySQL && (w == "LOW_PRIORITY" || w == "IGNORE") {
			i++
			continue
		}
		if a.engine == SQLite && w == "OR" {
			if a.word(i+1) == "REPLACE" {
				p.noSave = "UPDATE OR REPLACE can delete other rows"
			}
			i += 2
			continue
		}
		break
	}
	i, ok := a.tableRef(p, i)
	if !ok {
		p.noSave = "cannot read the table name"
		return
	}
	if a.punct(i, ",") || a.word(i) != "SET" {
		p.noSave = "UPDATE of several tables or joined tables"
		return
	}
	at := a.clauses(i)
	if _, ok := at["FROM"]; ok {
		p.noSave = "UPDATE ... FROM joins other tables"
		return
	}
	if _, ok := at["JOIN"]; ok {
		p.noSave = "UPDATE with JOIN"
		return
	}
	setEnd := len(a.toks)
	for _, w := range []string{"WHERE", "ORDER", "LIMIT", "RETURNING"} {
		if j, ok := at[w]; ok && j < setEnd {
			setEnd = j
		}
	}
	p.setCols = a.assignedColumns(i+1, setEnd)
	if p.noSave == "" {
		a.tail(p, at)
	}
}

// assignedColumns returns the columns that SET assigns between tokens i and end.
func (a *analyzer) assignedColumns(i, end int) []string {
	var cols []string
	target := true
	for ; i < end; i++ {
		t := a.toks[i]
		switch {
		case a.depth[i] == 0 && t.punct(","):
			target = true
		case a.depth[i] == 0 && t.punct("="):
			target = false
		case target && (t.kind == tokWord || t.kind == tokIdent):
			part, _ := a.identPart(i)
			if a.punct(i+1, ".") {
				continue
			}
			cols = append(cols, part)
		}
	}
	return cols
}

func (a *analyzer) delete(p *plan) {
	i := 1
	for a.engine == MySQL && (a.word(i) == "LOW_PRIORITY" || a.word(i) == "QUICK" || a.word(i) == "IGNORE") {
		i++
	}
	if a.word(i) != "FROM" {
		p.noSave = "DELETE of several tables"
		return
	}
	i, ok := a.tableRef(p, i+1)
	if !ok {
		p.noSave = "cannot read the table name"
		return
	}
	switch w := a.word(i); {
	case i == len(a.toks), w == "WHERE", w == "ORDER", w == "LIMIT", w == "RETURNING":
	case w == "USING":
		p.noSave = "DELETE ... USING joins other tables"
		return
	default:
		p.noSave = "DELETE of several tables or an unknown clause after the table"
		return
	}
	a.tail(p, a.clauses(i))
}

func (a *analyzer) insert(p *plan) {
	i := 1
	if p.verb == "REPLACE" {
		p.noSave = "REPLACE can delete rows"
	}
	for {
		w := a.word(i)
		switch {
		case a.engine == MySQL && (w == "LOW_PRIORITY" || w == "DELAYED" || w == "HIGH_PRIORITY"):
			i++
			continue
		case a.engine == MySQL && w == "IGNORE":
			p.ignore = true
			i++
			continue
		case a.engine == SQLite && w == "OR":
			if a.word(i+1) == "REPLACE" {
				p.noSave = "INSERT OR REPLACE can delete rows"
			}
			i += 2
			continue
		}
		break
	}
	if a.word(i) == "INTO" {
		i++
	}
	n, j, ok := a.name(i)
	if !ok {
		p.noSave = "cannot read the table name"
		return
	}
	p.table, p.hasTable = n, true
	i = j
	if a.word(i) == "AS" {
		i += 2
	}
	if a.engine == MySQL && a.word(i) == "PARTITION" {
		p.noSave = "INSERT ... PARTITION is not analysed"
		return
	}
	if a.punct(i, "(") {
		if w := a.word(i + 1); w != "SELECT" && w != "WITH" && w != "VALUES" {
			p.hasColumnList = true
			for i++; i < len(a.toks) && a.depth[i] > 0; i++ {
				if part, ok := a.identPart(i); ok {
					p.insertCols = append(p.insertCols, part)
				}
			}
		}
	}
	if a.word(i) == "SET" {
		p.hasColumnList = false
	}
	for k := i; k < len(a.toks); k++ {
		if a.depth[k] != 0 {
			continue
		}
		switch {
		case a.word(k) == "ON" && a.word(k+1) == "DUPLICATE":
			p.noSave = "INSERT ... ON DUPLICATE KEY UPDATE can change existing rows"
		case a.word(k) == "ON" && a.word(k+1) == "CONFLICT":
			for m := k; m+1 < len(a.toks); m++ {
				if a.depth[m] == 0 && a.word(m) == "DO" && a.word(m+1) == "UPDATE" {
					p.noSave = "INSERT ... ON CONFLICT DO UPDATE can change existing rows"
				}
			}
		case a.word(k) == "RETURNING":
			p.returning = true
		}
	}
}

// withKind names the kind of the statement after a WITH list.
func (a *analyzer) withKind() Kind {
	for i := 1; i < len(a.toks); i++ {
		if a.depth[i] != 0 {
			continue
		}
		switch a.word(i) {
		case "SELECT", "VALUES", "TABLE":
			return KindSelect
		case "INSERT", "REPLACE":
			return KindInsert
		case "UPDATE":
			return KindUpdate
		case "DELETE":
			return KindDelete
		}
	}
	return KindOther
}

// ddlTable names the table of CREATE/ALTER/DROP/TRUNCATE TABLE.
func (a *analyzer) ddlTable(p *plan) {
	i := 1
	for {
		switch a.word(i) {
		case "OR", "REPLACE", "TEMPORARY", "TEMP", "UNLOGGED", "GLOBAL", "LOCAL":
			i++
			continue
		}
		break
	}
	if a.word(i) != "TABLE" && !(p.verb == "TRUNCATE") {
		return
	}
	if a.word(i) == "TABLE" {
		i++
	}
	if a.word(i) == "IF" {
		i += 2
		if a.word(i) == "EXISTS" {
			i++
		}
	}
	if a.word(i) == "ONLY" {
		i++
	}
	if n, _, ok := a.name(i); ok {
		p.table, p.hasTable = n, true
	}
}

// qualifiers lists X of every X.Y in the statement: on MySQL the databases
// it may name (or aliases, which match no database).
func (a *analyzer) qualifiers() []string {
	var out []string
	seen := map[string]bool{}
	for i := 0; i+2 < len(a.toks); i++ {
		if !a.punct(i+1, ".") {
			continue
		}
		if part, ok := a.identPart(i); ok && (i == 0 || !a.punct(i-1, ".")) && !seen[part] {
			seen[part] = true
			out = append(out, part)
		}
	}
	return out
}

// transactionRules marks statements that would end Rewind's transaction,
// cannot run in one, or (MySQL) commit implicitly.
func (a *analyzer) transactionRules(p *plan) {
	switch p.verb {
	case "BEGIN", "START", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "END", "ABORT", "XA":
		p.txControl = true
		return
	case "PREPARE":
		if a.word(1) == "TRANSACTION" {
			p.txControl = true
			return
		}
	case "SET":
		for i := range a.toks {
			if a.word(i) == "AUTOCOMMIT" {
				p.txControl = true
				return
			}
		}
	}
	switch a.engine {
	case Postgres:
		switch {
		case p.verb == "VACUUM":
			p.noTx = "VACUUM cannot run inside a transaction"
		case (p.verb == "CREATE" || p.verb == "DROP") && (a.word(1) == "DATABASE" || a.word(1) == "TABLESPACE"):
			p.noTx = p.verb + " " + a.word(1) + " cannot run inside a transaction"
		case p.verb == "ALTER" && a.word(1) == "SYSTEM":
			p.noTx = "ALTER SYSTEM cannot run inside a transaction"
		case p.verb == "CREATE" || p.verb == "DROP" || p.verb == "REINDEX":
			for i := range a.toks {
				if a.word(i) == "CONCURRENTLY" && a.depth[i] == 0 {
					p.noTx = p.verb + " ... CONCURRENTLY cannot run inside a transaction"
					break
				}
			}
		}
	case SQLite:
		switch p.verb {
		case "VACUUM", "ATTACH", "DETACH":
			p.noTx = p.verb + " cannot run inside a transaction"
		}
	case MySQL:
		switch {
		case p.kind == KindSelect || p.kind == KindInsert || p.kind == KindUpdate || p.kind == KindDelete:
		case p.verb == "SET" || p.verb == "DO" || p.verb == "SHOW" || p.verb == "EXPLAIN" ||
			p.verb == "DESCRIBE" || p.verb == "DESC" || p.verb == "HELP":
		case p.kind == KindDDL:
			p.implicitCommit = p.verb + " commits implicitly on MySQL/MariaDB"
		default:
			p.implicitCommit = p.verb + " may commit implicitly on MySQL/MariaDB"
		}
	}
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
