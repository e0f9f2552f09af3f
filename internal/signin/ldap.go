package signin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/rewindhq/rewind/internal/rewind"
)

// LDAPConfig is how Rewind finds and checks people in an LDAP directory.
type LDAPConfig struct {
	// URL is ldaps://host:636, or ldap://host:389 with StartTLS: Rewind
	// never sends a password unencrypted.
	URL      string
	StartTLS bool
	// CAFile names PEM authorities trusted, besides the system's, for the
	// directory's certificate.
	CAFile string
	// BindDN and BindPassword are Rewind's own account, which searches for
	// people and their groups.
	BindDN, BindPassword string
	// UserBase is where people are searched; UserFilter finds one by the
	// name typed, {username} standing for it, escaped: (uid={username}).
	UserBase, UserFilter string
	// The attributes of a person: their username (default uid), name
	// (default cn), e-mail (default mail), and the groups they are a member
	// of (memberOf), if the directory keeps them on the person.
	UsernameAttr, NameAttr, EmailAttr, MemberOfAttr string
	// GroupBase and GroupFilter find the groups of a person, {dn} standing
	// for their DN and {username} for their username, escaped:
	// (member={dn}) or (memberUid={username}); GroupNameAttr names a group
	// (default cn). Empty GroupBase: only MemberOfAttr counts.
	GroupBase, GroupFilter, GroupNameAttr string
	// Timeout bounds each connection and request; default 10s.
	Timeout time.Duration
}

// LDAP signs people in with a bind to an LDAP directory.
type LDAP struct {
	cfg LDAPConfig
	tls *tls.Config
}

// NewLDAP returns the directory of cfg, checking the settings; it does not
// connect.
func NewLDAP(cfg LDAPConfig) (*LDAP, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("ldap: url %q: give ldaps://host:636 or ldap://host:389 with start_tls", cfg.URL)
	}
	switch {
	case u.Scheme == "ldaps" && cfg.StartTLS:
		return nil, errors.New("ldap: start_tls is for ldap:// URLs; ldaps:// is already TLS")
	case u.Scheme == "ldap" && !cfg.StartTLS:
		return nil, errors.New("ldap: an ldap:// URL needs start_tls: true; Rewind never sends passwords unencrypted")
	case u.Scheme != "ldap" && u.Scheme != "ldaps":
		return nil, fmt.Errorf("ldap: url %q: the scheme is ldaps or ldap", cfg.URL)
	}
	if cfg.BindDN == "" || cfg.BindPassword == "" {
		return nil, errors.New("ldap: bind_dn and bind_password are needed: Rewind searches with its own account, never anonymously")
	}
	if cfg.UserBase == "" || !strings.Contains(cfg.UserFilter, "{username}") {
		return nil, errors.New("ldap: user_base and a user_filter holding {username} are needed, such as (uid={username})")
	}
	if cfg.GroupBase != "" && !strings.Contains(cfg.GroupFilter, "{dn}") && !strings.Contains(cfg.GroupFilter, "{username}") {
		return nil, errors.New("ldap: group_filter must hold {dn} or {username}, such as (member={dn})")
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&cfg.UsernameAttr, "uid")
	def(&cfg.NameAttr, "cn")
	def(&cfg.EmailAttr, "mail")
	def(&cfg.GroupNameAttr, "cn")
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	t, err := tlsConfig(cfg.CAFile)
	if err != nil {
		return nil, fmt.Errorf("ldap: %w", err)
	}
	t.ServerName = u.Hostname()
	return &LDAP{cfg: cfg, tls: t}, nil
}

// URL is the directory's address.
func (l *LDAP) URL() string { return l.cfg.URL }

// errUnavailable is a directory that cannot be reached or used.
func errUnavailable(err error) error {
	return rewind.Errorf(rewind.EUNAVAILABLE, "The LDAP directory cannot be reached to sign you in: %s", err.Error())
}

// ErrBadCredentials is a wrong username or password.
var ErrBadCredentials = rewind.Errorf(rewind.EUNAUTHORIZED, "Wrong username or password.")

// connect opens a TLS connection (LDAPS, or StartTLS before anything else
// is sent) and binds with Rewind's own account.
func (l *LDAP) connect(ctx context.Context) (*ldap.Conn, error) {
	d := &net.Dialer{Timeout: l.cfg.Timeout}
	conn, err := ldap.DialURL(l.cfg.URL, ldap.DialWithDialer(d), ldap.DialWithTLSConfig(l.tls))
	if err != nil {
		return nil, errUnavailable(err)
	}
	conn.SetTimeout(l.cfg.Timeout)
	if l.cfg.StartTLS {
		if err := conn.StartTLS(l.tls); err != nil {
			conn.Close()
			return nil, errUnavailable(err)
		}
	}
	if err := conn.Bind(l.cfg.BindDN, l.cfg.BindPassword); err != nil {
		conn.Close()
		return nil, errUnavailable(fmt.Errorf("Rewind's own account cannot bind: %w", err))
	}
	return conn, nil
}

// Authenticate checks username and password: it finds the person with
// Rewind's account (the username escaped in the filter, exactly one entry),
// binds as them with the password, and reads their groups. An empty
// password is refused before anything is sent: many directories take a
// bind with an empty password as an anonymous one.
func (l *LDAP) Authenticate(ctx context.Context, username, password string) (Identity, error) {
	if strings.TrimSpace(username) == "" || password == "" {
		return Identity{}, ErrBadCredentials
	}
	conn, err := l.connect(ctx)
	if err != nil {
		return Identity{}, err
	}
	defer conn.Close()
	filter := strings.ReplaceAll(l.cfg.UserFilter, "{username}", ldap.EscapeFilter(username))
	entry, err := l.findOne(conn, l.cfg.UserBase, filter)
	if err != nil {
		return Identity{}, err
	}
	// The person found must be the one named: a directory that reads an
	// escaped * or ( in a filter as a wildcard or a parenthesis (glauth
	// does) cannot let one name stand for another.
	if entry == nil || !strings.EqualFold(entry.GetAttributeValue(l.cfg.UsernameAttr), username) {
		return Identity{}, ErrBadCredentials
	}
	if err := conn.Bind(entry.DN, password); err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return Identity{}, ErrBadCredentials
		}
		return Identity{}, errUnavailable(err)
	}
	// Back to Rewind's account to read the groups.
	if err := conn.Bind(l.cfg.BindDN, l.cfg.BindPassword); err != nil {
		return Identity{}, errUnavailable(err)
	}
	return l.identity(conn, entry)
}

// Lookup reads again, with Rewind's account, the person with DN dn and
// their groups: whether they still hold the groups they signed in with.
func (l *LDAP) Lookup(ctx context.Context, dn string) (Identity, error) {
	conn, err := l.connect(ctx)
	if err != nil {
		return Identity{}, err
	}
	defer conn.Close()
	res, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, int(l.cfg.Timeout.Seconds()), false,
		"(objectClass=*)", l.attrs(), nil))
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) || err == nil && len(res.Entries) == 0 {
		return Identity{}, rewind.Errorf(rewind.EUNAUTHORIZED, "The LDAP directory no longer knows you. Sign in again.")
	}
	if err != nil {
		return Identity{}, errUnavailable(err)
	}
	return l.identity(conn, res.Entries[0])
}

func (l *LDAP) attrs() []string {
	a := []string{l.cfg.UsernameAttr, l.cfg.NameAttr, l.cfg.EmailAttr}
	if l.cfg.MemberOfAttr != "" {
		a = append(a, l.cfg.MemberOfAttr)
	}
	return a
}

// findOne searches for exactly one person; none or several gives nil.
func (l *LDAP) findOne(conn *ldap.Conn, base, filter string) (*ldap.Entry, error) {
	res, err := conn.Search(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, int(l.cfg.Timeout.Seconds()), false,
		filter, l.attrs(), nil))
	var lerr *ldap.Error
	if errors.As(err, &lerr) && lerr.ResultCode != ldap.ErrorNetwork {
		// The directory refused the search (too many entries, a filter it
		// cannot read): nobody found.
		return nil, nil
	}
	if err != nil {
		return nil, errUnavailable(err)
	}
	if len(res.Entries) != 1 {
		return nil, nil
	}
	return res.Entries[0], nil
}

// identity reads who entry is, and their groups.
func (l *LDAP) identity(conn *ldap.Conn, entry *ldap.Entry) (Identity, error) {
	id := Identity{Source: rewind.SourceLDAP, Subject: strings.ToLower(entry.DN), Username: entry.GetAttributeValue(l.cfg.UsernameAttr),
		DisplayName: entry.GetAttributeValue(l.cfg.NameAttr), Email: entry.GetAttributeValue(l.cfg.EmailAttr)}
	seen := map[string]bool{}
	add := func(g string) {
		if g != "" && !seen[strings.ToLower(g)] {
			seen[strings.ToLower(g)] = true
			id.Groups = append(id.Groups, g)
		}
	}
	if l.cfg.MemberOfAttr != "" {
		for _, dn := range entry.GetAttributeValues(l.cfg.MemberOfAttr) {
			add(groupName(dn))
		}
	}
	if l.cfg.GroupBase != "" {
		filter := strings.NewReplacer("{dn}", ldap.EscapeFilter(entry.DN), "{username}", ldap.EscapeFilter(id.Username)).Replace(l.cfg.GroupFilter)
		res, err := conn.Search(ldap.NewSearchRequest(l.cfg.GroupBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 1000, int(l.cfg.Timeout.Seconds()), false,
			filter, []string{l.cfg.GroupNameAttr}, nil))
		if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return Identity{}, errUnavailable(err)
		}
		if res != nil {
			for _, e := range res.Entries {
				add(e.GetAttributeValue(l.cfg.GroupNameAttr))
			}
		}
	}
	return id, nil
}

// groupName is the name of a group from its DN: the value of its first
// part (cn=shop-leads,ou=groups,... gives shop-leads), or the DN itself.
func groupName(dn string) string {
	parsed, err := ldap.ParseDN(dn)
	if err != nil || len(parsed.RDNs) == 0 || len(parsed.RDNs[0].Attributes) == 0 {
		return dn
	}
	return parsed.RDNs[0].Attributes[0].Value
}
