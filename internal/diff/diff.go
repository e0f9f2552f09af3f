// Package diff compares two versions of a target's text (a service's pod
// template, a config's content): it finds the changed lines, the changed
// characters inside them, and, for structured formats, the changed keys.
// Its results are view models that the diff templates render as they are.
package diff

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sergi/go-diff/diffmatchpatch"
)

// Kind says how a line, a side-by-side row or a key differs between the old
// and the new version.
type Kind string

// The kinds of lines, rows and keys.
const (
	// KindEqual is a line present unchanged in both versions.
	KindEqual Kind = "equal"
	// KindAdded is a line or key only in the new version.
	KindAdded Kind = "added"
	// KindRemoved is a line or key only in the old version.
	KindRemoved Kind = "removed"
	// KindChanged is a side-by-side row whose old line became its new line,
	// or a key whose value changed.
	KindChanged Kind = "changed"
	// KindGap is a side-by-side row that stands for unchanged lines left out.
	KindGap Kind = "gap"
)

// Defaults used by DefaultOptions and for unset size bounds.
const (
	// DefaultContext is the unchanged lines shown around a change.
	DefaultContext = 3
	// DefaultMaxBytes is the largest version diffed: 1 MiB.
	DefaultMaxBytes = 1 << 20
	// DefaultMaxLines is the most lines a diffed version may have.
	DefaultMaxLines = 20000
)

// Bounds on the character-level work, so that very long or wholly rewritten
// lines cannot make a diff slow. Past them a pair of lines is still shown,
// with a coarser highlight.
const (
	// inlineMaxRunes caps the runes of a line pair left to compare after
	// their common prefix and suffix are set aside.
	inlineMaxRunes = 1000
	// inlineBudgetRunes caps those runes over a whole Compute call.
	inlineBudgetRunes = 250000
	// inlineMinSimilarity is the share of unchanged characters below which
	// a pair is shown without a character highlight: it is a rewrite.
	inlineMinSimilarity = 0.4
	// lineTimeout and inlineTimeout are safety nets for diffmatchpatch.
	lineTimeout   = time.Second
	inlineTimeout = 100 * time.Millisecond
	// maxLinesLimit caps Options.MaxLines.
	maxLinesLimit = 500000
)

// Options bound how much of a diff is computed and shown.
type Options struct {
	// Context is how many unchanged lines are shown around each change.
	// A negative value means none.
	Context int
	// MaxBytes is the largest version, in bytes, that is diffed; above it
	// the result is TooLarge. Zero or less means DefaultMaxBytes.
	MaxBytes int
	// MaxLines is the most lines a version may have to be diffed; above it
	// the result is TooLarge. Zero or less means DefaultMaxLines; values
	// above 500,000 count as 500,000.
	MaxLines int
}

// DefaultOptions returns the options the pages use: 3 lines of context,
// versions of up to 1 MiB and 20,000 lines.
func DefaultOptions() Options {
	return Options{Context: DefaultContext, MaxBytes: DefaultMaxBytes, MaxLines: DefaultMaxLines}
}

// Segment is a run of characters of one line, marked when it is among the
// characters that changed.
type Segment struct {
	Text    string
	Changed bool
}

// Line is one line of a unified diff. OldNum and NewNum are 1-based line
// numbers in the old and new version, 0 where the line is not in that version.
type Line struct {
	Kind     Kind
	OldNum   int
	NewNum   int
	Segments []Segment
}

// Text returns the line's whole text.
func (l Line) Text() string {
	return joinSegments(l.Segments)
}

// Hunk is one group of nearby changes with their context, as in a unified
// diff. Starts are 1-based; a side with no lines starts at the line before.
type Hunk struct {
	OldStart int
	OldLines int
	NewStart int
	NewLines int
	// Header is the hunk's unified-diff header, such as "@@ -3,7 +3,8 @@".
	Header string
	// SkippedBefore counts the unchanged lines left out before this hunk.
	SkippedBefore int
	Lines         []Line
}

// Cell is one side of a side-by-side row. Num is the 1-based line number,
// 0 when the side is empty.
type Cell struct {
	Num      int
	Segments []Segment
}

// Row is one row of a side-by-side diff: the old line on the Left, the new
// line on the Right. A KindGap row holds no lines: Skipped unchanged lines
// were left out before the hunk whose header is Header (empty at the end).
type Row struct {
	Kind    Kind
	Left    Cell
	Right   Cell
	Skipped int
	Header  string
}

// Stats counts the changed lines.
type Stats struct {
	Added   int
	Removed int
}

// Result is the diff of two versions' texts, ready to show.
type Result struct {
	// Identical is true when the two texts are byte for byte the same.
	Identical bool
	// TooLarge is true when a version exceeds the size bounds; the result
	// then carries no hunks or rows.
	TooLarge bool
	// Bytes is the combined size of both texts.
	Bytes int
	// OldLines and NewLines count the lines of each version.
	OldLines int
	NewLines int
	Stats    Stats
	// Hunks is the unified view.
	Hunks []Hunk
	// Rows is the side-by-side view of the same hunks.
	Rows []Row
	// SkippedAfter counts the unchanged lines left out after the last hunk.
	SkippedAfter int
	// Notes tell of differences that no line shows: line endings, and a
	// missing newline at the end of the file.
	Notes []string
}

// HasLineChanges reports whether any line was added or removed.
func (r *Result) HasLineChanges() bool {
	return r != nil && (r.Stats.Added > 0 || r.Stats.Removed > 0)
}

// Compute diffs oldText against newText, line by line and, inside changed
// lines, character by character. Lines are compared without their line
// endings; differences in line endings are reported in Notes.
func Compute(oldText, newText string, opt Options) *Result {
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = DefaultMaxBytes
	}
	if opt.MaxLines <= 0 {
		opt.MaxLines = DefaultMaxLines
	}
	// Each distinct line becomes one rune; both versions together must
	// stay well inside the runes there are.
	opt.MaxLines = min(opt.MaxLines, maxLinesLimit)
	if opt.Context < 0 {
		opt.Context = 0
	}

	res := &Result{Bytes: len(oldText) + len(newText)}
	if oldText == newText {
		res.Identical = true
		res.OldLines = countLines(oldText)
		res.NewLines = res.OldLines
		return res
	}
	if len(oldText) > opt.MaxBytes || len(newText) > opt.MaxBytes ||
		countLines(oldText) > opt.MaxLines || countLines(newText) > opt.MaxLines {
		res.TooLarge = true
		return res
	}

	oldT, newT := splitLines(oldText), splitLines(newText)
	res.OldLines, res.NewLines = len(oldT.lines), len(newT.lines)

	ops := lineOps(oldT, newT)
	c := &computer{ops: ops, oldT: oldT, newT: newT, budget: inlineBudgetRunes}
	c.pairChanges()
	for _, o := range ops {
		switch o.kind {
		case KindAdded:
			res.Stats.Added++
		case KindRemoved:
			res.Stats.Removed++
		}
	}
	res.Hunks, res.SkippedAfter = c.hunks(opt.Context)
	res.Rows = rows(res.Hunks, res.SkippedAfter)
	res.Notes = notes(oldT, newT, ops)
	return res
}

// textLines is a text cut into lines without their line endings.
type textLines struct {
	lines []string
	// crlf marks the lines that ended in "\r\n".
	crlf []bool
	// finalNewline is true when the last line ends with a line ending.
	finalNewline bool
}

func countLines(s string) int {
	n := strings.Count(s, "\n")
	if s != "" && !strings.HasSuffix(s, "\n") {
		n++
	}
	return n
}

func splitLines(s string) textLines {
	n := countLines(s)
	t := textLines{lines: make([]string, 0, n), crlf: make([]bool, 0, n)}
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			t.lines = append(t.lines, s)
			t.crlf = append(t.crlf, false)
			return t
		}
		line, cr := s[:i], false
		if strings.HasSuffix(line, "\r") {
			line, cr = line[:len(line)-1], true
		}
		t.lines = append(t.lines, line)
		t.crlf = append(t.crlf, cr)
		s = s[i+1:]
	}
	t.finalNewline = len(t.lines) > 0
	return t
}

// op is one line of the full diff: oldIdx and newIdx are 0-based indexes
// into the versions' lines, -1 where the line is not in that version.
// pair is the index of the op this changed line is paired with, or -1.
type op struct {
	kind   Kind
	oldIdx int
	newIdx int
	pair   int
}

// lineOps diffs the lines by mapping each distinct line to one rune, so
// that diffmatchpatch compares whole lines as single characters. Lines found
// in one version only can never match; as GNU diff does, they are left out
// of the search, which keeps wholly rewritten texts fast.
func lineOps(oldT, newT textLines) []op {
	ids := make(map[string]int, len(oldT.lines)+len(newT.lines))
	encode := func(lines []string) []int {
		out := make([]int, len(lines))
		for i, l := range lines {
			id, ok := ids[l]
			if !ok {
				id = len(ids)
				ids[l] = id
			}
			out[i] = id
		}
		return out
	}
	idsA, idsB := encode(oldT.lines), encode(newT.lines)

	const inOld, inNew = 1, 2
	seen := make([]uint8, len(ids))
	for _, id := range idsA {
		seen[id] |= inOld
	}
	for _, id := range idsB {
		seen[id] |= inNew
	}
	keep := func(idsX []int, other uint8) (runes []rune, orig []int) {
		for i, id := range idsX {
			if seen[id]&other != 0 {
				runes = append(runes, lineRune(id))
				orig = append(orig, i)
			}
		}
		return runes, orig
	}
	ra, origA := keep(idsA, inNew)
	rb, origB := keep(idsB, inOld)

	dmp := diffmatchpatch.New()
	dmp.DiffTimeout = lineTimeout
	diffs := dmp.DiffMainRunes(ra, rb, false)

	// Walk the matched lines; the lines between two matches are removed
	// (old) then added (new).
	ops := make([]op, 0, max(len(idsA), len(idsB)))
	oi, ni := 0, 0
	changesUpTo := func(oldEnd, newEnd int) {
		for ; oi < oldEnd; oi++ {
			ops = append(ops, op{kind: KindRemoved, oldIdx: oi, newIdx: -1, pair: -1})
		}
		for ; ni < newEnd; ni++ {
			ops = append(ops, op{kind: KindAdded, oldIdx: -1, newIdx: ni, pair: -1})
		}
	}
	x, y := 0, 0
	for _, d := range diffs {
		n := utf8.RuneCountInString(d.Text)
		switch d.Type {
		case diffmatchpatch.DiffEqual:
			for range n {
				changesUpTo(origA[x], origB[y])
				ops = append(ops, op{kind: KindEqual, oldIdx: oi, newIdx: ni, pair: -1})
				oi, ni, x, y = oi+1, ni+1, x+1, y+1
			}
		case diffmatchpatch.DiffDelete:
			x += n
		case diffmatchpatch.DiffInsert:
			y += n
		}
	}
	changesUpTo(len(idsA), len(idsB))
	return ops
}

// lineRune maps the n-th distinct line to a valid rune, stepping over the
// surrogate range so that every rune survives a string round trip.
func lineRune(n int) rune {
	if n >= 0xD800 {
		n += 0x800
	}
	return rune(n)
}

// computer holds the state of one Compute call.
type computer struct {
	ops        []op
	oldT, newT textLines
	budget     int
	dmp        *diffmatchpatch.DiffMatchPatch
}

// pairChanges pairs, in each run of changed lines, the i-th removed line
// with the i-th added line, so their characters can be compared.
func (c *computer) pairChanges() {
	ops := c.ops
	for i := 0; i < len(ops); {
		if ops[i].kind == KindEqual {
			i++
			continue
		}
		var del, ins []int
		j := i
		for ; j < len(ops) && ops[j].kind != KindEqual; j++ {
			if ops[j].kind == KindRemoved {
				del = append(del, j)
			} else {
				ins = append(ins, j)
			}
		}
		for k := 0; k < len(del) && k < len(ins); k++ {
			ops[del[k]].pair = ins[k]
			ops[ins[k]].pair = del[k]
		}
		i = j
	}
}

func (c *computer) text(o op) string {
	if o.oldIdx >= 0 {
		return c.oldT.lines[o.oldIdx]
	}
	return c.newT.lines[o.newIdx]
}

// hunks groups the changes whose context overlaps or touches, and returns
// them with the count of unchanged lines after the last one.
func (c *computer) hunks(context int) ([]Hunk, int) {
	ops := c.ops
	n := len(ops)
	var hunks []Hunk
	// segs holds the inline segments of removed lines, computed with
	// their paired added line.
	segs := make(map[int][]Segment)
	last := 0
	for i := 0; i < n; {
		if ops[i].kind == KindEqual {
			i++
			continue
		}
		start := max(0, i-context)
		j := i
		end := n
		for {
			for j < n && ops[j].kind != KindEqual {
				j++
			}
			k := j
			for k < n && ops[k].kind == KindEqual {
				k++
			}
			if k < n && k-j <= 2*context {
				j = k
				continue
			}
			end = min(j+context, n)
			break
		}
		hunks = append(hunks, c.hunk(start, end, start-last, segs))
		last = end
		i = end
	}
	return hunks, n - last
}

func (c *computer) hunk(start, end, skipped int, segs map[int][]Segment) Hunk {
	h := Hunk{SkippedBefore: skipped, Lines: make([]Line, 0, end-start)}
	oldBefore, newBefore := c.positions(start)
	for idx := start; idx < end; idx++ {
		o := c.ops[idx]
		l := Line{Kind: o.kind}
		if o.oldIdx >= 0 {
			l.OldNum = o.oldIdx + 1
			h.OldLines++
		}
		if o.newIdx >= 0 {
			l.NewNum = o.newIdx + 1
			h.NewLines++
		}
		switch {
		case o.kind == KindEqual || o.pair < 0:
			l.Segments = plain(c.text(o))
		case o.kind == KindRemoved:
			a, b := c.inline(c.text(o), c.text(c.ops[o.pair]))
			l.Segments = a
			segs[o.pair] = b
		default:
			l.Segments = segs[idx]
			delete(segs, idx)
		}
		h.Lines = append(h.Lines, l)
	}
	h.OldStart = oldBefore
	if h.OldLines > 0 {
		h.OldStart++
	}
	h.NewStart = newBefore
	if h.NewLines > 0 {
		h.NewStart++
	}
	h.Header = fmt.Sprintf("@@ -%s +%s @@", rangeText(h.OldStart, h.OldLines), rangeText(h.NewStart, h.NewLines))
	return h
}

// positions counts the old and new lines before the op at idx: the index
// of the first line at or after it on each side.
func (c *computer) positions(idx int) (oldBefore, newBefore int) {
	oldBefore, newBefore = -1, -1
	for i := idx; i < len(c.ops) && (oldBefore < 0 || newBefore < 0); i++ {
		if o := c.ops[i]; oldBefore < 0 && o.oldIdx >= 0 {
			oldBefore = o.oldIdx
		}
		if o := c.ops[i]; newBefore < 0 && o.newIdx >= 0 {
			newBefore = o.newIdx
		}
	}
	if oldBefore < 0 {
		oldBefore = len(c.oldT.lines)
	}
	if newBefore < 0 {
		newBefore = len(c.newT.lines)
	}
	return oldBefore, newBefore
}

// rangeText writes a hunk range as unified diffs do: "start" for one line,
// "start,count" otherwise.
func rangeText(start, count int) string {
	if count == 1 {
		return fmt.Sprint(start)
	}
	return fmt.Sprintf("%d,%d", start, count)
}

func plain(s string) []Segment {
	if s == "" {
		return nil
	}
	return []Segment{{Text: s}}
}

func joinSegments(segs []Segment) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteString(s.Text)
	}
	return b.String()
}

// rows lays the hunks out side by side, pairing removed and added lines.
func rows(hunks []Hunk, skippedAfter int) []Row {
	size := 1
	for _, h := range hunks {
		size += len(h.Lines) + 1
	}
	out := make([]Row, 0, size)
	var del, ins []Line
	for _, h := range hunks {
		if h.SkippedBefore > 0 {
			out = append(out, Row{Kind: KindGap, Skipped: h.SkippedBefore, Header: h.Header})
		}
		for i := 0; i < len(h.Lines); {
			l := h.Lines[i]
			if l.Kind == KindEqual {
				out = append(out, Row{
					Kind:  KindEqual,
					Left:  Cell{Num: l.OldNum, Segments: l.Segments},
					Right: Cell{Num: l.NewNum, Segments: l.Segments},
				})
				i++
				continue
			}
			j := i
			del, ins = del[:0], ins[:0]
			for ; j < len(h.Lines) && h.Lines[j].Kind != KindEqual; j++ {
				if h.Lines[j].Kind == KindRemoved {
					del = append(del, h.Lines[j])
				} else {
					ins = append(ins, h.Lines[j])
				}
			}
			for k := 0; k < max(len(del), len(ins)); k++ {
				r := Row{}
				if k < len(del) {
					r.Left = Cell{Num: del[k].OldNum, Segments: del[k].Segments}
				}
				if k < len(ins) {
					r.Right = Cell{Num: ins[k].NewNum, Segments: ins[k].Segments}
				}
				switch {
				case k < len(del) && k < len(ins):
					r.Kind = KindChanged
				case k < len(del):
					r.Kind = KindRemoved
				default:
					r.Kind = KindAdded
				}
				out = append(out, r)
			}
			i = j
		}
	}
	if len(hunks) > 0 && skippedAfter > 0 {
		out = append(out, Row{Kind: KindGap, Skipped: skippedAfter})
	}
	return out
}

// notes describes the differences that lines compared without their line
// endings cannot show.
func notes(oldT, newT textLines, ops []op) []string {
	var out []string
	changedEOL := 0
	for _, o := range ops {
		if o.kind == KindEqual && oldT.crlf[o.oldIdx] != newT.crlf[o.newIdx] {
			changedEOL++
		}
	}
	if changedEOL > 0 {
		out = append(out, fmt.Sprintf("Line endings changed on %d unchanged %s (old: %s, new: %s).",
			changedEOL, plural(changedEOL, "line", "lines"), eolStyle(oldT), eolStyle(newT)))
	}
	if len(oldT.lines) > 0 && len(newT.lines) > 0 && oldT.finalNewline != newT.finalNewline {
		if oldT.finalNewline {
			out = append(out, "The new version has no newline at end of file.")
		} else {
			out = append(out, "The old version has no newline at end of file.")
		}
	}
	return out
}

func eolStyle(t textLines) string {
	crlf, lf := 0, 0
	for i := range t.lines {
		if i == len(t.lines)-1 && !t.finalNewline {
			break
		}
		if t.crlf[i] {
			crlf++
		} else {
			lf++
		}
	}
	switch {
	case crlf > 0 && lf > 0:
		return "mixed"
	case crlf > 0:
		return "CRLF"
	default:
		return "LF"
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
