package web

import (
	"context"
	"encoding/csv"
	"net/http"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/rewind"
)

func TestCSVSafe(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"},
		{"+1+1", "'+1+1"},
		{"-2+3", "'-2+3"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\t=1", "'\t=1"},
		{"\r=1", "'\r=1"},
		{"a=1", "a=1"},
		{" =1", " =1"},
	}
	for _, tt := range tests {
		if got := csvSafe(tt.in); got != tt.want {
			t.Errorf("csvSafe(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAuditCSVGuardsEveryCell(t *testing.T) {
	ts, store := newTestServer(t)
	ctx := context.Background()
	evil := []string{"=cmd|'/c calc'!A0", "+1", "-1", "@x", "\tx", "\rx"}
	for _, d := range evil {
		ev := rewind.AuditEvent{Actor: d, Action: rewind.ActionLogin, Environment: d, TargetKind: rewind.KindConfig, Target: d, Outcome: d, Detail: d}
		if err := store.AddAudit(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	c := newClient(t, ts.URL)
	c.login("vera")
	code, body := c.get("/audit.csv")
	if code != http.StatusOK {
		t.Fatalf("/audit.csv = %d", code)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, row := range rows[1:] {
		for i, cell := range row {
			if cell != "" && strings.IndexByte("=+-@\t\r", cell[0]) >= 0 {
				t.Errorf("cell %d %q starts with a formula character", i, cell)
			}
			if strings.HasPrefix(cell, "'") {
				checked++
			}
		}
	}
	if want := len(evil) * 5; checked != want {
		t.Errorf("guarded cells = %d, want %d", checked, want)
	}
}
