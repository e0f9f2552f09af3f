package rewind

import (
	"fmt"
	"strings"
	"time"
)

// Window is the span in which release r collects the versions of its
// workflow's targets: from its start cut to the second (see Holds) to its
// finish, or now while it is open, but never later than timeout after its
// start.
func (r *Release) Window(timeout time.Duration, now time.Time) (from, to time.Time) {
	from = r.StartedAt.Truncate(time.Second)
	to = now
	if r.FinishedAt != nil {
		to = *r.FinishedAt
	}
	if end := r.StartedAt.Add(timeout); to.After(end) {
		to = end
	}
	return from, to
}

// Holds reports whether a version made at t lies in r's window: from r's
// start, or on the whole second the start lies in (Kubernetes records a
// change's time to the second), to the window's end.
func (r *Release) Holds(t time.Time, timeout time.Duration, now time.Time) bool {
	from, to := r.Window(timeout, now)
	return (t.Equal(from) || !t.Before(r.StartedAt)) && !t.After(to)
}

// TimedOut reports whether r is open past timeout at now: it then collects
// nothing more, and another release of its workflow may start.
func (r *Release) TimedOut(timeout time.Duration, now time.Time) bool {
	return r.State == ReleaseOpen && now.Sub(r.StartedAt) > timeout
}

// Blocked reports whether r's name is blocked.
func (r *Release) Blocked() bool { return r.BlockedAt != nil }

// ItemCounts counts a release's items by kind of target.
type ItemCounts struct {
	Services, Configs, SQL int
}

// Add counts one item on a target of kind k.
func (c *ItemCounts) Add(k TargetKind) {
	switch k {
	case KindService:
		c.Services++
	case KindConfig:
		c.Configs++
	case KindDatabase:
		c.SQL++
	}
}

// Total is the number of items counted.
func (c ItemCounts) Total() int { return c.Services + c.Configs + c.SQL }

// String says the counts as the pages show them: "3 services · 2 configs ·
// 1 SQL change", leaving out kinds without items; "no items" when empty.
func (c ItemCounts) String() string {
	var parts []string
	for _, p := range []struct {
		n           int
		one, plural string
	}{{c.Services, "service", "services"}, {c.Configs, "config", "configs"}, {c.SQL, "SQL change", "SQL changes"}} {
		switch {
		case p.n == 1:
			parts = append(parts, "1 "+p.one)
		case p.n > 1:
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.plural))
		}
	}
	if len(parts) == 0 {
		return "no items"
	}
	return strings.Join(parts, " · ")
}

// ReleaseSummary is a release in its workflow's version list: without its
// items, with their counts by kind.
type ReleaseSummary struct {
	Release *Release
	Counts  ItemCounts
}
