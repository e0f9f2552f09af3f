package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/dbchange"
	"github.com/rewindhq/rewind/internal/rewind"
)

// BenchmarkChangePage2k measures the page of an executed SQL change of
// 2,000 statements, each saving one row.
func BenchmarkChangePage2k(b *testing.B) {
	const n = 2000
	s := newDBServer(b, dbchange.Options{})
	ctx := context.Background()
	if _, err := s.raw.Exec(`INSERT INTO items (id, name, price) WITH RECURSIVE c(x) AS (SELECT 10 UNION ALL SELECT x + 1 FROM c WHERE x < 10 + ?)
		SELECT x, 'item ' || x, '1.00' FROM c`, n); err != nil {
		b.Fatal(err)
	}
	var sql strings.Builder
	for i := range n {
		fmt.Fprintf(&sql, "UPDATE items SET name = 'renamed <%d>', price = '2.00' WHERE id = %d;\n", i, 10+i)
	}
	p := rewind.SQLRequest{Kind: rewind.SQLKindChange, SQL: sql.String()}
	payload, err := p.Encode()
	if err != nil {
		b.Fatal(err)
	}
	r := &rewind.Request{Requester: "otto", Reason: "bench", Steps: []rewind.Step{{TargetID: s.target.ID, Payload: payload}}}
	if err := s.store.CreateRequest(ctx, r, rewind.AuditEvent{Actor: "otto", Action: rewind.ActionRequest}); err != nil {
		b.Fatal(err)
	}
	if got := s.waitState(b, r.ID); got.State != rewind.StateSucceeded {
		b.Fatalf("change %s: %s", got.State, got.Outcome)
	}
	t := &testing.T{}
	c := newClient(t, s.url)
	c.login("vera")
	path := fmt.Sprintf("/requests/%d", r.ID)
	var size int
	for b.Loop() {
		code, body := c.get(path)
		if code != http.StatusOK {
			b.Fatalf("%s: status %d", path, code)
		}
		size = len(body)
	}
	b.ReportMetric(float64(size), "page-bytes")
	if t.Failed() {
		b.Fatal("setup failed")
	}
}
