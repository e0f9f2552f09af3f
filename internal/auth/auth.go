// Package auth hashes passwords and slows down repeated failed logins.
package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
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

// ErrThrottled is returned while a key must wait before its next attempt.
var ErrThrottled = errors.New("too many failed logins; wait before trying again")

// Throttle slows down repeated failed logins per key (username and address):
// after 3 failures each further attempt must wait twice as long as the last,
// up to 5 minutes. A success clears the key.
type Throttle struct {
	mu    sync.Mutex
	now   func() time.Time
	fails map[string]*failures
}

type failures struct {
	count int
	until time.Time
}

// NewThrottle returns an empty throttle.
func NewThrottle() *Throttle {
	return &Throttle{now: time.Now, fails: map[string]*failures{}}
}

// Wait returns how long key must still wait before it may try again.
func (t *Throttle) Wait(key string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.fails[key]
	if f == nil {
		return 0
	}
	if d := f.until.Sub(t.now()); d > 0 {
		return d
	}
	return 0
}

// Fail records a failed attempt for key.
func (t *Throttle) Fail(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.fails[key]
	if f == nil {
		if len(t.fails) > 10000 {
			t.fails = map[string]*failures{} // bound memory under a flood
		}
		f = &failures{}
		t.fails[key] = f
	}
	f.count++
	if f.count >= 3 {
		d := time.Second << min(f.count-3, 8)
		f.until = t.now().Add(min(d, 5*time.Minute))
	}
}

// Succeed clears key.
func (t *Throttle) Succeed(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.fails, key)
}
