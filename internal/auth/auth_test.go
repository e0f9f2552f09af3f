package auth

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPassword(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !CheckPassword(h, "correct horse") {
		t.Error("right password refused")
	}
	if CheckPassword(h, "wrong horse") || CheckPassword("", "") {
		t.Error("wrong password accepted")
	}
	if a, b := GeneratePassword(), GeneratePassword(); a == b || len(a) < 20 {
		t.Errorf("generated %q and %q", a, b)
	}
}

// fakeClock is a throttle's clock that tests move by hand.
type fakeClock struct{ now time.Time }

func newTestThrottle() (*Throttle, *fakeClock) {
	clk := &fakeClock{now: time.Unix(1000, 0)}
	th := NewThrottle()
	th.now = func() time.Time { return clk.now }
	return th, clk
}

// try runs one attempt and reports how long it had to wait (0: it ran).
func try(th *Throttle, user, addr string, ok bool) time.Duration {
	done, wait := th.Begin(user, addr)
	if wait > 0 {
		return wait
	}
	done(ok)
	return 0
}

func TestThrottleSequential(t *testing.T) {
	th, clk := newTestThrottle()
	for i := 0; i < 3; i++ {
		if got := try(th, "bob", "10.0.0.1", false); got != 0 {
			t.Fatalf("failure %d waited %v, want 0", i+1, got)
		}
	}
	if got := try(th, "bob", "10.0.0.1", true); got != time.Second {
		t.Fatalf("after 3 failures: wait %v, want 1s", got)
	}
	if got := try(th, "Bob ", "10.0.0.9", true); got != time.Second {
		t.Errorf("same user in other case from another address: wait %v, want 1s", got)
	}
	if got := try(th, "alice", "10.0.0.1", false); got != 0 {
		t.Errorf("other user from the same address waits %v", got)
	}
	clk.now = clk.now.Add(time.Second)
	if got := try(th, "bob", "10.0.0.1", false); got != 0 {
		t.Fatalf("after the wait: %v", got)
	}
	if got := try(th, "bob", "10.0.0.1", false); got != 2*time.Second {
		t.Errorf("after 4 failures: wait %v, want 2s", got)
	}
	clk.now = clk.now.Add(2 * time.Second)
	if got := try(th, "bob", "10.0.0.1", true); got != 0 {
		t.Fatalf("right password after the wait: %v", got)
	}
	if got := try(th, "bob", "10.0.0.1", false); got != 0 {
		t.Errorf("a success did not clear the user: wait %v", got)
	}
	clk.now = clk.now.Add(16 * time.Minute)
	if th.Len() == 0 {
		t.Fatal("table empty before a sweep")
	}
	for i := 0; i < 3; i++ {
		if got := try(th, "bob", "10.0.0.1", false); got != 0 {
			t.Fatalf("after 16 quiet minutes, failure %d waited %v", i+1, got)
		}
	}
}

func TestThrottlePerAddress(t *testing.T) {
	th, _ := newTestThrottle()
	for i := 0; i < th.AddrFree; i++ {
		if got := try(th, fmt.Sprintf("user%d", i), "2001:db8::1", false); got != 0 {
			t.Fatalf("user %d waited %v", i, got)
		}
	}
	tests := []struct {
		name, user, addr string
		throttled        bool
	}{
		{"new user, same address", "fresh", "2001:db8::1", true},
		{"same /64", "fresh", "2001:db8::ffff", true},
		{"other /64", "fresh", "2001:db8:0:1::1", false},
		{"a valid login does not reset the address", "user0", "2001:db8::1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := try(th, tt.user, tt.addr, true) > 0; got != tt.throttled {
				t.Errorf("throttled = %v, want %v", got, tt.throttled)
			}
		})
	}
}

// TestThrottleParallel starts 50 guesses at once, each password check slow:
// only the free failures may run before the first of them has finished.
func TestThrottleParallel(t *testing.T) {
	th, _ := newTestThrottle()
	var ran atomic.Int32
	var wg sync.WaitGroup
	start, release := make(chan struct{}), make(chan struct{})
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			done, wait := th.Begin("bob", "10.0.0.1")
			if wait > 0 {
				return
			}
			ran.Add(1)
			<-release // the bcrypt check is still running
			done(false)
		}()
	}
	close(start)
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if got, want := ran.Load(), int32(th.UserFree); got != want {
		t.Errorf("%d parallel guesses ran, want %d", got, want)
	}
}

func TestThrottleFullTable(t *testing.T) {
	th, clk := newTestThrottle()
	th.Size, th.AddrFree = 10, 3
	for i := 0; i < 3; i++ {
		try(th, "victim", "10.0.0.1", false)
	}
	for i := 0; th.Len() < th.Size; i++ {
		try(th, fmt.Sprintf("u%d", i), fmt.Sprintf("10.1.0.%d", i), false)
		try(th, fmt.Sprintf("u%d", i), fmt.Sprintf("10.1.0.%d", i), false)
		try(th, fmt.Sprintf("u%d", i), fmt.Sprintf("10.1.0.%d", i), false)
	}
	clk.now = clk.now.Add(2 * time.Second)
	if got := try(th, "newcomer", "10.2.0.1", false); got != FullWait {
		t.Errorf("new key in a full table of throttled keys: wait %v, want %v", got, FullWait)
	}
	if got := try(th, "victim", "10.0.0.1", false); got != 0 {
		t.Fatalf("victim after its wait: %v", got)
	}
	if got := try(th, "victim", "10.0.0.1", true); got != 2*time.Second {
		t.Errorf("victim after a 4th failure waits %v, want 2s: filling the table reset it", got)
	}
}

func TestBound(t *testing.T) {
	tests := []struct{ in, want string }{
		{"bob", "bob"},
		{"a\r\nb\tc\x00d\x1b[31m", "abcd[31m"},
		{strings.Repeat("x", 70), strings.Repeat("x", 63) + "…"},
		{strings.Repeat("é", 64), strings.Repeat("é", 64)},
		{"\xff\xfeok", "ok"},
		{"rtl\u202eevil", "rtlevil"},
	}
	for _, tt := range tests {
		if got := Bound(tt.in, 64); got != tt.want {
			t.Errorf("Bound(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
