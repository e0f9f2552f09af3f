package requests_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/rewindhq/rewind/internal/requests"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/secret"
	"github.com/rewindhq/rewind/internal/sqlite"
)

type wakes struct{ n int }

func (w *wakes) Wake() { w.n++ }

// fixture returns the use cases over a real store with one service target
// in an environment needing one approval, and its version 1.
func fixture(t *testing.T) (*requests.Service, *sqlite.Store, *rewind.Target, *rewind.Version, *wakes) {
	t.Helper()
	ctx := context.Background()
	box, err := secret.NewBox(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "rewind.db"), box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	env := &rewind.Environment{Name: "prod", RequiredApprovals: 1}
	if err := store.SaveEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	tg := &rewind.Target{Kind: rewind.KindService, EnvironmentID: env.ID, OwnerID: 1, Namespace: "shop", Workload: "Deployment", Name: "web"}
	if _, err := store.EnsureTarget(ctx, tg); err != nil {
		t.Fatal(err)
	}
	v, _, err := store.RecordVersion(ctx, &rewind.Version{TargetID: tg.ID, Revision: "1", Content: "a", Hash: "1", Source: rewind.SourceObserved})
	if err != nil {
		t.Fatal(err)
	}
	w := &wakes{}
	return requests.New(store, w), store, tg, v, w
}

func user(name string, role rewind.Role) requests.Actor {
	return requests.Actor{User: rewind.User{Username: name, Role: role}}
}

func TestCreate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		actor    requests.Actor
		reason   string
		wantCode string
	}{
		{"operator with reason", user("otto", rewind.RoleOperator), "bad release", ""},
		{"no reason", user("otto", rewind.RoleOperator), "  ", rewind.EINVALID},
		{"viewer", user("vera", rewind.RoleViewer), "bad release", rewind.EFORBIDDEN},
		{"read-only token", requests.Actor{User: rewind.User{Username: "otto", Role: rewind.RoleOperator}, Token: "ro", ReadOnly: true}, "bad release", rewind.EFORBIDDEN},
		{"token bound elsewhere", requests.Actor{User: rewind.User{Username: "token:ci", Role: rewind.RoleOperator}, Token: "ci", Environments: []int64{999}}, "bad release", rewind.EFORBIDDEN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, store, tg, v, w := fixture(t)
			r, err := svc.Create(context.Background(), tc.actor, requests.NewRequest{Reason: tc.reason, Steps: []requests.NewStep{{Target: tg, To: v, Base: v}}})
			if got := rewind.ErrorCode(err); got != tc.wantCode {
				t.Fatalf("code = %q (%v), want %q", got, err, tc.wantCode)
			}
			if err != nil {
				return
			}
			if r.State != rewind.StatePending || r.RequiredApprovals != 1 || w.n != 1 {
				t.Errorf("state %s, approvals %d, wakes %d; want pending, 1, 1", r.State, r.RequiredApprovals, w.n)
			}
			evs, _, err := store.Audit(context.Background(), rewind.AuditFilter{})
			if err != nil || len(evs) != 1 || evs[0].Actor != tc.actor.Name() || evs[0].RequestID != r.ID {
				t.Errorf("audit = %+v, %v; want one event by %s", evs, err, tc.actor.Name())
			}
		})
	}
}

func TestDecideAndCancel(t *testing.T) {
	for _, tc := range []struct {
		name      string
		act       func(*requests.Service, int64) (*rewind.Request, error)
		wantCode  string
		wantState rewind.State
	}{
		{"approver approves", func(s *requests.Service, id int64) (*rewind.Request, error) {
			return s.Decide(context.Background(), user("anna", rewind.RoleApprover), id, true, "")
		}, "", rewind.StateApproved},
		{"self-approval", func(s *requests.Service, id int64) (*rewind.Request, error) {
			return s.Decide(context.Background(), user("otto", rewind.RoleAdmin), id, true, "")
		}, rewind.EFORBIDDEN, ""},
		{"operator approves", func(s *requests.Service, id int64) (*rewind.Request, error) {
			return s.Decide(context.Background(), user("olga", rewind.RoleOperator), id, true, "")
		}, rewind.EFORBIDDEN, ""},
		{"reject without reason", func(s *requests.Service, id int64) (*rewind.Request, error) {
			return s.Decide(context.Background(), user("anna", rewind.RoleApprover), id, false, " ")
		}, rewind.EINVALID, ""},
		{"reject with reason", func(s *requests.Service, id int64) (*rewind.Request, error) {
			return s.Decide(context.Background(), user("anna", rewind.RoleApprover), id, false, "wrong version")
		}, "", rewind.StateRejected},
		{"requester cancels", func(s *requests.Service, id int64) (*rewind.Request, error) {
			return s.Cancel(context.Background(), user("otto", rewind.RoleOperator), id)
		}, "", rewind.StateCancelled},
		{"other operator cancels", func(s *requests.Service, id int64) (*rewind.Request, error) {
			return s.Cancel(context.Background(), user("olga", rewind.RoleOperator), id)
		}, rewind.EFORBIDDEN, ""},
		{"unknown request", func(s *requests.Service, id int64) (*rewind.Request, error) {
			return s.Cancel(context.Background(), user("otto", rewind.RoleOperator), id+100)
		}, rewind.ENOTFOUND, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, _, tg, v, _ := fixture(t)
			r, err := svc.Create(context.Background(), user("otto", rewind.RoleOperator), requests.NewRequest{Reason: "bad release", Steps: []requests.NewStep{{Target: tg, To: v}}})
			if err != nil {
				t.Fatal(err)
			}
			got, err := tc.act(svc, r.ID)
			if code := rewind.ErrorCode(err); code != tc.wantCode {
				t.Fatalf("code = %q (%v), want %q", code, err, tc.wantCode)
			}
			if err == nil && got.State != tc.wantState {
				t.Errorf("state = %s, want %s", got.State, tc.wantState)
			}
		})
	}
}

func TestActorName(t *testing.T) {
	for _, tc := range []struct {
		a    requests.Actor
		want string
	}{
		{user("alice", rewind.RoleViewer), "alice"},
		{requests.Actor{User: rewind.User{Username: "alice"}, Token: "laptop"}, "token:laptop (alice)"},
		{requests.Actor{User: rewind.User{Username: "token:ci-prod"}, Token: "ci-prod"}, "token:ci-prod"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.a.Name(); got != tc.want {
				t.Errorf("Name() = %q, want %q", got, tc.want)
			}
		})
	}
}
