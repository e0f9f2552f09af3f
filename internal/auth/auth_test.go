package auth

import (
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

func TestThrottle(t *testing.T) {
	now := time.Unix(0, 0)
	th := NewThrottle()
	th.now = func() time.Time { return now }
	for i := 0; i < 2; i++ {
		th.Fail("bob")
	}
	if got := th.Wait("bob"); got != 0 {
		t.Fatalf("wait after 2 failures = %v, want 0", got)
	}
	th.Fail("bob")
	if got := th.Wait("bob"); got != time.Second {
		t.Fatalf("wait after 3 failures = %v, want 1s", got)
	}
	th.Fail("bob")
	if got := th.Wait("bob"); got != 2*time.Second {
		t.Fatalf("wait after 4 failures = %v, want 2s", got)
	}
	if got := th.Wait("alice"); got != 0 {
		t.Errorf("other key waits %v", got)
	}
	th.Succeed("bob")
	if got := th.Wait("bob"); got != 0 {
		t.Errorf("wait after success = %v", got)
	}
}
