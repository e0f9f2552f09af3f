package rewind

import (
	"testing"
	"time"
)

func TestItemCountsString(t *testing.T) {
	for _, tt := range []struct {
		c    ItemCounts
		want string
	}{
		{ItemCounts{}, "no items"},
		{ItemCounts{Services: 3, Configs: 2, SQL: 1}, "3 services · 2 configs · 1 SQL change"},
		{ItemCounts{Services: 1}, "1 service"},
		{ItemCounts{Configs: 1, SQL: 2}, "1 config · 2 SQL changes"},
	} {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.c, got, tt.want)
		}
	}
}

func TestReleaseWindow(t *testing.T) {
	start := time.Date(2026, 12, 1, 10, 0, 0, 500_000_000, time.UTC)
	fin := start.Add(30 * time.Minute)
	late := start.Add(5 * time.Hour)
	for _, tt := range []struct {
		name     string
		finished *time.Time
		now      time.Time
		wantTo   time.Time
		timedOut bool
	}{
		{"open", nil, start.Add(time.Minute), start.Add(time.Minute), false},
		{"finished", &fin, late, fin, false},
		{"open past timeout", nil, late, start.Add(2 * time.Hour), true},
		{"finished past timeout", &late, late, start.Add(2 * time.Hour), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &Release{StartedAt: start, FinishedAt: tt.finished, State: ReleaseOpen}
			if tt.finished != nil {
				r.State = ReleaseSucceeded
			}
			from, to := r.Window(DefaultReleaseTimeout, tt.now)
			if !from.Equal(start.Truncate(time.Second)) || !to.Equal(tt.wantTo) {
				t.Errorf("Window = %v, %v; want %v, %v", from, to, start.Truncate(time.Second), tt.wantTo)
			}
			if got := r.TimedOut(DefaultReleaseTimeout, tt.now); got != tt.timedOut {
				t.Errorf("TimedOut = %v, want %v", got, tt.timedOut)
			}
		})
	}
}

func TestReleaseHolds(t *testing.T) {
	start := time.Date(2026, 12, 1, 10, 0, 0, 500_000_000, time.UTC)
	r := &Release{StartedAt: start, State: ReleaseOpen}
	now := start.Add(time.Minute)
	for _, tt := range []struct {
		at   time.Time
		want bool
	}{
		{start.Truncate(time.Second), true},         // Kubernetes' time of a change just after the start
		{start.Add(-100 * time.Millisecond), false}, // precisely before the start
		{start, true},                 // the start itself
		{now, true},                   // now, while open
		{now.Add(time.Second), false}, // after now
		{start.Add(-time.Second).Truncate(time.Second), false}, // the second before
	} {
		if got := r.Holds(tt.at, DefaultReleaseTimeout, now); got != tt.want {
			t.Errorf("Holds(%s) = %v, want %v", tt.at.Format(time.StampMilli), got, tt.want)
		}
	}
}
