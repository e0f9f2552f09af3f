package templates

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"

	"github.com/rewindhq/rewind/internal/diff"
)

func renderDoc(t *testing.T, c templ.Component) (*goquery.Document, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatalf("parse rendered HTML: %v", err)
	}
	return doc, buf.String()
}

func TestDiff(t *testing.T) {
	const oldText = "name: web\nimage: nginx:1.25\ncmd: <script>alert(1)</script>\nport: 80\n"
	const newText = "name: web\nimage: nginx:1.26\ncmd: <script>alert(2)</script>\nport: 80\nextra: yes\n"
	changed := diff.Compute(oldText, newText, diff.DefaultOptions())

	tests := []struct {
		name string
		d    *diff.Result
		mode string
		// want maps a data-testid to how many elements should carry it.
		want map[string]int
		// wantText is text that must appear in the diff.
		wantText string
	}{
		{
			name: "unified",
			d:    changed,
			mode: "unified",
			want: map[string]int{"diff": 1, "diff-stats": 1, "diff-hunk": 1, "diff-line-added": 3, "diff-line-removed": 2, "diff-line-equal": 2, "diff-row-changed": 0},
		},
		{
			name: "split",
			d:    changed,
			mode: "split",
			want: map[string]int{"diff": 1, "diff-line-added": 3, "diff-line-removed": 2, "diff-row-changed": 2, "diff-row-added": 1, "diff-row-equal": 2, "diff-hunk": 0},
		},
		{
			name:     "unknown mode is unified",
			d:        changed,
			mode:     "sideways",
			want:     map[string]int{"diff-hunk": 1, "diff-row-changed": 0},
			wantText: "@@ -1,4 +1,5 @@",
		},
		{
			name:     "identical",
			d:        diff.Compute("a\n", "a\n", diff.DefaultOptions()),
			mode:     "unified",
			want:     map[string]int{"diff-identical": 1, "diff-line-added": 0},
			wantText: "No differences.",
		},
		{
			name:     "too large",
			d:        diff.Compute(strings.Repeat("a", 1500), "b", diff.Options{MaxBytes: 1000}),
			mode:     "split",
			want:     map[string]int{"diff-too-large": 1, "diff-line-added": 0},
			wantText: "This diff is too large to show (1,501 bytes). Download the raw versions instead.",
		},
		{
			name:     "only line endings",
			d:        diff.Compute("a\r\n", "a\n", diff.DefaultOptions()),
			mode:     "unified",
			want:     map[string]int{"diff-notes": 1, "diff-no-line-changes": 1, "diff-line-added": 0},
			wantText: "Line endings changed",
		},
		{
			name:     "gaps between hunks",
			d:        diff.Compute("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "1\nX\n3\n4\n5\n6\n7\n8\nY\n10\n", diff.Options{Context: 1}),
			mode:     "split",
			want:     map[string]int{"diff-gap": 1, "diff-row-changed": 2},
			wantText: "4 unchanged lines",
		},
		{
			name: "nil result renders nothing",
			d:    nil,
			mode: "unified",
			want: map[string]int{"diff": 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, _ := renderDoc(t, Diff(tt.d, tt.mode))
			for id, want := range tt.want {
				if got := doc.Find(`[data-testid="` + id + `"]`).Length(); got != want {
					t.Errorf("%d elements with data-testid=%q, want %d", got, id, want)
				}
			}
			if tt.wantText != "" && !strings.Contains(doc.Text(), tt.wantText) {
				t.Errorf("text %q not found in:\n%s", tt.wantText, doc.Text())
			}
		})
	}
}

func TestDiffHighlightsAndEscapes(t *testing.T) {
	d := diff.Compute("cmd: <script>alert(1)</script>\n", "cmd: <script>alert(2)</script>\n", diff.DefaultOptions())
	for _, mode := range []string{"unified", "split"} {
		t.Run(mode, func(t *testing.T) {
			doc, html := renderDoc(t, Diff(d, mode))
			if n := doc.Find("script").Length(); n != 0 {
				t.Errorf("found %d <script> elements, want 0", n)
			}
			if strings.Contains(html, "<script>") {
				t.Errorf("raw <script> in output:\n%s", html)
			}
			if !strings.Contains(html, "&lt;script&gt;") {
				t.Errorf("escaped &lt;script&gt; missing from output:\n%s", html)
			}
			if got, want := doc.Find(`[data-testid="diff-line-removed"] del.diff-ch`).Text(), "1"; got != want {
				t.Errorf("removed changed chars = %q, want %q", got, want)
			}
			if got, want := doc.Find(`[data-testid="diff-line-added"] ins.diff-ch`).Text(), "2"; got != want {
				t.Errorf("added changed chars = %q, want %q", got, want)
			}
			if got, want := doc.Find(`[data-testid="diff-line-added"] .diff-code, td.diff-code[data-testid="diff-line-added"]`).Text(), "cmd: <script>alert(2)</script>"; got != want {
				t.Errorf("added line text = %q, want %q", got, want)
			}
		})
	}
}

func TestKeyChangesTable(t *testing.T) {
	tests := []struct {
		name      string
		changes   []diff.KeyChange
		wantRows  int
		wantNone  int
		wantKinds []string
	}{
		{
			name: "changes",
			changes: []diff.KeyChange{
				{Key: "a.b", Kind: diff.KindAdded, New: "1"},
				{Key: "c", Kind: diff.KindRemoved, Old: "<script>x</script>"},
				{Key: "d", Kind: diff.KindChanged, Old: "1", New: "2"},
			},
			wantRows:  3,
			wantKinds: []string{"added", "removed", "changed"},
		},
		{name: "none", wantNone: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, html := renderDoc(t, KeyChangesTable(tt.changes))
			if got := doc.Find(`[data-testid="key-changes"]`).Length(); got != 1 {
				t.Errorf("%d key-changes sections, want 1", got)
			}
			rows := doc.Find(`[data-testid="key-change"]`)
			if got := rows.Length(); got != tt.wantRows {
				t.Errorf("%d key-change rows, want %d", got, tt.wantRows)
			}
			if got := doc.Find(`[data-testid="key-changes-none"]`).Length(); got != tt.wantNone {
				t.Errorf("%d key-changes-none, want %d", got, tt.wantNone)
			}
			var kinds []string
			rows.Each(func(_ int, s *goquery.Selection) {
				kinds = append(kinds, s.AttrOr("data-kind", ""))
			})
			if strings.Join(kinds, ",") != strings.Join(tt.wantKinds, ",") {
				t.Errorf("kinds = %q, want %q", kinds, tt.wantKinds)
			}
			if doc.Find("script").Length() != 0 || strings.Contains(html, "<script>") {
				t.Errorf("unescaped script in output:\n%s", html)
			}
		})
	}
}
