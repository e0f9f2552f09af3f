package diff

import (
	"unicode/utf8"

	"github.com/sergi/go-diff/diffmatchpatch"
)

// inline compares a removed line with the added line it became and returns
// the segments of each, the changed characters marked. It works on runes,
// so a multi-byte character is never cut. Lines that are not valid UTF-8,
// or that share too little to make a highlight useful, come back whole and
// unmarked.
func (c *computer) inline(oldLine, newLine string) (oldSegs, newSegs []Segment) {
	if oldLine == newLine || !utf8.ValidString(oldLine) || !utf8.ValidString(newLine) {
		return plain(oldLine), plain(newLine)
	}
	a, b := []rune(oldLine), []rune(newLine)
	pre := commonPrefix(a, b)
	suf := commonSuffix(a[pre:], b[pre:])
	midA, midB := a[pre:len(a)-suf], b[pre:len(b)-suf]

	var diffs []diffmatchpatch.Diff
	switch {
	case len(midA) == 0 || len(midB) == 0,
		len(midA)+len(midB) > inlineMaxRunes,
		len(midA)+len(midB) > c.budget:
		// Nothing to align, or too costly: the whole middle changed.
		diffs = wholeChange(midA, midB)
	default:
		c.budget -= len(midA) + len(midB)
		if c.dmp == nil {
			c.dmp = diffmatchpatch.New()
			c.dmp.DiffTimeout = inlineTimeout
		}
		diffs = c.dmp.DiffCleanupSemantic(c.dmp.DiffMainRunes(midA, midB, false))
	}

	same := pre + suf
	for _, d := range diffs {
		if d.Type == diffmatchpatch.DiffEqual {
			same += utf8.RuneCountInString(d.Text)
		}
	}
	if float64(2*same) < inlineMinSimilarity*float64(len(a)+len(b)) {
		return plain(oldLine), plain(newLine)
	}

	var oldB, newB segmentBuilder
	oldB.add(string(a[:pre]), false)
	newB.add(string(b[:pre]), false)
	for _, d := range diffs {
		switch d.Type {
		case diffmatchpatch.DiffEqual:
			oldB.add(d.Text, false)
			newB.add(d.Text, false)
		case diffmatchpatch.DiffDelete:
			oldB.add(d.Text, true)
		case diffmatchpatch.DiffInsert:
			newB.add(d.Text, true)
		}
	}
	oldB.add(string(a[len(a)-suf:]), false)
	newB.add(string(b[len(b)-suf:]), false)
	return oldB.segs, newB.segs
}

func wholeChange(a, b []rune) []diffmatchpatch.Diff {
	var diffs []diffmatchpatch.Diff
	if len(a) > 0 {
		diffs = append(diffs, diffmatchpatch.Diff{Type: diffmatchpatch.DiffDelete, Text: string(a)})
	}
	if len(b) > 0 {
		diffs = append(diffs, diffmatchpatch.Diff{Type: diffmatchpatch.DiffInsert, Text: string(b)})
	}
	return diffs
}

func commonPrefix(a, b []rune) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

func commonSuffix(a, b []rune) int {
	n := min(len(a), len(b))
	for i := 1; i <= n; i++ {
		if a[len(a)-i] != b[len(b)-i] {
			return i - 1
		}
	}
	return n
}

// segmentBuilder joins neighbouring runs of the same mark into one segment.
type segmentBuilder struct {
	segs []Segment
}

func (sb *segmentBuilder) add(text string, changed bool) {
	if text == "" {
		return
	}
	if n := len(sb.segs); n > 0 && sb.segs[n-1].Changed == changed {
		sb.segs[n-1].Text += text
		return
	}
	sb.segs = append(sb.segs, Segment{Text: text, Changed: changed})
}
