package rewind

import (
	"testing"
	"time"
)

func TestRoleInEnvironment(t *testing.T) {
	const dev, staging, prod = 1, 2, 3
	disabled := time.Now()
	for _, tc := range []struct {
		name string
		u    User
		want map[int64]Role
		// reaches is the highest role the user has somewhere.
		reaches Role
	}{
		{"one role everywhere", User{Role: RoleOperator}, map[int64]Role{dev: RoleOperator, prod: RoleOperator}, RoleOperator},
		{"approver in prod, operator elsewhere", User{Role: RoleOperator, EnvRoles: EnvRoles{prod: RoleApprover}},
			map[int64]Role{dev: RoleOperator, staging: RoleOperator, prod: RoleApprover}, RoleApprover},
		{"only in dev", User{Role: RoleNone, EnvRoles: EnvRoles{dev: RoleOperator}},
			map[int64]Role{dev: RoleOperator, staging: RoleNone, prod: RoleNone}, RoleOperator},
		{"admin but nothing in prod", User{Role: RoleAdmin, EnvRoles: EnvRoles{prod: RoleNone}},
			map[int64]Role{dev: RoleAdmin, prod: RoleNone}, RoleAdmin},
		{"disabled", User{Role: RoleAdmin, DisabledAt: &disabled}, map[int64]Role{dev: RoleNone, prod: RoleNone}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for env, want := range tc.want {
				if got := tc.u.RoleIn(env); got != want {
					t.Errorf("RoleIn(%d) = %q, want %q", env, got, want)
				}
			}
			for _, r := range Roles {
				if got, want := tc.u.Reaches(r), tc.reaches != "" && tc.reaches.Allows(r); got != want {
					t.Errorf("Reaches(%s) = %v, want %v", r, got, want)
				}
			}
		})
	}
}

// The rules of a request use the role in its environment.
func TestDecideUsesRoleInEnvironment(t *testing.T) {
	const dev, prod = 1, 2
	r := &Request{EnvironmentID: prod, State: StatePending, Requester: "otto", RequiredApprovals: 1}
	lead := User{Username: "lena", Role: RoleOperator, EnvRoles: EnvRoles{prod: RoleApprover}}
	if _, err := r.Decide(lead, true, "ok"); err != nil {
		t.Errorf("approver in prod cannot approve in prod: %v", err)
	}
	devLead := User{Username: "dora", Role: RoleViewer, EnvRoles: EnvRoles{dev: RoleAdmin}}
	if _, err := r.Decide(devLead, true, "ok"); ErrorCode(err) != EFORBIDDEN {
		t.Errorf("admin in dev approves in prod: %v", err)
	}
	if err := r.CanCancel(devLead); ErrorCode(err) != EFORBIDDEN {
		t.Errorf("admin in dev cancels another's request in prod: %v", err)
	}
	prodAdmin := User{Username: "pam", Role: RoleViewer, EnvRoles: EnvRoles{prod: RoleAdmin}}
	if err := r.CanCancel(prodAdmin); err != nil {
		t.Errorf("admin in prod cannot cancel in prod: %v", err)
	}
}
