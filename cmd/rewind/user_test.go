package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/rewind"
)

func TestUserSetPasswordEndsSessions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	getenv := func(k string) string { return map[string]string{"REWIND_DATA_DIR": dir}[k] }
	var out strings.Builder
	if err := userCmd(ctx, []string{"add", "vera", "--role", "viewer"}, getenv, strings.NewReader("first-password\n"), &out); err != nil {
		t.Fatal(err)
	}
	if err := userCmd(ctx, []string{"add", "otto", "--role", "operator"}, getenv, strings.NewReader("first-password\n"), &out); err != nil {
		t.Fatal(err)
	}
	store, err := openStore(ctx, config.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for _, s := range []struct {
		id, user string
	}{{"v1", "vera"}, {"v2", "vera"}, {"o1", "otto"}} {
		u, err := store.UserByName(ctx, s.user)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.CreateSession(ctx, &rewind.Session{ID: s.id, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	store.Close()

	out.Reset()
	if err := userCmd(ctx, []string{"set-password", "vera"}, getenv, strings.NewReader("second-password\n"), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "ended 2 session(s) of vera") {
		t.Errorf("output %q does not say the sessions ended", out.String())
	}
	store, err = openStore(ctx, config.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	active, err := store.ActiveSessions(ctx, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(active) != 1 || active[0].ID != "o1" {
		t.Errorf("sessions left: %+v, want only otto's", active)
	}
}
