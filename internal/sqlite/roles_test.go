package sqlite

import (
	"context"
	"testing"

	"github.com/rewindhq/rewind/internal/rewind"
)

// Roles per environment of users and service tokens are kept, replaced and
// read back with the user; the requests and audit events of environments
// one does not see are left out of lists.
func TestRolesPerEnvironment(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	dev, prod := &rewind.Environment{Name: "dev"}, &rewind.Environment{Name: "prod", RequiredApprovals: 1}
	for _, e := range []*rewind.Environment{dev, prod} {
		if err := s.SaveEnvironment(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	u := &rewind.User{Username: "lena", Role: rewind.RoleOperator, EnvRoles: rewind.EnvRoles{prod.ID: rewind.RoleApprover}, PasswordHash: "x"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	got, err := s.UserByName(ctx, "lena")
	if err != nil || got.RoleIn(prod.ID) != rewind.RoleApprover || got.RoleIn(dev.ID) != rewind.RoleOperator || got.Source != rewind.SourceLocal {
		t.Fatalf("lena: %+v %v", got, err)
	}
	if err := s.SetRoles(ctx, "lena", rewind.RoleNone, rewind.EnvRoles{dev.ID: rewind.RoleViewer}); err != nil {
		t.Fatal(err)
	}
	users, err := s.Users(ctx)
	if err != nil || len(users) != 1 || users[0].RoleIn(prod.ID) != rewind.RoleNone || users[0].RoleIn(dev.ID) != rewind.RoleViewer {
		t.Fatalf("lena after SetRoles: %+v %v", users, err)
	}
	if err := s.SetRoles(ctx, "lena", "boss", nil); rewind.ErrorCode(err) != rewind.EINVALID {
		t.Errorf("unknown role: %v", err)
	}

	tok := &rewind.APIToken{Name: "ci", Role: rewind.RoleNone, EnvRoles: rewind.EnvRoles{dev.ID: rewind.RoleOperator}, Prefix: "rwd_ci", CreatedBy: "adam"}
	if err := s.CreateToken(ctx, tok, "hash-ci", rewind.AuditEvent{Actor: "adam", Action: rewind.ActionTokenCreate}); err != nil {
		t.Fatal(err)
	}
	back, err := s.TokenByHash(ctx, "hash-ci")
	if err != nil || back.EnvRoles[dev.ID] != rewind.RoleOperator || back.Role != rewind.RoleNone {
		t.Fatalf("token: %+v %v", back, err)
	}

	for _, e := range []struct {
		env  string
		what string
	}{{"dev", "a"}, {"prod", "b"}, {"", "c"}} {
		if err := s.AddAudit(ctx, rewind.AuditEvent{Actor: "lena", Action: "x", Environment: e.env, Detail: e.what}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		envs []string
		want int
	}{{nil, 4}, {[]string{"dev"}, 1}, {[]string{}, 0}, {[]string{"dev", "prod"}, 2}} {
		if _, n, err := s.Audit(ctx, rewind.AuditFilter{Environments: tc.envs}); err != nil || n != tc.want {
			t.Errorf("audit of %v: %d events, %v; want %d", tc.envs, n, err, tc.want)
		}
	}
}
