// Package signin signs people in through identity providers (OpenID
// Connect and LDAP) and gives them the roles that their provider's groups
// map to, everywhere and per environment. A provider's user is made at
// their first sign-in; one who is no longer in any mapped group is disabled
// at their next sign-in (or when their session is checked again), and their
// sessions and tokens end.
package signin

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/rewindhq/rewind/internal/rewind"
)

// Identity is who a provider says signed in.
type Identity struct {
	Source string // rewind.SourceOIDC or rewind.SourceLDAP
	// Subject names the person for good: an OIDC issuer and subject, an
	// LDAP DN.
	Subject     string
	Username    string
	DisplayName string
	Email       string
	Groups      []string
}

// GroupRoles maps one provider group to Rewind roles: Role everywhere
// (RoleNone or empty for none) and, per environment name, a role that
// replaces it there.
type GroupRoles struct {
	Group        string
	Role         rewind.Role
	Environments map[string]rewind.Role
}

// Mapping maps provider groups to roles. A person in several mapped groups
// gets, in each environment, the highest role any of them gives there.
type Mapping []GroupRoles

// Validate checks the mapping's roles and that its environments are among
// known.
func (m Mapping) Validate(known []string) error {
	for _, g := range m {
		if strings.TrimSpace(g.Group) == "" {
			return rewind.Errorf(rewind.EINVALID, "A group mapping names no group.")
		}
		if err := rewind.ValidateRoles(orNone(g.Role), nil); err != nil {
			return fmt.Errorf("group %s: %w", g.Group, err)
		}
		for env, r := range g.Environments {
			if !slices.Contains(known, env) {
				return rewind.Errorf(rewind.EINVALID, "Group %s maps a role in environment %s, which does not exist.", g.Group, env)
			}
			if err := rewind.ValidateRoles(rewind.RoleNone, rewind.EnvRoles{0: r}); err != nil {
				return fmt.Errorf("group %s in %s: %w", g.Group, env, err)
			}
		}
	}
	return nil
}

func orNone(r rewind.Role) rewind.Role {
	if r == "" {
		return rewind.RoleNone
	}
	return r
}

// rank orders roles, none lowest.
func rank(r rewind.Role) int { return slices.Index(rewind.Roles, r) }

func higher(a, b rewind.Role) rewind.Role {
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// Roles returns the roles that groups give: the role everywhere and, per
// environment, where it differs. ok is false when they give no role in any
// environment: the person has no access.
func (m Mapping) Roles(groups []string, envs []*rewind.Environment) (everywhere rewind.Role, per rewind.EnvRoles, ok bool) {
	everywhere = rewind.RoleNone
	var mine []GroupRoles
	for _, g := range m {
		if slices.ContainsFunc(groups, func(x string) bool { return strings.EqualFold(x, g.Group) }) {
			mine = append(mine, g)
			everywhere = higher(everywhere, orNone(g.Role))
		}
	}
	ok = everywhere.Valid()
	for _, e := range envs {
		in := rewind.RoleNone
		for _, g := range mine {
			r, set := g.Environments[e.Name]
			if !set {
				r = orNone(g.Role)
			}
			in = higher(in, r)
		}
		if in != everywhere {
			if per == nil {
				per = rewind.EnvRoles{}
			}
			per[e.ID] = in
		}
		ok = ok || in.Valid()
	}
	return everywhere, per, ok
}

// Store is what sign-in needs of the history store.
type Store interface {
	Environments(ctx context.Context) ([]*rewind.Environment, error)
	UserBySubject(ctx context.Context, source, subject string) (*rewind.User, error)
	SignedIn(ctx context.Context, u *rewind.User, ev *rewind.AuditEvent) error
	DisableUser(ctx context.Context, id int64, groups []string, ev rewind.AuditEvent) (sessions, tokens int, err error)
	AddAudit(ctx context.Context, ev rewind.AuditEvent) error
}

// Service admits the people providers sign in.
type Service struct {
	store   Store
	mapping Mapping
}

// New returns sign-in over store with the group mapping m.
func New(store Store, m Mapping) *Service { return &Service{store: store, mapping: m} }

// Mapping returns the group mapping.
func (s *Service) Mapping() Mapping { return s.mapping }

// SourceName is how the audit trail names a provider: "OIDC (Dex)", "LDAP".
func SourceName(source, name string) string {
	s := strings.ToUpper(source)
	if name != "" {
		s += " (" + name + ")"
	}
	return s
}

// ErrNoRole is why a person in no mapped group may not sign in.
var ErrNoRole = rewind.Errorf(rewind.EFORBIDDEN, "You are in no group that has a role in Rewind. Ask an admin to add you to one.")

// Admit records that id signed in through provider (a name for the audit
// trail) from addr and returns their user: made at their first sign-in,
// with the name, e-mail, groups and roles the provider gives now. A person
// whose groups give no role is refused with ErrNoRole; if they had a user,
// it is disabled and its sessions and tokens end. Admit audits the sign-in,
// the refusal or the disabling, with the provider.
func (s *Service) Admit(ctx context.Context, id Identity, provider, addr string) (*rewind.User, error) {
	return s.admit(ctx, id, provider, addr, false)
}

// Recheck applies what the provider says now of a user already signed in
// (through a refresh or a new look-up): their roles follow their groups,
// and one who lost every role is disabled as in Admit. Only a change is
// audited.
func (s *Service) Recheck(ctx context.Context, id Identity, provider string) (*rewind.User, error) {
	return s.admit(ctx, id, provider, "", true)
}

func (s *Service) admit(ctx context.Context, id Identity, provider, addr string, recheck bool) (*rewind.User, error) {
	via := SourceName(id.Source, provider)
	if err := rewind.ValidateUsername(id.Username); err != nil {
		return nil, rewind.Errorf(rewind.EFORBIDDEN, "%s names you %q, which Rewind cannot take as a username: %s", via, id.Username, rewind.ErrorMessage(err))
	}
	u, err := s.store.UserBySubject(ctx, id.Source, id.Subject)
	switch {
	case rewind.ErrorCode(err) == rewind.ENOTFOUND:
		if recheck {
			return nil, rewind.Errorf(rewind.EUNAUTHORIZED, "Your user is gone; sign in again.")
		}
		u = &rewind.User{Username: id.Username, Source: id.Source, Subject: id.Subject}
	case err != nil:
		return nil, err
	}
	envs, err := s.store.Environments(ctx)
	if err != nil {
		return nil, err
	}
	everywhere, per, ok := s.mapping.Roles(id.Groups, envs)
	groups := strings.Join(id.Groups, ", ")
	if groups == "" {
		groups = "none"
	}
	if !ok {
		ev := rewind.AuditEvent{Actor: u.Username, Action: rewind.ActionLoginFailed, Outcome: "denied",
			Detail: fmt.Sprintf("via %s from %s: in no mapped group (groups: %s)", via, addr, groups)}
		if u.ID == 0 {
			if err := s.store.AddAudit(ctx, ev); err != nil {
				return nil, err
			}
			return nil, ErrNoRole
		}
		if u.DisabledAt != nil && !recheck {
			if err := s.store.AddAudit(ctx, ev); err != nil {
				return nil, err
			}
			return nil, ErrNoRole
		}
		ev.Action = rewind.ActionUserDisable
		ended, revoked, err := s.store.DisableUser(ctx, u.ID, id.Groups, ev)
		if err != nil {
			return nil, err
		}
		_ = ended
		_ = revoked
		return nil, ErrNoRole
	}
	changed := u.ID == 0 || u.DisabledAt != nil || u.Role != everywhere || !equalRoles(u.EnvRoles, per) || !slices.Equal(u.Groups, id.Groups) ||
		u.DisplayName != id.DisplayName || u.Email != id.Email
	first := u.ID == 0
	u.Role, u.EnvRoles, u.Groups, u.DisplayName, u.Email = everywhere, per, id.Groups, id.DisplayName, id.Email
	var ev *rewind.AuditEvent
	switch {
	case !recheck:
		detail := fmt.Sprintf("from %s via %s; groups: %s", addr, via, groups)
		if first {
			detail += "; first sign-in: user created"
		}
		ev = &rewind.AuditEvent{Actor: u.Username, Action: rewind.ActionLogin, Outcome: "ok", Detail: detail}
	case changed:
		ev = &rewind.AuditEvent{Actor: u.Username, Action: rewind.ActionUserChange, Outcome: "ok",
			Detail: fmt.Sprintf("roles follow the groups %s now says: %s", via, groups)}
	}
	if changed || ev != nil {
		if err := s.store.SignedIn(ctx, u, ev); err != nil {
			return nil, err
		}
	}
	return u, nil
}

func equalRoles(a, b rewind.EnvRoles) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
