package rewind

import (
	"reflect"
	"testing"
)

func TestLifecycleTransitions(t *testing.T) {
	tests := []struct {
		from, to State
		want     bool
	}{
		{StatePending, StateApproved, true},
		{StatePending, StateRunning, false},
		{StateApproved, StateRunning, true},
		{StateApproved, StateCancelled, true},
		{StateRunning, StateSucceeded, true},
		{StateRunning, StateFailed, true},
		{StateRunning, StateCancelled, false},
		{StateSucceeded, StateRunning, false},
		{StateRejected, StateApproved, false},
		{StateFailed, StateApproved, true}, // a retry or a skip of the failed step
		{StateFailed, StateRunning, false},
	}
	for _, tt := range tests {
		if got := tt.from.CanMoveTo(tt.to); got != tt.want {
			t.Errorf("%s → %s = %v, want %v", tt.from, tt.to, got, tt.want)
		}
	}
	for _, s := range []State{StateSucceeded, StateFailed, StateRejected, StateCancelled} {
		if !s.Final() {
			t.Errorf("%s not final", s)
		}
	}
}

func TestDecide(t *testing.T) {
	r := &Request{State: StatePending, Requester: "otto", RequiredApprovals: 2,
		Approvals: []Approval{{Approver: "anna", Approve: true}}}
	tests := []struct {
		name    string
		user    User
		approve bool
		comment string
		want    State
		code    string
	}{
		{"requester", User{Username: "otto", Role: RoleAdmin}, true, "", "", EFORBIDDEN},
		{"operator", User{Username: "olga", Role: RoleOperator}, true, "", "", EFORBIDDEN},
		{"twice", User{Username: "anna", Role: RoleApprover}, true, "", "", ECONFLICT},
		{"second approval", User{Username: "bob", Role: RoleApprover}, true, "", StateApproved, ""},
		{"reject needs comment", User{Username: "bob", Role: RoleApprover}, false, " ", "", EINVALID},
		{"reject", User{Username: "bob", Role: RoleApprover}, false, "no", StateRejected, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.Decide(tt.user, tt.approve, tt.comment)
			if got != tt.want || ErrorCode(err) != tt.code && !(err == nil && tt.code == "") {
				t.Errorf("Decide = %q, %v; want %q, code %q", got, err, tt.want, tt.code)
			}
		})
	}
	done := &Request{State: StateRunning, Requester: "otto", RequiredApprovals: 1}
	if _, err := done.Decide(User{Username: "bob", Role: RoleApprover}, true, ""); ErrorCode(err) != ECONFLICT {
		t.Errorf("decide on running request: %v", err)
	}
}

func TestImageChanges(t *testing.T) {
	a := []Image{{Container: "app", Image: "web:1"}, {Container: "sidecar", Image: "proxy:1"}, {Container: "init", Image: "mig:1", Init: true}}
	b := []Image{{Container: "app", Image: "web:2"}, {Container: "init", Image: "mig:1", Init: true}, {Container: "new", Image: "x:1"}}
	got := ImageChanges(a, b)
	want := []ImageChange{{Container: "app", Old: "web:1", New: "web:2"}, {Container: "new", New: "x:1"}, {Container: "sidecar", Old: "proxy:1"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ImageChanges = %+v, want %+v", got, want)
	}
}

func TestValidation(t *testing.T) {
	if _, err := ValidateReason("  "); ErrorCode(err) != EINVALID {
		t.Error("empty reason accepted")
	}
	if err := ValidateCluster(Cluster{Name: "prod", EnvironmentID: 1, KubeconfigPath: "/k", InCluster: true, Namespaces: []string{"a"}}); err == nil {
		t.Error("two credential sources accepted")
	}
	if err := ValidateCluster(Cluster{Name: "Prod!", EnvironmentID: 1, InCluster: true, Namespaces: []string{"a"}}); err == nil {
		t.Error("bad name accepted")
	}
	if got := ParseList("a, b  a\nc"); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Errorf("ParseList = %v", got)
	}
}
