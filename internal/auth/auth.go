// Package auth hashes passwords and slows down repeated failed logins.
package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Cost is the bcrypt cost of new password hashes. Tests may lower it.
var Cost = bcrypt.DefaultCost

// HashPassword returns the bcrypt hash of pw.
func HashPassword(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), Cost)
	return string(h), err
}

// dummyHash is compared against when the user does not exist, so that a login
// takes as long for an unknown user as for a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("no such user"), bcrypt.DefaultCost)

// CheckPassword reports whether pw matches hash; an empty hash never matches
// but costs the same time.
func CheckPassword(hash, pw string) bool {
	if hash == "" {
		bcrypt.CompareHashAndPassword(dummyHash, []byte(pw))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

// GeneratePassword returns a random password for a first admin.
func GeneratePassword() string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Throttle slows down failed logins, per username and per client address.
//
// Each key (a username, an address) has a few free failures (UserFree,
// AddrFree); past them, only one attempt at a time may run, and only after a
// wait that doubles with each further failure, up to MaxWait. An attempt
// counts from Begin, before its password check finishes, so parallel guesses
// cannot all slip through while the first ones are still being checked. A
// success clears the username's failures, not the address's. A key forgets
// its failures after Forget of quiet.
//
// The failures are kept in memory, for one Rewind, or in a Shared table
// (the store) that several replicas count together. The table holds at
// most Size keys. When it is full, keys that are not throttled are dropped
// first; if none can go, new keys are refused (they wait), so filling the
// table never frees a throttled key.
type Throttle struct {
	UserFree, AddrFree int
	MaxWait, Forget    time.Duration
	Size               int
	// Shared, when set, keeps the failures where every replica counts them.
	Shared SharedTable

	mu    sync.Mutex
	now   func() time.Time
	keys  map[string]*Failures
	swept time.Time
}

// Failures is what a throttle remembers of one key.
type Failures struct {
	Count    int       // failed attempts
	InFlight int       // attempts begun and not yet done
	Until    time.Time // no attempt before this
	Last     time.Time // last attempt begun or done
}

// SharedTable keeps a throttle's failures for several processes.
type SharedTable interface {
	// UpdateThrottle first drops the keys without attempts under way last
	// seen before forgetBefore, then runs fn on the failures of keys (a
	// zero record for a key it lacks) and on how many keys it holds, in
	// one step that no other update interleaves, and keeps what fn leaves;
	// a record left without failures or attempts is dropped.
	UpdateThrottle(ctx context.Context, keys []string, forgetBefore time.Time, fn func(fs []*Failures, held int)) error
}

// NewThrottle returns an empty throttle with Rewind's limits.
func NewThrottle() *Throttle {
	return &Throttle{UserFree: 3, AddrFree: 10, MaxWait: 5 * time.Minute, Forget: 15 * time.Minute, Size: 20000,
		now: time.Now, keys: map[string]*Failures{}}
}

// FullWait is how long a new key waits while the table is full of throttled keys.
const FullWait = time.Minute

// staleAttempt is how long an attempt counts as under way at most: one
// whose process died never says it ended.
const staleAttempt = time.Minute

// sharedTimeout bounds one update of the shared table.
const sharedTimeout = 10 * time.Second

// Begin starts a login attempt for username from addr. When the attempt may
// not run now it returns how long to wait and a nil done; otherwise done must
// be called once with the outcome of the password check.
func (t *Throttle) Begin(username, addr string) (done func(ok bool), wait time.Duration) {
	ak, uk := "a|"+AddressKey(addr), "u|"+UserKey(username)
	if t.Shared != nil {
		return t.beginShared(ak, uk)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	a, wait := t.admit(ak, t.AddrFree, now)
	if wait > 0 {
		return nil, wait
	}
	u, wait := t.admit(uk, t.UserFree, now)
	if wait > 0 {
		t.release(ak, a, false, t.AddrFree, now, true)
		return nil, wait
	}
	var once sync.Once
	return func(ok bool) {
		once.Do(func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			now := t.now()
			t.release(ak, a, ok, t.AddrFree, now, false)
			t.release(uk, u, ok, t.UserFree, now, false)
			if ok {
				if u.InFlight == 0 {
					delete(t.keys, uk)
				} else {
					u.Count, u.Until = 0, time.Time{}
				}
			}
		})
	}, 0
}

// beginShared is Begin on the shared table. When the table cannot be read
// the attempt waits: a login that cannot be counted does not run.
func (t *Throttle) beginShared(ak, uk string) (done func(ok bool), wait time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	now := t.now()
	err := t.Shared.UpdateThrottle(ctx, []string{ak, uk}, now.Add(-t.Forget), func(fs []*Failures, held int) {
		a, u := fs[0], fs[1]
		if held >= t.Size && (a.Last.IsZero() || u.Last.IsZero()) {
			wait = FullWait
			return
		}
		if wait = t.admitOne(a, t.AddrFree, now); wait > 0 {
			return
		}
		if wait = t.admitOne(u, t.UserFree, now); wait > 0 {
			t.releaseOne(a, false, t.AddrFree, now, true)
		}
	})
	if err != nil {
		return nil, time.Second
	}
	if wait > 0 {
		return nil, wait
	}
	var once sync.Once
	return func(ok bool) {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
			defer cancel()
			now := t.now()
			_ = t.Shared.UpdateThrottle(ctx, []string{ak, uk}, now.Add(-t.Forget), func(fs []*Failures, _ int) {
				t.releaseOne(fs[0], ok, t.AddrFree, now, false)
				t.releaseOne(fs[1], ok, t.UserFree, now, false)
				if ok {
					fs[1].Count, fs[1].Until = 0, time.Time{}
				}
			})
		})
	}, 0
}

// admit finds or adds key and takes one in-flight slot when it may run now.
func (t *Throttle) admit(key string, free int, now time.Time) (*Failures, time.Duration) {
	f := t.keys[key]
	if f == nil {
		if len(t.keys) >= t.Size && !t.sweep(now) {
			return nil, FullWait
		}
		f = &Failures{}
		t.keys[key] = f
	}
	return f, t.admitOne(f, free, now)
}

// admitOne takes one in-flight slot of f when an attempt may run now, or
// says how long to wait.
func (t *Throttle) admitOne(f *Failures, free int, now time.Time) time.Duration {
	if f.InFlight > 0 && now.Sub(f.Last) > staleAttempt {
		f.InFlight = 0
	}
	if f.InFlight == 0 && now.Sub(f.Last) > t.Forget {
		f.Count, f.Until = 0, time.Time{}
	}
	if d := f.Until.Sub(now); d > 0 {
		return d
	}
	if f.Count+f.InFlight >= free && f.InFlight > 0 {
		return time.Second // past the free failures: one attempt at a time
	}
	f.InFlight++
	f.Last = now
	return 0
}

// release ends an in-flight attempt of key; a failure (or a refused pair) counts.
func (t *Throttle) release(key string, f *Failures, ok bool, free int, now time.Time, refused bool) {
	t.releaseOne(f, ok, free, now, refused)
	if ok && f.Count == 0 && f.InFlight == 0 {
		delete(t.keys, key)
	}
}

// releaseOne ends an in-flight attempt of f; a failure (not a refused
// pair, not a success) counts.
func (t *Throttle) releaseOne(f *Failures, ok bool, free int, now time.Time, refused bool) {
	f.InFlight = max(f.InFlight-1, 0)
	f.Last = now
	if ok || refused {
		return
	}
	f.Count++
	if f.Count >= free {
		d := time.Second << min(f.Count-free, 9)
		f.Until = now.Add(min(d, t.MaxWait))
	}
}

// sweep drops keys that are not throttled, at most once a second, and
// reports whether the table has room now.
func (t *Throttle) sweep(now time.Time) bool {
	if now.Sub(t.swept) >= time.Second {
		t.swept = now
		for k, f := range t.keys {
			free := t.UserFree
			if strings.HasPrefix(k, "a|") {
				free = t.AddrFree
			}
			if f.InFlight == 0 && (f.Count < free && !now.Before(f.Until) || now.Sub(f.Last) > t.Forget) {
				delete(t.keys, k)
			}
		}
	}
	return len(t.keys) < t.Size
}

// Len returns how many keys the throttle holds.
func (t *Throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.keys)
}

// UserKey is the throttle's key of a username: case-folded and bounded.
func UserKey(username string) string {
	return Bound(strings.ToLower(strings.TrimSpace(username)), 64)
}

// AddressKey is the throttle's key of a client address: an IPv6 address
// stands for its /64, which one client usually holds whole.
func AddressKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return Bound(addr, 64)
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// Bound returns s without control characters and invalid UTF-8, cut to at
// most n runes (the last one … when cut; n > 0): for storing text a visitor chose.
func Bound(s string, n int) string {
	var kept []rune
	for _, r := range strings.ToValidUTF8(s, "") {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == 0x2028 || r == 0x2029 || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
			continue
		}
		if len(kept) == n {
			kept[n-1] = '…'
			break
		}
		kept = append(kept, r)
	}
	return string(kept)
}
