package diff

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// lineView is a compact form of a Line for comparing in tests.
type lineView struct {
	Kind   Kind
	OldNum int
	NewNum int
	Text   string
}

func viewLines(h Hunk) []lineView {
	out := make([]lineView, len(h.Lines))
	for i, l := range h.Lines {
		out[i] = lineView{l.Kind, l.OldNum, l.NewNum, l.Text()}
	}
	return out
}

func headers(r *Result) []string {
	var out []string
	for _, h := range r.Hunks {
		out = append(out, h.Header)
	}
	return out
}

func numbered(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.String()
}

func TestComputeHunks(t *testing.T) {
	tests := []struct {
		name         string
		old, new     string
		context      int
		wantHeaders  []string
		wantStats    Stats
		wantSkipped  []int
		wantAfter    int
		wantFirstHun []lineView
	}{
		{
			name:        "added at end of empty old",
			old:         "",
			new:         "a\nb\n",
			context:     3,
			wantHeaders: []string{"@@ -0,0 +1,2 @@"},
			wantStats:   Stats{Added: 2},
			wantSkipped: []int{0},
			wantFirstHun: []lineView{
				{KindAdded, 0, 1, "a"},
				{KindAdded, 0, 2, "b"},
			},
		},
		{
			name:        "all removed",
			old:         "a\nb\n",
			new:         "",
			context:     3,
			wantHeaders: []string{"@@ -1,2 +0,0 @@"},
			wantStats:   Stats{Removed: 2},
			wantSkipped: []int{0},
			wantFirstHun: []lineView{
				{KindRemoved, 1, 0, "a"},
				{KindRemoved, 2, 0, "b"},
			},
		},
		{
			name:        "one changed line in the middle with context 1",
			old:         numbered(9),
			new:         strings.Replace(numbered(9), "line 5\n", "line five\n", 1),
			context:     1,
			wantHeaders: []string{"@@ -4,3 +4,3 @@"},
			wantStats:   Stats{Added: 1, Removed: 1},
			wantSkipped: []int{3},
			wantAfter:   3,
			wantFirstHun: []lineView{
				{KindEqual, 4, 4, "line 4"},
				{KindRemoved, 5, 0, "line 5"},
				{KindAdded, 0, 5, "line five"},
				{KindEqual, 6, 6, "line 6"},
			},
		},
		{
			name:        "two far changes make two hunks",
			old:         numbered(20),
			new:         strings.Replace(strings.Replace(numbered(20), "line 3\n", "", 1), "line 17\n", "line 17\nnew line\n", 1),
			context:     2,
			wantHeaders: []string{"@@ -1,5 +1,4 @@", "@@ -16,4 +15,5 @@"},
			wantStats:   Stats{Added: 1, Removed: 1},
			wantSkipped: []int{0, 10},
			wantAfter:   1,
			wantFirstHun: []lineView{
				{KindEqual, 1, 1, "line 1"},
				{KindEqual, 2, 2, "line 2"},
				{KindRemoved, 3, 0, "line 3"},
				{KindEqual, 4, 3, "line 4"},
				{KindEqual, 5, 4, "line 5"},
			},
		},
		{
			name:        "near changes merge into one hunk",
			old:         numbered(10),
			new:         strings.Replace(strings.Replace(numbered(10), "line 3\n", "line 3x\n", 1), "line 7\n", "line 7x\n", 1),
			context:     2,
			wantHeaders: []string{"@@ -1,9 +1,9 @@"},
			wantStats:   Stats{Added: 2, Removed: 2},
			wantSkipped: []int{0},
			wantAfter:   1,
		},
		{
			name:        "no context",
			old:         "a\nb\nc\n",
			new:         "a\nB\nc\n",
			context:     0,
			wantHeaders: []string{"@@ -2 +2 @@"},
			wantStats:   Stats{Added: 1, Removed: 1},
			wantSkipped: []int{1},
			wantAfter:   1,
		},
		{
			name:        "insert only with no context starts after the line before",
			old:         "a\nb\n",
			new:         "a\nx\nb\n",
			context:     0,
			wantHeaders: []string{"@@ -1,0 +2 @@"},
			wantStats:   Stats{Added: 1},
			wantSkipped: []int{1},
			wantAfter:   1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Compute(tt.old, tt.new, Options{Context: tt.context})
			if r.Identical || r.TooLarge {
				t.Fatalf("Identical=%v TooLarge=%v, want both false", r.Identical, r.TooLarge)
			}
			if got := headers(r); !reflect.DeepEqual(got, tt.wantHeaders) {
				t.Errorf("headers = %q, want %q", got, tt.wantHeaders)
			}
			if r.Stats != tt.wantStats {
				t.Errorf("stats = %+v, want %+v", r.Stats, tt.wantStats)
			}
			var skipped []int
			for _, h := range r.Hunks {
				skipped = append(skipped, h.SkippedBefore)
			}
			if !reflect.DeepEqual(skipped, tt.wantSkipped) {
				t.Errorf("skipped before = %v, want %v", skipped, tt.wantSkipped)
			}
			if r.SkippedAfter != tt.wantAfter {
				t.Errorf("skipped after = %d, want %d", r.SkippedAfter, tt.wantAfter)
			}
			if tt.wantFirstHun != nil {
				if got := viewLines(r.Hunks[0]); !reflect.DeepEqual(got, tt.wantFirstHun) {
					t.Errorf("first hunk =\n%+v\nwant\n%+v", got, tt.wantFirstHun)
				}
			}
		})
	}
}

func TestComputeSegments(t *testing.T) {
	long := strings.Repeat("abcdefghij", 600)
	tests := []struct {
		name    string
		old     string
		new     string
		wantOld []Segment
		wantNew []Segment
	}{
		{
			name:    "changed character in the middle",
			old:     "image: nginx:1.25.3\n",
			new:     "image: nginx:1.26.3\n",
			wantOld: []Segment{{"image: nginx:1.2", false}, {"5", true}, {".3", false}},
			wantNew: []Segment{{"image: nginx:1.2", false}, {"6", true}, {".3", false}},
		},
		{
			name:    "multi-byte characters stay whole",
			old:     "name: 日本語のテスト\n",
			new:     "name: 日本人のテスト\n",
			wantOld: []Segment{{"name: 日本", false}, {"語", true}, {"のテスト", false}},
			wantNew: []Segment{{"name: 日本", false}, {"人", true}, {"のテスト", false}},
		},
		{
			name:    "emoji replaced by another emoji sharing leading bytes",
			old:     "icon: 😀\n",
			new:     "icon: 😁\n",
			wantOld: []Segment{{"icon: ", false}, {"😀", true}},
			wantNew: []Segment{{"icon: ", false}, {"😁", true}},
		},
		{
			name:    "inserted text",
			old:     "replicas: 3\n",
			new:     "replicas: 30\n",
			wantOld: []Segment{{"replicas: 3", false}},
			wantNew: []Segment{{"replicas: 3", false}, {"0", true}},
		},
		{
			name:    "rewritten line has no character highlight",
			old:     "alpha: one\n",
			new:     "zzzzzzzzzz\n",
			wantOld: []Segment{{"alpha: one", false}},
			wantNew: []Segment{{"zzzzzzzzzz", false}},
		},
		{
			name:    "very long line with a change in the middle",
			old:     long + "X" + long + "\n",
			new:     long + "Y" + long + "\n",
			wantOld: []Segment{{long, false}, {"X", true}, {long, false}},
			wantNew: []Segment{{long, false}, {"Y", true}, {long, false}},
		},
		{
			name:    "CRLF is not part of the line",
			old:     "key: a\r\n",
			new:     "key: b\r\n",
			wantOld: []Segment{{"key: ", false}, {"a", true}},
			wantNew: []Segment{{"key: ", false}, {"b", true}},
		},
		{
			name:    "script text is kept as text",
			old:     "<script>alert(1)</script>\n",
			new:     "<script>alert(2)</script>\n",
			wantOld: []Segment{{"<script>alert(", false}, {"1", true}, {")</script>", false}},
			wantNew: []Segment{{"<script>alert(", false}, {"2", true}, {")</script>", false}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Compute(tt.old, tt.new, DefaultOptions())
			if len(r.Hunks) != 1 || len(r.Hunks[0].Lines) != 2 {
				t.Fatalf("got %d hunks, want 1 hunk of 2 lines: %+v", len(r.Hunks), r.Hunks)
			}
			gotOld, gotNew := r.Hunks[0].Lines[0].Segments, r.Hunks[0].Lines[1].Segments
			if !reflect.DeepEqual(gotOld, tt.wantOld) {
				t.Errorf("old segments = %+v, want %+v", gotOld, tt.wantOld)
			}
			if !reflect.DeepEqual(gotNew, tt.wantNew) {
				t.Errorf("new segments = %+v, want %+v", gotNew, tt.wantNew)
			}
			if len(r.Rows) != 1 || r.Rows[0].Kind != KindChanged ||
				!reflect.DeepEqual(r.Rows[0].Left.Segments, gotOld) || !reflect.DeepEqual(r.Rows[0].Right.Segments, gotNew) {
				t.Errorf("rows = %+v, want one changed row with the same segments", r.Rows)
			}
		})
	}
}

func TestComputeWholeText(t *testing.T) {
	tests := []struct {
		name          string
		old, new      string
		opt           Options
		wantIdentical bool
		wantTooLarge  bool
		wantStats     Stats
		wantNotes     []string
		wantHunks     int
	}{
		{name: "identical", old: "a\nb\n", new: "a\nb\n", opt: DefaultOptions(), wantIdentical: true},
		{name: "both empty", old: "", new: "", opt: DefaultOptions(), wantIdentical: true},
		{
			name: "identical but too large is still identical",
			old:  strings.Repeat("x\n", 100), new: strings.Repeat("x\n", 100),
			opt:           Options{MaxBytes: 10},
			wantIdentical: true,
		},
		{
			name: "too many bytes",
			old:  strings.Repeat("x", 11), new: "y",
			opt:          Options{MaxBytes: 10},
			wantTooLarge: true,
		},
		{
			name: "too many lines",
			old:  numbered(6), new: numbered(5),
			opt:          Options{MaxLines: 5},
			wantTooLarge: true,
		},
		{
			name: "only line endings differ",
			old:  "a\r\nb\r\n", new: "a\nb\n",
			opt:       DefaultOptions(),
			wantNotes: []string{"Line endings changed on 2 unchanged lines (old: CRLF, new: LF)."},
		},
		{
			name: "newline added at end of file",
			old:  "a\nb", new: "a\nb\n",
			opt:       DefaultOptions(),
			wantNotes: []string{"The old version has no newline at end of file."},
		},
		{
			name: "newline removed at end of file with a change",
			old:  "a\nb\n", new: "a\nc",
			opt:       DefaultOptions(),
			wantStats: Stats{Added: 1, Removed: 1},
			wantNotes: []string{"The new version has no newline at end of file."},
			wantHunks: 1,
		},
		{
			name: "every other line changed",
			old:  numbered(100), new: strings.NewReplacer("0\n", "0 changed\n", "5\n", "5 changed\n").Replace(numbered(100)),
			opt:       DefaultOptions(),
			wantStats: Stats{Added: 20, Removed: 20},
			wantHunks: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Compute(tt.old, tt.new, tt.opt)
			if r.Identical != tt.wantIdentical {
				t.Errorf("Identical = %v, want %v", r.Identical, tt.wantIdentical)
			}
			if r.TooLarge != tt.wantTooLarge {
				t.Errorf("TooLarge = %v, want %v", r.TooLarge, tt.wantTooLarge)
			}
			if r.Stats != tt.wantStats {
				t.Errorf("Stats = %+v, want %+v", r.Stats, tt.wantStats)
			}
			if !reflect.DeepEqual(r.Notes, tt.wantNotes) {
				t.Errorf("Notes = %q, want %q", r.Notes, tt.wantNotes)
			}
			if len(r.Hunks) != tt.wantHunks {
				t.Errorf("len(Hunks) = %d, want %d", len(r.Hunks), tt.wantHunks)
			}
			if got, want := r.Bytes, len(tt.old)+len(tt.new); got != want {
				t.Errorf("Bytes = %d, want %d", got, want)
			}
			if (r.TooLarge || r.Identical) && (r.Hunks != nil || r.Rows != nil) {
				t.Errorf("a too large or identical result carries lines: %+v", r)
			}
		})
	}
}

func TestComputeRows(t *testing.T) {
	old := "a\nb\nc\nd\ne\nf\ng\nh\n"
	new := "a\nB\nc\nd\ne\nf\nG\nG2\nh\n"
	r := Compute(old, new, Options{Context: 1})
	type rowView struct {
		Kind        Kind
		Left, Right int
		Skipped     int
	}
	var got []rowView
	for _, row := range r.Rows {
		got = append(got, rowView{row.Kind, row.Left.Num, row.Right.Num, row.Skipped})
	}
	want := []rowView{
		{KindEqual, 1, 1, 0},
		{KindChanged, 2, 2, 0},
		{KindEqual, 3, 3, 0},
		{KindGap, 0, 0, 2},
		{KindEqual, 6, 6, 0},
		{KindChanged, 7, 7, 0},
		{KindAdded, 0, 8, 0},
		{KindEqual, 8, 9, 0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows =\n%+v\nwant\n%+v", got, want)
	}
	if got, want := r.Rows[3].Header, "@@ -6,3 +6,4 @@"; got != want {
		t.Errorf("gap header = %q, want %q", got, want)
	}
}

// TestComputeRebuildsBothTexts checks, on generated edits, that a diff with
// full context holds every line of both versions, in order, with the right
// numbers, and that its segments are valid UTF-8 that add up to the lines.
func TestComputeRebuildsBothTexts(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"alpha", "beta", "gamma: 1", "δέλτα", "日本", "", "  - item", "😀 x"}
	gen := func(n int) []string {
		lines := make([]string, n)
		for i := range lines {
			lines[i] = words[rng.IntN(len(words))] + words[rng.IntN(len(words))]
		}
		return lines
	}
	for i := range 50 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			oldLines := gen(rng.IntN(40))
			newLines := append([]string(nil), oldLines...)
			for range rng.IntN(8) {
				switch p := rng.IntN(len(newLines) + 1); rng.IntN(3) {
				case 0:
					newLines = append(newLines[:p], append(gen(1+rng.IntN(3)), newLines[p:]...)...)
				case 1:
					if p < len(newLines) {
						newLines = append(newLines[:p], newLines[p+1:]...)
					}
				default:
					if p < len(newLines) {
						newLines[p] += "x"
					}
				}
			}
			oldText, newText := strings.Join(oldLines, "\n"), strings.Join(newLines, "\n")
			r := Compute(oldText, newText, Options{Context: 1 << 20})
			if r.Identical {
				if oldText != newText {
					t.Fatalf("Identical for different texts")
				}
				return
			}
			var gotOld, gotNew []string
			for _, h := range r.Hunks {
				for _, l := range h.Lines {
					for _, s := range l.Segments {
						if !utf8.ValidString(s.Text) {
							t.Fatalf("segment %q is not valid UTF-8", s.Text)
						}
					}
					if l.OldNum > 0 {
						if l.OldNum != len(gotOld)+1 {
							t.Fatalf("old line number %d, want %d", l.OldNum, len(gotOld)+1)
						}
						gotOld = append(gotOld, l.Text())
					}
					if l.NewNum > 0 {
						if l.NewNum != len(gotNew)+1 {
							t.Fatalf("new line number %d, want %d", l.NewNum, len(gotNew)+1)
						}
						gotNew = append(gotNew, l.Text())
					}
				}
			}
			wantOld, wantNew := splitLines(oldText).lines, splitLines(newText).lines
			if strings.Join(gotOld, "\n") != strings.Join(wantOld, "\n") {
				t.Errorf("old rebuilt =\n%q\nwant\n%q", gotOld, wantOld)
			}
			if strings.Join(gotNew, "\n") != strings.Join(wantNew, "\n") {
				t.Errorf("new rebuilt =\n%q\nwant\n%q", gotNew, wantNew)
			}
		})
	}
}

func TestNaturalLess(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"items[2]", "items[10]", true},
		{"items[10]", "items[2]", false},
		{"a.b", "a.c", true},
		{"a", "a.b", true},
		{"a.b", "a", false},
		{"x01", "x1", false},
		{"x1", "x01", true},
		{"same", "same", false},
	}
	for _, tt := range tests {
		t.Run(tt.a+" < "+tt.b, func(t *testing.T) {
			if got := naturalLess(tt.a, tt.b); got != tt.want {
				t.Errorf("naturalLess(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}
