package templates

import (
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/rewind"
)

// TestPreviewResult renders a preview with planner estimates over the
// saved-rows bound, a refused statement and a change that cannot be one
// transaction, and checks what the operator is told.
func TestPreviewResult(t *testing.T) {
	v := PreviewView{
		Results: []rewind.SQLStatementResult{
			{Index: 0, SQL: "DELETE FROM items", Kind: "DELETE", Status: "previewed", Estimated: 5000, HasEstimate: true, EstimateNote: "estimated by the planner"},
			{Index: 1, SQL: "UPDATE nosuch SET a = 1", Kind: "UPDATE", Status: "failed", Error: "relation \"nosuch\" does not exist (SQLSTATE 42P01)"},
		},
		NotTransactionalReason: "statement 1: it calls nextval",
		WriteRows:              5000, BoundRows: 100, OverBound: true,
	}
	doc, html := renderHTML(t, PreviewResult(v), nil)
	for _, id := range []string{"over-bound", "preview-failed", "preview-transaction", "estimated-rows", "statement-error"} {
		if doc.Find(`[data-testid="`+id+`"]`).Length() == 0 {
			t.Errorf("no %s in\n%s", id, html)
		}
	}
	if got := doc.Find(`[data-testid="estimated-rows"]`).First().Text(); !strings.Contains(got, "5000") {
		t.Errorf("estimated rows = %q", got)
	}
	if got := doc.Find(`[data-testid="preview-transaction"]`).Text(); !strings.Contains(got, "not run in one transaction") || !strings.Contains(got, "nextval") {
		t.Errorf("transaction line = %q", got)
	}
	if doc.Find(`[data-testid="rows-affected"]`).Length() != 0 {
		t.Errorf("a preview shows rows affected")
	}
	if !v.Failed() || v.FailedCount() != 1 {
		t.Errorf("Failed %v, FailedCount %d", v.Failed(), v.FailedCount())
	}
}
