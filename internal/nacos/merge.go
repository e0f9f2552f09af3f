package nacos

import (
	"slices"
	"sort"
	"time"
)

// MergeWindow is how far apart Nacos' time and Rewind's time of the same change may be (clock
// skew, and the delay before Rewind notices a change).
const MergeWindow = 2 * time.Minute

// Merge combines versions read from Nacos history with snapshots Rewind recorded, newest
// first, listing each content change once. A snapshot joins the history version with the same
// md5 that was live when the snapshot was taken (from the version's time, less MergeWindow, up
// to the next history version's time, plus MergeWindow): the entry keeps Nacos' time and lists
// both sources. Snapshots that match no history version stay separate, except that
// neighbouring ones with the same md5 within MergeWindow are one version.
func Merge(history []Version, snapshots []Version) []Version {
	hist := make([]Version, len(history))
	for i, h := range history {
		hist[i] = cloneVersion(h)
		if len(hist[i].Sources) == 0 {
			hist[i].Sources = []string{SourceImported}
		}
	}
	sortVersionsNewestFirst(hist)

	var loose []Version
	for _, s := range snapshots {
		if i := liveMatch(hist, s); i >= 0 {
			hist[i] = join(hist[i], s)
			continue
		}
		loose = append(loose, cloneVersion(s))
	}
	sortVersionsNewestFirst(loose)

	// Merge loose snapshots with the same md5 that are neighbours within the window, keeping
	// the earliest time: the change happened when it was first seen.
	var kept []Version
	for _, s := range loose {
		if n := len(kept); n > 0 && kept[n-1].MD5 == s.MD5 && kept[n-1].At.Sub(s.At) <= MergeWindow {
			older := join(s, kept[n-1])
			older.At = s.At
			kept[n-1] = older
			continue
		}
		kept = append(kept, s)
	}

	out := append(hist, kept...)
	sortVersionsNewestFirst(out)
	return out
}

// liveMatch finds the history version (hist is newest first) with the snapshot's md5 whose
// live interval, widened by MergeWindow, holds the snapshot's time; the closest one wins.
func liveMatch(hist []Version, s Version) int {
	best, bestGap := -1, time.Duration(0)
	for i, h := range hist {
		if h.MD5 != s.MD5 {
			continue
		}
		from := h.At.Add(-MergeWindow)
		if s.At.Before(from) {
			continue
		}
		// The version was live until the next newer history version (hist[i-1]).
		if i > 0 && !s.At.Before(hist[i-1].At.Add(MergeWindow)) {
			continue
		}
		gap := s.At.Sub(h.At)
		if gap < 0 {
			gap = -gap
		}
		if best < 0 || gap < bestGap {
			best, bestGap = i, gap
		}
	}
	return best
}

// join adds what other knows to v: its sources, and fields v lacks.
func join(v, other Version) Version {
	for _, src := range other.Sources {
		if !slices.Contains(v.Sources, src) {
			v.Sources = append(v.Sources, src)
		}
	}
	sort.Strings(v.Sources)
	if v.Content == "" {
		v.Content = other.Content
	}
	if v.Operator == "" {
		v.Operator = other.Operator
	}
	if v.SourceIP == "" {
		v.SourceIP = other.SourceIP
	}
	if v.Op == "" {
		v.Op = other.Op
	}
	if v.HistoryID == "" {
		v.HistoryID = other.HistoryID
	}
	if v.Key == (ConfigKey{}) {
		v.Key = other.Key
	}
	return v
}

func cloneVersion(v Version) Version {
	v.Sources = slices.Clone(v.Sources)
	return v
}

func sortVersionsNewestFirst(vs []Version) {
	sort.SliceStable(vs, func(i, j int) bool { return vs[i].At.After(vs[j].At) })
}
