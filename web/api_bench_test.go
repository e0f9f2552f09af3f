package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/rewind"
)

// BenchmarkAPIVersions10k measures GET /api/v1/targets/{id}/versions on a
// service with 10,000 versions (first page, a middle page, the last page)
// and reports the latency's p50 and p99.
func BenchmarkAPIVersions10k(b *testing.B) {
	f := newAPIFixture(b)
	ctx := context.Background()
	for i := 4; i <= 10000; i++ {
		img := fmt.Sprintf("registry.local/web:%d", i)
		if _, _, err := f.store.RecordVersion(ctx, &rewind.Version{TargetID: f.target.ID, Revision: strconv.Itoa(i), Content: "image: " + img + "\n",
			Hash: strconv.Itoa(i), Source: rewind.SourceObserved, Author: "kubectl", Images: []rewind.Image{{Container: "app", Image: img}}}); err != nil {
			b.Fatal(err)
		}
	}
	base := f.url + "/api/v1/targets/" + strconv.FormatInt(f.target.ID, 10) + "/versions"
	for _, bc := range []struct{ name, query string }{{"first-page", "?per_page=50"}, {"page-100", "?per_page=50&page=100"}, {"last-page-200", "?per_page=200&page=50"}} {
		b.Run(bc.name, func(b *testing.B) {
			req, _ := http.NewRequest("GET", base+bc.query, nil)
			req.Header.Set("Authorization", "Bearer "+f.tokens["vera"])
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				start := time.Now()
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
				lat = append(lat, time.Since(start))
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
