package replicas

import (
	"context"
	"sync"
)

// Gate lets work that only the leader may do run in terms: Lead opens a
// term that lasts as long as its context; the workers (the watchers'
// recorders, the Nacos followers) wait for a term with Term and stop when
// it ends. Lead returns only once they all stopped.
type Gate struct {
	mu      sync.Mutex
	lead    context.Context // the current or last term; nil before the first
	leadSet chan struct{}   // closed and replaced when lead changes
	workers int             // working in the current term
	idle    *sync.Cond      // signalled when workers drops
}

// NewGate returns a gate with no term open.
func NewGate() *Gate {
	g := &Gate{leadSet: make(chan struct{})}
	g.idle = sync.NewCond(&g.mu)
	return g
}

// Lead opens a term until ctx ends, then waits for every worker of the
// term to stop.
func (g *Gate) Lead(ctx context.Context) {
	g.mu.Lock()
	g.lead = ctx
	close(g.leadSet)
	g.leadSet = make(chan struct{})
	g.mu.Unlock()
	<-ctx.Done()
	g.mu.Lock()
	for g.workers > 0 {
		g.idle.Wait()
	}
	g.mu.Unlock()
}

// Term waits for a term and returns its context, which ends with the term
// or with ctx; ok is false when ctx ends first. end must be called once
// the worker stopped. A nil Gate has one term, ctx itself: one Rewind
// alone always leads.
func (g *Gate) Term(ctx context.Context) (term context.Context, end func(), ok bool) {
	if g == nil {
		return ctx, func() {}, ctx.Err() == nil
	}
	for {
		g.mu.Lock()
		lead, changed := g.lead, g.leadSet
		if lead != nil && lead.Err() == nil && ctx.Err() == nil {
			g.workers++
			g.mu.Unlock()
			tctx, cancel := context.WithCancel(ctx)
			stop := context.AfterFunc(lead, cancel)
			var once sync.Once
			return tctx, func() {
				once.Do(func() {
					stop()
					cancel()
					g.mu.Lock()
					g.workers--
					g.idle.Broadcast()
					g.mu.Unlock()
				})
			}, true
		}
		g.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, nil, false
		case <-changed:
		}
	}
}
