package sqlite

import (
	"bytes"
	"context"
	"testing"

	"github.com/rewindhq/rewind/internal/auth"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/secret"
)

// replica opens a second handle on the store named name, as another
// Rewind process would, with the secret key key.
func replica(t *testing.T, name string, key []byte) (*Store, error) {
	t.Helper()
	box, err := secret.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), name, box)
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}

// TestSecretKeyCheck checks that a store opens only with the secret key
// that sealed its credentials, and that a refused open changes nothing.
func TestSecretKeyCheck(t *testing.T) {
	ctx := context.Background()
	s, name := openTest(t) // sealed with 32 zero bytes
	db := &rewind.Database{Name: "orders", EnvironmentID: seedTarget(t, s, 0).EnvironmentID, Engine: rewind.EnginePostgres, DSN: "postgres://app:s3cret@db/orders"}
	if err := s.SaveDatabase(ctx, db); err != nil {
		t.Fatal(err)
	}
	other := bytes.Repeat([]byte{7}, 32)
	if _, err := replica(t, name, other); rewind.ErrorCode(err) != rewind.ECONFLICT {
		t.Fatalf("open with another key: %v, want a conflict", err)
	}
	same, err := replica(t, name, make([]byte, 32))
	if err != nil {
		t.Fatalf("open with the same key: %v", err)
	}
	got, err := same.Database(ctx, db.ID)
	if err != nil || got.DSN != db.DSN {
		t.Errorf("credentials after a refused open: %v %v", got, err)
	}
}

// TestSharedKey checks that every replica gets the same key, the first
// one's (from a file it had, when it had one).
func TestSharedKey(t *testing.T) {
	ctx := context.Background()
	a, name := openTest(t)
	b, err := replica(t, name, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	kept := bytes.Repeat([]byte{42}, 64)
	ka, err := a.SharedKey(ctx, "session", 64, kept)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := b.SharedKey(ctx, "session", 64, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ka, kept) || !bytes.Equal(kb, kept) {
		t.Errorf("keys %x and %x, want both the kept %x", ka[:4], kb[:4], kept[:4])
	}
	other, err := b.SharedKey(ctx, "other", 32, nil)
	if err != nil || len(other) != 32 || bytes.Equal(other[:32], ka[:32]) {
		t.Errorf("another key: %x %v", other, err)
	}
	var raw []byte
	if err := a.DB().QueryRowContext(ctx, `SELECT sealed FROM store_keys WHERE name = 'session'`).Scan(&raw); err != nil || bytes.Contains(raw, kept[:16]) {
		t.Errorf("the session key is kept in the clear (%v)", err)
	}
}

// TestLeaseWrites checks that the lease's writes are compare-and-swap: of
// two replicas that read one version, one write wins.
func TestLeaseWrites(t *testing.T) {
	ctx := context.Background()
	a, name := openTest(t)
	b, err := replica(t, name, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Lease(ctx, "leader"); rewind.ErrorCode(err) != rewind.ENOTFOUND {
		t.Fatalf("lease before any: %v", err)
	}
	if ok, err := a.CreateLease(ctx, "leader", []byte(`{"holder":"a"}`)); !ok || err != nil {
		t.Fatalf("first create: %v %v", ok, err)
	}
	if ok, err := b.CreateLease(ctx, "leader", []byte(`{"holder":"b"}`)); ok || err != nil {
		t.Fatalf("second create: %v %v, want refused", ok, err)
	}
	_, va, _ := a.Lease(ctx, "leader")
	_, vb, _ := b.Lease(ctx, "leader")
	okA, errA := a.UpdateLease(ctx, "leader", []byte(`{"holder":"a","renew":1}`), va)
	okB, errB := b.UpdateLease(ctx, "leader", []byte(`{"holder":"b"}`), vb)
	if !okA || okB || errA != nil || errB != nil {
		t.Fatalf("updates from one version: a %v %v, b %v %v; want only a", okA, errA, okB, errB)
	}
	rec, v, err := b.Lease(ctx, "leader")
	if err != nil || string(rec) != `{"holder":"a","renew":1}` || v != va+1 {
		t.Errorf("lease = %s v%d (%v)", rec, v, err)
	}
}

// TestSharedThrottle checks that the failed logins counted by one replica
// slow down the same guesses at another.
func TestSharedThrottle(t *testing.T) {
	a, name := openTest(t)
	b, err := replica(t, name, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	ta, tb := auth.NewThrottle(), auth.NewThrottle()
	ta.Shared, tb.Shared = a, b
	for i := range ta.UserFree {
		done, wait := ta.Begin("bob", "10.0.0.1")
		if wait > 0 {
			t.Fatalf("failure %d at replica a waited %v", i+1, wait)
		}
		done(false)
	}
	if _, wait := tb.Begin("Bob", "10.0.0.2"); wait <= 0 {
		t.Fatal("replica b let a guess run after replica a counted the free failures")
	}
	done, wait := tb.Begin("alice", "10.0.0.2")
	if wait > 0 {
		t.Fatalf("another user at replica b waits %v", wait)
	}
	done(true)
	var n int
	if err := a.DB().QueryRow(`SELECT COUNT(*) FROM login_throttle WHERE key = 'u|alice'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("a user's clean success left %d rows (%v)", n, err)
	}
}
