package templates

import (
	"context"
	"sort"
	"strings"

	"github.com/rewindhq/rewind/internal/i18n"
	"github.com/rewindhq/rewind/internal/rewind"
)

// grantChoices are the roles a form offers, none first.
var grantChoices = append([]rewind.Role{rewind.RoleNone}, rewind.Roles...)

// roleName is a role as pages show it.
func roleName(ctx context.Context, r rewind.Role) string {
	switch r {
	case rewind.RoleNone, "":
		return i18n.T(ctx, "none")
	case rewind.RoleViewer:
		return i18n.T(ctx, "viewer")
	case rewind.RoleOperator:
		return i18n.T(ctx, "operator")
	case rewind.RoleApprover:
		return i18n.T(ctx, "approver")
	case rewind.RoleAdmin:
		return i18n.T(ctx, "admin")
	}
	return string(r)
}

// RolesText says a role everywhere and the per-environment roles that
// replace it: "operator; approver in prod".
func RolesText(ctx context.Context, role rewind.Role, per rewind.EnvRoles, envName map[int64]string) string {
	parts := []string{roleName(ctx, role)}
	var envs []string
	byName := map[string]rewind.Role{}
	for id, r := range per {
		n := envName[id]
		if n == "" {
			continue
		}
		envs = append(envs, n)
		byName[n] = r
	}
	sort.Strings(envs)
	for _, n := range envs {
		parts = append(parts, i18n.T(ctx, "%s in %s", roleName(ctx, byName[n]), n))
	}
	return strings.Join(parts, "; ")
}

// sourceName is how a user signs in, as pages show it.
func sourceName(ctx context.Context, source string) string {
	switch source {
	case rewind.SourceOIDC:
		return i18n.T(ctx, "single sign-on (OIDC)")
	case rewind.SourceLDAP:
		return i18n.T(ctx, "LDAP")
	}
	return i18n.T(ctx, "password")
}
