package rewind

import (
	"context"
	"strings"
	"time"
)

// Role is what a user may do in an environment. Each role includes the ones
// before it, except that approving is the approver's and the admin's alone.
type Role string

// The roles, from least to most.
const (
	RoleViewer   Role = "viewer"   // reads everything
	RoleOperator Role = "operator" // requests rollbacks
	RoleApprover Role = "approver" // approves or rejects others' requests
	RoleAdmin    Role = "admin"    // manages users, clusters, environments
)

// RoleNone gives no access. As a user's role everywhere it leaves them only
// their per-environment roles; as a per-environment role it takes away the
// role they have everywhere else.
const RoleNone Role = "none"

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

// ParseGrant returns the role named s, which may also be none.
func ParseGrant(s string) (Role, error) {
	if r := Role(strings.ToLower(strings.TrimSpace(s))); r == RoleNone {
		return r, nil
	}
	r, err := ParseRole(s)
	if err != nil {
		return "", Errorf(EINVALID, "Unknown role %q: use none, viewer, operator, approver or admin.", s)
	}
	return r, nil
}

// EnvRoles are roles per environment ID, each replacing the role everywhere
// in its environment.
type EnvRoles map[int64]Role

// roleIn is the role that everywhere and per-environment roles give in env.
func roleIn(everywhere Role, per EnvRoles, env int64) Role {
	if r, ok := per[env]; ok {
		return r
	}
	if everywhere == "" {
		return RoleNone
	}
	return everywhere
}

// reaches reports whether everywhere or some per-environment role allows min.
func reaches(everywhere Role, per EnvRoles, min Role) bool {
	if everywhere.Allows(min) {
		return true
	}
	for _, r := range per {
		if r.Allows(min) {
			return true
		}
	}
	return false
}

// Identity sources: how a user signs in.
const (
	SourceLocal = "local" // a password kept by Rewind
	SourceOIDC  = "oidc"  // an OpenID Connect provider
	SourceLDAP  = "ldap"  // an LDAP directory
)

// User is a person who logs in to Rewind.
type User struct {
	ID       int64
	Username string
	// Role is the user's role in every environment that EnvRoles does not
	// name; RoleNone when they have roles in some environments only.
	Role         Role
	EnvRoles     EnvRoles
	PasswordHash string
	// Email is the user's own address, for the messages they subscribe to;
	// a provider's user gets the one their provider gives.
	Email     string
	CreatedAt time.Time
	// Source is how the user signs in: SourceLocal, SourceOIDC or SourceLDAP.
	// A user of a provider is made at their first sign-in; Subject is who
	// the provider says they are (an OIDC issuer and subject, an LDAP DN),
	// Groups the provider's groups at their last sign-in, from which their
	// roles come.
	Source      string
	Subject     string
	DisplayName string
	Groups      []string
	// DisabledAt is when a provider's user lost every role (no longer in a
	// mapped group): they cannot sign in, and their sessions and tokens ended.
	DisabledAt *time.Time
}

// RoleIn returns the user's role in environment env.
func (u *User) RoleIn(env int64) Role {
	if u.DisabledAt != nil {
		return RoleNone
	}
	return roleIn(u.Role, u.EnvRoles, env)
}

// Reaches reports whether the user has at least role min in some environment.
func (u *User) Reaches(min Role) bool {
	return u.DisabledAt == nil && reaches(u.Role, u.EnvRoles, min)
}

// ValidateRoles checks a role everywhere (which may be none) and
// per-environment roles.
func ValidateRoles(everywhere Role, per EnvRoles) error {
	if everywhere != RoleNone && !everywhere.Valid() {
		return Errorf(EINVALID, "Unknown role %q: use none, viewer, operator, approver or admin.", everywhere)
	}
	for _, r := range per {
		if r != RoleNone && !r.Valid() {
			return Errorf(EINVALID, "Unknown role %q: use none, viewer, operator, approver or admin.", r)
		}
	}
	return nil
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

// Session is the server's record of one login. The browser's cookie carries
// only a random token whose hash is the session's ID, so a session ends when
// its record goes: on logout, when an admin ends it, when the user's password
// or role changes, and when it outlives its lifetime or idle timeout.
type Session struct {
	ID        string // hex SHA-256 of the cookie's token
	UserID    int64
	Username  string
	CreatedAt time.Time
	LastSeen  time.Time // updated at most once a minute
	ExpiresAt time.Time // the absolute end, whatever the activity
	Address   string    // client address at login, bounded
	UserAgent string    // browser at login, bounded
	// Source is how the user signed in (SourceLocal, SourceOIDC, SourceLDAP).
	// A provider's session is checked with the provider again at RecheckAt:
	// with the OIDC RefreshToken (kept sealed), or an LDAP look-up.
	Source       string
	RefreshToken string
	RecheckAt    *time.Time
}

// Active reports whether the session may still be used at now, given the
// idle timeout.
func (s *Session) Active(now time.Time, idle time.Duration) bool {
	return now.Before(s.ExpiresAt) && now.Sub(s.LastSeen) < idle
}

// Bounds of the visitor-chosen text kept with a session.
const (
	MaxSessionAddress   = 64
	MaxSessionUserAgent = 200
	// MaxUserSessions is how many sessions one user keeps; logging in again
	// ends the oldest beyond it.
	MaxUserSessions = 20
)

// SessionStore keeps sessions.
type SessionStore interface {
	// CreateSession records a new session; it also drops the stale ones.
	CreateSession(ctx context.Context, s *Session, idle time.Duration) error
	// SessionUser returns a session and its user.
	SessionUser(ctx context.Context, id string) (*Session, *User, error)
	// TouchSession sets a session's last-seen time.
	TouchSession(ctx context.Context, id string, at time.Time) error
	// DeleteSession ends one session.
	DeleteSession(ctx context.Context, id string) error
	// DeleteUserSessions ends a user's sessions except the one with ID keep
	// and returns how many it ended.
	DeleteUserSessions(ctx context.Context, username, keep string) (int, error)
	// ActiveSessions lists the sessions active at now, newest first.
	ActiveSessions(ctx context.Context, now time.Time, idle time.Duration) ([]*Session, error)
}
