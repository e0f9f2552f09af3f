package sqlite

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/rewind"
)

func seedUser(t *testing.T, s *Store, name string) *rewind.User {
	t.Helper()
	u := &rewind.User{Username: name, Role: rewind.RoleViewer, PasswordHash: "x"}
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSessions(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s.now = func() time.Time { return now }
	vera, otto := seedUser(t, s, "vera"), seedUser(t, s, "otto")
	add := func(id string, u *rewind.User, created time.Time) {
		t.Helper()
		ss := &rewind.Session{ID: id, UserID: u.ID, CreatedAt: created, ExpiresAt: created.Add(12 * time.Hour), Address: "192.0.2.1", UserAgent: "test"}
		if err := s.CreateSession(ctx, ss, 2*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	add("v1", vera, now)
	add("v2", vera, now.Add(time.Second))
	add("o1", otto, now.Add(2*time.Second))

	ss, u, err := s.SessionUser(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if ss.Username != "vera" || u.ID != vera.ID || u.Role != rewind.RoleViewer || ss.Address != "192.0.2.1" || !ss.CreatedAt.Equal(now) {
		t.Errorf("session = %+v, user %+v", ss, u)
	}
	if _, _, err := s.SessionUser(ctx, "nope"); rewind.ErrorCode(err) != rewind.ENOTFOUND {
		t.Errorf("unknown session: %v", err)
	}
	if err := s.TouchSession(ctx, "v1", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if ss, _, _ := s.SessionUser(ctx, "v1"); !ss.LastSeen.Equal(now.Add(time.Minute)) {
		t.Errorf("last seen %v after touch", ss.LastSeen)
	}

	n, err := s.DeleteUserSessions(ctx, "vera", "v2")
	if err != nil || n != 1 {
		t.Fatalf("end vera's other sessions: %d, %v", n, err)
	}
	active, err := s.ActiveSessions(ctx, now.Add(time.Hour), 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range active {
		ids = append(ids, a.ID)
	}
	if got, want := strings.Join(ids, ","), "o1,v2"; got != want {
		t.Errorf("active sessions = %s, want %s", got, want)
	}
	if err := s.DeleteSession(ctx, "o1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SessionUser(ctx, "o1"); err == nil {
		t.Error("ended session still found")
	}
	if active, _ := s.ActiveSessions(ctx, now.Add(3*time.Hour), 2*time.Hour); len(active) != 0 {
		t.Errorf("idle sessions listed as active: %d", len(active))
	}

	// A login three hours later drops the idle sessions, and one user keeps
	// at most MaxUserSessions.
	later := now.Add(3 * time.Hour)
	for i := 0; i < rewind.MaxUserSessions+5; i++ {
		add(fmt.Sprintf("w%d", i), otto, later.Add(time.Duration(i)*time.Second))
	}
	var count int
	if err := s.DB().QueryRow(`SELECT COUNT(*) FROM sessions`).Scan(&count); err != nil {
		t.Fatal(err)
	}
	if count != rewind.MaxUserSessions {
		t.Errorf("%d sessions kept, want %d", count, rewind.MaxUserSessions)
	}
	if _, _, err := s.SessionUser(ctx, "v2"); err == nil {
		t.Error("idle session v2 was not dropped")
	}
	if _, _, err := s.SessionUser(ctx, "w0"); err == nil {
		t.Error("oldest session beyond the per-user bound was kept")
	}
}

func TestLoginFailuresCoalesce(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s.now = func() time.Time { return now }
	fail := func(user, addr string) {
		t.Helper()
		if err := s.AddLoginFailure(ctx, user, addr); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 5; i++ {
		fail("vera", "192.0.2.1")
	}
	fail("vera", "192.0.2.10")
	now = now.Add(time.Minute)
	fail("vera", "192.0.2.1")
	for i := 0; i < MaxLoginFailureRows+50; i++ {
		fail(fmt.Sprintf("u%d", i), "198.51.100.7")
	}
	events, total, err := s.Audit(ctx, rewind.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 + MaxLoginFailureRows + 1; total != want {
		t.Errorf("%d audit rows, want %d", total, want)
	}
	details := map[string]string{}
	for _, e := range events {
		details[e.Actor+" "+e.At.Format("15:04")] += e.Detail + ";"
	}
	tests := []struct{ key, want string }{
		{"vera 03:04", "from 192.0.2.10;from 192.0.2.1 (5 attempts);"},
		{"vera 03:05", "from 192.0.2.1;"},
		{LoginFailureOthers + " 03:05", "from many addresses (51 attempts);"},
	}
	for _, tt := range tests {
		if got := details[tt.key]; got != tt.want {
			t.Errorf("%s: details %q, want %q", tt.key, got, tt.want)
		}
	}
}
