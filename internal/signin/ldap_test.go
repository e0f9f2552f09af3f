package signin

import (
	"context"
	"slices"
	"testing"

	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/testenv/idp"
)

// shopPeople are the directory of the sign-in tests.
var shopPeople = []idp.Person{
	{Name: "lena", Password: "lena-password-1", Mail: "lena@example.com", Groups: []string{"shop-devs", "shop-leads"}},
	{Name: "dora", Password: "dora-password-1", Mail: "dora@example.com", Groups: []string{"shop-devs"}},
	{Name: "mallory", Password: "mallory-password-1", Mail: "mallory@example.com", Groups: []string{"marketing"}},
}

func ldapConfig(dir *idp.LDAP, startTLS bool) LDAPConfig {
	cfg := LDAPConfig{URL: dir.URL, CAFile: dir.CA.File, BindDN: dir.BindDN, BindPassword: dir.BindPassword,
		UserBase: "ou=users," + dir.BaseDN, UserFilter: "(&(objectClass=posixAccount)(uid={username}))", MemberOfAttr: "memberOf",
		GroupBase: "ou=groups," + dir.BaseDN, GroupFilter: "(&(objectClass=groupOfUniqueNames)(uniqueMember={dn}))"}
	if startTLS {
		cfg.URL, cfg.StartTLS = dir.StartTLSURL, true
	}
	return cfg
}

// LDAP sign-in against glauth, over LDAPS and over StartTLS: the right
// password gives the person with their groups; a wrong or empty password,
// an unknown person, and usernames that try to widen the search filter are
// refused alike.
func TestLDAPAuthenticate(t *testing.T) {
	ctx := context.Background()
	ca := idp.NewCA(t)
	dir := idp.StartLDAP(t, ca, shopPeople...)
	for _, startTLS := range []bool{false, true} {
		name := "ldaps"
		if startTLS {
			name = "starttls"
		}
		t.Run(name, func(t *testing.T) {
			l, err := NewLDAP(ldapConfig(dir, startTLS))
			if err != nil {
				t.Fatal(err)
			}
			id, err := l.Authenticate(ctx, "lena", "lena-password-1")
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(id.Groups)
			if id.Username != "lena" || id.Email != "lena@example.com" || !slices.Equal(id.Groups, []string{"shop-devs", "shop-leads"}) || id.Source != rewind.SourceLDAP || id.Subject == "" {
				t.Errorf("lena: %+v", id)
			}
			for _, tc := range []struct{ user, pw string }{
				{"lena", "wrong-password"},
				{"lena", ""},         // never an unauthenticated bind
				{"nobody-here", "x"}, // unknown
				{"*", "lena-password-1"},
				{"lena)(uid=*", "lena-password-1"},
				{"*)(|(uid=*", "lena-password-1"},
				{"l*", "lena-password-1"},
				{"lena\x00", "lena-password-1"},
				{"lena)(|(objectClass=*", "dora-password-1"},
			} {
				if _, err := l.Authenticate(ctx, tc.user, tc.pw); err != ErrBadCredentials {
					t.Errorf("%q / %q: %v, want wrong username or password", tc.user, tc.pw, err)
				}
			}
			again, err := l.Lookup(ctx, id.Subject)
			if err != nil || again.Username != "lena" || len(again.Groups) != 2 {
				t.Errorf("look-up of lena: %+v, %v", again, err)
			}
		})
	}

	// An empty password is refused before Rewind connects: a directory that
	// cannot be reached gives the same answer.
	cfg := ldapConfig(dir, false)
	cfg.URL = "ldaps://127.0.0.1:1"
	gone, err := NewLDAP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gone.Authenticate(ctx, "lena", ""); err != ErrBadCredentials {
		t.Errorf("empty password against no directory: %v", err)
	}
	if _, err := gone.Authenticate(ctx, "lena", "lena-password-1"); rewind.ErrorCode(err) != rewind.EUNAVAILABLE {
		t.Errorf("no directory: %v, want unavailable", err)
	}

	// lena leaves shop-leads: the directory says so at her next sign-in and
	// at a look-up.
	l, _ := NewLDAP(ldapConfig(dir, false))
	dir.SetPersons(idp.Person{Name: "lena", Password: "lena-password-1", Mail: "lena@example.com", Groups: []string{"shop-devs"}}, shopPeople[1], shopPeople[2])
	id, err := l.Authenticate(ctx, "lena", "lena-password-1")
	if err != nil || !slices.Equal(id.Groups, []string{"shop-devs"}) {
		t.Errorf("lena after leaving shop-leads: %+v, %v", id, err)
	}
}

// A directory that Rewind cannot trust is refused; plain ldap:// without
// StartTLS and searching without Rewind's own account are refused at once.
func TestLDAPRefusesUnsafeSettings(t *testing.T) {
	ctx := context.Background()
	ca := idp.NewCA(t)
	dir := idp.StartLDAP(t, ca, shopPeople...)
	cfg := ldapConfig(dir, false)
	cfg.CAFile = ""
	l, err := NewLDAP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Authenticate(ctx, "lena", "lena-password-1"); rewind.ErrorCode(err) != rewind.EUNAVAILABLE {
		t.Errorf("untrusted certificate: %v", err)
	}
	for name, change := range map[string]func(*LDAPConfig){
		"plain ldap":          func(c *LDAPConfig) { c.URL = dir.StartTLSURL },
		"ldaps with starttls": func(c *LDAPConfig) { c.StartTLS = true },
		"anonymous search":    func(c *LDAPConfig) { c.BindDN, c.BindPassword = "", "" },
		"filter without name": func(c *LDAPConfig) { c.UserFilter = "(uid=lena)" },
	} {
		c := ldapConfig(dir, false)
		change(&c)
		if _, err := NewLDAP(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
