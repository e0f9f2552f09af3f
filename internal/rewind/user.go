package rewind

import (
	"strings"
	"time"
)

// Role is what a user may do. Each role includes the ones before it, except
// that approving is the approver's and the admin's alone.
type Role string

// The roles, from least to most.
const (
	RoleViewer   Role = "viewer"   // reads everything
	RoleOperator Role = "operator" // requests rollbacks
	RoleApprover Role = "approver" // approves or rejects others' requests
	RoleAdmin    Role = "admin"    // manages users, clusters, environments
)

// Roles lists the roles from least to most.
var Roles = []Role{RoleViewer, RoleOperator, RoleApprover, RoleAdmin}

func (r Role) rank() int {
	for i, x := range Roles {
		if x == r {
			return i
		}
	}
	return -1
}

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool { return r.rank() >= 0 }

// Allows reports whether a user with role r may do what needs role min.
func (r Role) Allows(min Role) bool { return r.Valid() && r.rank() >= min.rank() }

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if !r.Valid() {
		return "", Errorf(EINVALID, "Unknown role %q: use viewer, operator, approver or admin.", s)
	}
	return r, nil
}

// User is a person who logs in to Rewind.
type User struct {
	ID           int64
	Username     string
	Role         Role
	PasswordHash string
	CreatedAt    time.Time
}

// ValidateUsername checks a new username.
func ValidateUsername(name string) error {
	if len(name) < 2 || len(name) > 64 {
		return Errorf(EINVALID, "A username has 2 to 64 characters.")
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' || c == '@') {
			return Errorf(EINVALID, "A username may hold letters, digits and . - _ @ only.")
		}
	}
	return nil
}

// ValidatePassword checks a new password.
func ValidatePassword(pw string) error {
	if len(pw) < 10 {
		return Errorf(EINVALID, "A password has at least 10 characters.")
	}
	if len(pw) > 128 {
		return Errorf(EINVALID, "A password has at most 128 characters.")
	}
	return nil
}
