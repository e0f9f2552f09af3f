package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/signin"
	"github.com/rewindhq/rewind/internal/sqlite"
	"github.com/rewindhq/rewind/web"
)

// setupSignin builds the identity providers and the group mapping of the
// config file. The mapping's environments must exist.
func setupSignin(ctx context.Context, store *sqlite.Store, cfg config.Config) (web.Signin, error) {
	sc := cfg.Signin
	out := web.Signin{Recheck: sc.Recheck}
	var m signin.Mapping
	for _, g := range sc.Groups {
		gr := signin.GroupRoles{Group: strings.TrimSpace(g.Group), Role: rewind.Role(strings.ToLower(strings.TrimSpace(g.Role))),
			Environments: map[string]rewind.Role{}}
		for env, r := range g.Environments {
			gr.Environments[env] = rewind.Role(strings.ToLower(strings.TrimSpace(r)))
		}
		m = append(m, gr)
	}
	envs, err := store.Environments(ctx)
	if err != nil {
		return out, err
	}
	var names []string
	for _, e := range envs {
		names = append(names, e.Name)
	}
	if err := m.Validate(names); err != nil {
		return out, fmt.Errorf("signin.groups: %w", err)
	}
	if o := sc.OIDC; o != nil {
		secret, err := secretOf(o.ClientSecret, o.ClientSecretFile)
		if err != nil {
			return out, fmt.Errorf("signin.oidc.client_secret_file: %w", err)
		}
		out.OIDC, err = signin.NewOIDC(signin.OIDCConfig{Name: o.Name, Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: secret,
			RedirectURL: o.RedirectURL, Scopes: o.Scopes, UsernameClaim: o.UsernameClaim, GroupsClaim: o.GroupsClaim, CAFile: o.CAFile})
		if err != nil {
			return out, fmt.Errorf("signin.%w", err)
		}
	}
	if l := sc.LDAP; l != nil {
		pw, err := secretOf(l.BindPassword, l.BindPasswordFile)
		if err != nil {
			return out, fmt.Errorf("signin.ldap.bind_password_file: %w", err)
		}
		out.LDAP, err = signin.NewLDAP(signin.LDAPConfig{URL: l.URL, StartTLS: l.StartTLS, CAFile: l.CAFile, BindDN: l.BindDN, BindPassword: pw,
			UserBase: l.UserBase, UserFilter: l.UserFilter, UsernameAttr: l.UsernameAttr, NameAttr: l.NameAttr, EmailAttr: l.EmailAttr,
			MemberOfAttr: l.MemberOfAttr, GroupBase: l.GroupBase, GroupFilter: l.GroupFilter, GroupNameAttr: l.GroupNameAttr, Timeout: l.Timeout})
		if err != nil {
			return out, fmt.Errorf("signin.%w", err)
		}
	}
	if out.OIDC != nil || out.LDAP != nil {
		out.Service = signin.New(store, m)
	}
	return out, nil
}

// secretOf returns a secret given in the file itself or in a file (its
// first line).
func secretOf(value, file string) (string, error) {
	if file == "" {
		return value, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(strings.SplitN(string(b), "\n", 2)[0], "\r"), nil
}
