package replicas

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/postgres/pgtest"
	"github.com/rewindhq/rewind/internal/secret"
	"github.com/rewindhq/rewind/internal/sqlite"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// openReplicas opens n handles on one new PostgreSQL store, as n Rewind
// processes would.
func openReplicas(t *testing.T, n int) ([]*sqlite.Store, string) {
	t.Helper()
	url := pgtest.NewStore(t)
	box, _ := secret.NewBox(make([]byte, 32))
	var out []*sqlite.Store
	for range n {
		s, err := sqlite.Open(context.Background(), url, box)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out = append(out, s)
	}
	return out, url
}

// cuttable is a lease store that can be cut off, as a replica whose
// network fails (or that was killed) no longer renews its lease.
type cuttable struct {
	LeaseStore
	cut atomic.Bool
}

var errCut = errors.New("cut off from the store")

func (c *cuttable) Lease(ctx context.Context, name string) ([]byte, int64, error) {
	if c.cut.Load() {
		return nil, 0, errCut
	}
	return c.LeaseStore.Lease(ctx, name)
}

func (c *cuttable) CreateLease(ctx context.Context, name string, record []byte) (bool, error) {
	if c.cut.Load() {
		return false, errCut
	}
	return c.LeaseStore.CreateLease(ctx, name, record)
}

func (c *cuttable) UpdateLease(ctx context.Context, name string, record []byte, version int64) (bool, error) {
	if c.cut.Load() {
		return false, errCut
	}
	return c.LeaseStore.UpdateLease(ctx, name, record, version)
}

// TestElectorOneLeaderAtATime runs three replicas for the lease: exactly
// one leads; a leader cut off from the store stops its work before
// another replica starts; a leader that stops gives the lease up at once.
func TestElectorOneLeaderAtATime(t *testing.T) {
	stores, _ := openReplicas(t, 3)
	var mu sync.Mutex
	leading := 0
	var log []string // "start i" / "stop i", in order
	events := make(chan string, 16)
	cuts := make([]*cuttable, 3)
	cancels := make([]context.CancelFunc, 3)
	var wg sync.WaitGroup
	for i, s := range stores {
		cuts[i] = &cuttable{LeaseStore: s}
		e := &Elector{Lock: &StoreLock{Store: cuts[i], Name: "leader", ID: string(rune('a' + i))}, LeaseDuration: 2 * time.Second, Log: quiet}
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i] = cancel
		wg.Go(func() {
			e.Run(ctx, func(lctx context.Context) {
				mu.Lock()
				leading++
				if leading > 1 {
					t.Errorf("replica %c leads while another does", 'a'+i)
				}
				log = append(log, "start")
				mu.Unlock()
				events <- string(rune('a' + i))
				<-lctx.Done()
				time.Sleep(100 * time.Millisecond) // the work winds down
				mu.Lock()
				leading--
				log = append(log, "stop")
				mu.Unlock()
			})
		})
	}
	defer func() {
		for _, c := range cancels {
			c()
		}
		wg.Wait()
	}()
	first := waitLeader(t, events)
	// The leader is cut off: it stops, and only then another leads.
	cut := time.Now()
	cuts[first[0]-'a'].cut.Store(true)
	second := waitLeader(t, events)
	t.Logf("replica %s cut off; replica %s leads %v later", first, second, time.Since(cut).Round(100*time.Millisecond))
	if second == first {
		t.Fatalf("the cut-off replica %s leads again", first)
	}
	// The new leader stops on purpose: it gives the lease up, and the
	// last replica leads well before the lease would have run out.
	stopped := time.Now()
	cancels[second[0]-'a']()
	third := waitLeader(t, events)
	if third == first || third == second {
		t.Fatalf("replica %s leads after %s and %s", third, first, second)
	}
	if d := time.Since(stopped); d > 2*time.Second {
		t.Errorf("after a leader gave the lease up, the next led only after %v", d)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 0; i+1 < len(log); i += 2 {
		if log[i] != "start" || log[i+1] != "stop" {
			t.Fatalf("leaders overlapped: %v", log)
		}
	}
}

func waitLeader(t *testing.T, events <-chan string) string {
	t.Helper()
	select {
	case id := <-events:
		return id
	case <-time.After(30 * time.Second):
		t.Fatal("no replica leads")
		return ""
	}
}

// TestBus checks that a message reaches every replica's subscribers once.
func TestBus(t *testing.T) {
	stores, url := openReplicas(t, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var buses []*Bus
	got := make([]chan string, 2)
	for i, s := range stores {
		b, err := NewPostgresBus(ctx, url, s.DB(), quiet)
		if err != nil {
			t.Fatal(err)
		}
		got[i] = make(chan string, 8)
		b.Subscribe("wake", func(p json.RawMessage) { got[i] <- string(p) })
		go b.Run(ctx)
		buses = append(buses, b)
	}
	// Listening starts in the background; publish until b hears.
	deadline := time.Now().Add(20 * time.Second)
	published := 0
	for {
		buses[0].Publish("wake", map[string]int{"request": 7})
		published++
		select {
		case p := <-got[1]:
			if p != `{"request":7}` {
				t.Fatalf("replica b got %s", p)
			}
		case <-time.After(200 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("replica b never heard replica a")
			}
			continue
		}
		break
	}
	// Replica a heard each of its messages once, at once (not again
	// through the store).
	time.Sleep(300 * time.Millisecond)
	if n := len(got[0]); n != published {
		t.Errorf("replica a heard its %d messages %d times", published, n)
	}
}
