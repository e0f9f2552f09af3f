package dbchange

import (
	"context"
	"sync"

	"github.com/rewindhq/rewind/internal/rewind"
)

// Health reports, by database name, whether each of dbs answers a
// connection (nil) or not; answers are kept for a short while (see State),
// and all are asked at once. The errors hold no password.
func (s *Service) Health(ctx context.Context, dbs []*rewind.Database) map[string]error {
	out := make(map[string]error, len(dbs))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, d := range dbs {
		wg.Go(func() {
			err := s.State(ctx, d)
			mu.Lock()
			out[d.Name] = err
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}
