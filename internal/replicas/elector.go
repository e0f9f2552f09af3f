// Package replicas lets several Rewind processes share one store. Every
// replica serves pages and the API; one, the leader, holds a lease and runs
// the work that must run once: the request runner, the recording of
// versions by the watchers, the notification sender. Small messages
// (wake-ups, live page events) go between the replicas over the store's
// engine (PostgreSQL LISTEN/NOTIFY).
//
// The lease is time-bound: the leader renews it every RetryPeriod and gives
// up its work when it could not renew for RenewDeadline, while the others
// take it over only once it went unrenewed for LeaseDuration, longer than
// that. A replica that loses the lease so stops before another starts, even
// when it is cut off from the store (an advisory lock held by a connection
// would be freed by the server as soon as the connection dropped, while the
// cut-off leader could not know it). And should two ever run at once, the
// store's claims are conditional updates: a plan's step is started once.
package replicas

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/leaderelection"
	rl "k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Identity names this replica in the lease: its host name (the pod's
// name in Kubernetes) and a random suffix, unique per process.
func Identity() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("%s_%s", host, hex.EncodeToString(b))
}

// Elector runs the leader's work while this replica holds the lease.
type Elector struct {
	// Lock is the lease: a row of the store (StoreLock) or a Kubernetes
	// Lease (client-go's LeaseLock).
	Lock rl.Interface
	// LeaseDuration is how long the lease lasts unrenewed; RenewDeadline
	// (two thirds of it) is how long the leader tries to renew before it
	// stops, RetryPeriod (a sixth) how often the replicas try.
	LeaseDuration time.Duration
	Log           *slog.Logger

	leading atomic.Bool
}

// Leading reports whether this replica runs the leader's work now.
func (e *Elector) Leading() bool { return e.leading.Load() }

// Run campaigns for the lease until ctx ends. Each time it wins it runs
// lead with a context that ends when the lease is lost (or ctx ends), and
// waits for lead to return before it campaigns again. When ctx ends it
// gives the lease up, once lead returned, so that another replica takes
// over at once instead of after LeaseDuration.
func (e *Elector) Run(ctx context.Context, lead func(ctx context.Context)) error {
	renew := e.LeaseDuration * 2 / 3
	retry := max(e.LeaseDuration/6, 100*time.Millisecond)
	for ctx.Err() == nil {
		var work sync.WaitGroup
		var claimed atomic.Bool // by the work, or by Run when the work came too late
		work.Add(1)
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock: e.Lock, LeaseDuration: e.LeaseDuration, RenewDeadline: renew, RetryPeriod: retry, Name: "rewind",
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(lctx context.Context) {
					if !claimed.CompareAndSwap(false, true) {
						return
					}
					defer work.Done()
					e.Log.Info("leading: this replica runs requests, watches and notifications", "replica", e.Lock.Identity())
					e.leading.Store(true)
					lead(lctx)
					e.leading.Store(false)
					e.Log.Info("stopped leading", "replica", e.Lock.Identity())
				},
				OnStoppedLeading: func() {},
			},
		})
		if err != nil {
			return fmt.Errorf("leader election: %w", err)
		}
		le.Run(ctx)
		if claimed.CompareAndSwap(false, true) {
			work.Done() // never led, or lost it before the work began
		}
		work.Wait()
	}
	e.release()
	return nil
}

// release gives the lease up if this replica still holds it: the next
// replica need not wait for it to run out.
func (e *Elector) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rec, _, err := e.Lock.Get(ctx)
	if err != nil || rec.HolderIdentity != e.Lock.Identity() {
		return
	}
	now := time.Now()
	_ = e.Lock.Update(ctx, rl.LeaderElectionRecord{LeaseDurationSeconds: 1, LeaderTransitions: rec.LeaderTransitions,
		AcquireTime: metav1.NewTime(now), RenewTime: metav1.NewTime(now)})
}
