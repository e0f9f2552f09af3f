// Package idp starts real identity providers for the sign-in tests: an LDAP
// directory (glauth) over LDAPS and StartTLS, and an OpenID Connect
// provider (Dex) over HTTPS that signs people in against that directory.
// Both are built from pinned Go modules by
// internal/testenv/tools/{glauth,dex}/build.sh into
// ~/.cache/rewind-tools; a test that finds one missing fails and says what
// to run. Each server gets its own ports and a test CA.
package idp

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"html"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// The versions build.sh builds (checked by TestVersionsMatchBuildScripts).
const (
	GLAuthVersion = "v2.4.0"
	DexVersion    = "v0.0.0-20240807174518-43956db7fd75" // Dex v2.41.1
)

// Tool returns the path of a tool built by internal/testenv/tools/<name>/build.sh.
func Tool(name, version string) (string, error) {
	cache := os.Getenv("REWIND_TOOLS_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		cache = filepath.Join(home, ".cache", "rewind-tools")
	}
	p := filepath.Join(cache, name+"-"+version, "bin", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s %s is not built: run internal/testenv/tools/%s/build.sh (make tools does it): %w", name, version, name, err)
	}
	return p, nil
}

// CA is a test certificate authority, with a server certificate for
// 127.0.0.1 and localhost.
type CA struct {
	// File is the CA's certificate (PEM), for clients to trust.
	File string
	// CertFile and KeyFile are the server's certificate and key (PEM).
	CertFile, KeyFile string
	Pool              *x509.CertPool
}

// NewCA makes a CA and a server certificate in a temporary folder.
func NewCA(t testing.TB) *CA {
	t.Helper()
	dir := t.TempDir()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, srvKey := key(), key()
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Rewind test CA"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(24 * time.Hour), DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	ca := &CA{File: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "server.pem"), KeyFile: filepath.Join(dir, "server-key.pem"), Pool: x509.NewCertPool()}
	for path, block := range map[string]*pem.Block{ca.File: {Type: "CERTIFICATE", Bytes: caDER}, ca.CertFile: {Type: "CERTIFICATE", Bytes: srvDER},
		ca.KeyFile: {Type: "EC PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ca.Pool.AddCert(caCert)
	return ca
}

// freePort returns a port free on 127.0.0.1 now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// process is a server started by a test, its output kept for failures.
type process struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

// Output is what the server wrote so far.
func (p *process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func start(t testing.TB, name, bin string, args ...string) *process {
	t.Helper()
	p := &process{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	return p
}

func (p *process) stop() {
	if p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// waitFor calls ready until it is nil, the process ends, or a minute passes.
func (p *process) waitFor(t testing.TB, ready func() error) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		err := ready()
		if err == nil {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("%s stopped at start: %v\n%s", p.name, err, p.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not come up in a minute: %v\n%s", p.name, err, p.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Person is someone in the directory.
type Person struct {
	Name     string // the username (uid)
	Password string
	Mail     string
	Groups   []string // the first is their primary group
}

// LDAP is a glauth directory serving LDAPS and LDAP with StartTLS.
type LDAP struct {
	// URL is ldaps://127.0.0.1:port; StartTLSURL ldap://127.0.0.1:port.
	URL, StartTLSURL string
	BaseDN           string
	// BindDN and BindPassword are Rewind's own account, which may search.
	BindDN, BindPassword string
	CA                   *CA

	t          testing.TB
	dir        string
	ldapsPort  int
	ldapPort   int
	proc       *process
	mu         sync.Mutex
	persons    []Person
	extraGroup []string
}

// The directory's layout, as glauth serves it.
const (
	baseDN       = "dc=rewind,dc=test"
	bindName     = "svc-rewind"
	bindPassword = "rewind-bind-password"
)

// StartLDAP starts glauth with persons, and the groups they name, under
// dc=rewind,dc=test; it stops when the test ends.
func StartLDAP(t testing.TB, ca *CA, persons ...Person) *LDAP {
	t.Helper()
	l := &LDAP{BaseDN: baseDN, BindDN: "cn=" + bindName + ",ou=svcaccts,ou=users," + baseDN, BindPassword: bindPassword, CA: ca,
		t: t, dir: t.TempDir(), ldapsPort: freePort(t), ldapPort: freePort(t)}
	l.URL = fmt.Sprintf("ldaps://127.0.0.1:%d", l.ldapsPort)
	l.StartTLSURL = fmt.Sprintf("ldap://127.0.0.1:%d", l.ldapPort)
	l.SetPersons(persons...)
	t.Cleanup(func() { l.proc.stop() })
	return l
}

// SetPersons replaces who is in the directory, and their groups, and
// restarts it.
func (l *LDAP) SetPersons(persons ...Person) {
	l.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	bin, err := Tool("glauth", GLAuthVersion)
	if err != nil {
		l.t.Fatal(err)
	}
	if l.proc != nil {
		l.proc.stop()
	}
	l.persons = persons
	cfg := filepath.Join(l.dir, "glauth.cfg")
	if err := os.WriteFile(cfg, []byte(l.config()), 0o600); err != nil {
		l.t.Fatal(err)
	}
	l.proc = start(l.t, "glauth", bin, "-c", cfg)
	pool := l.CA.Pool
	l.proc.waitFor(l.t, func() error {
		c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", l.ldapsPort), &tls.Config{RootCAs: pool})
		if err != nil {
			return err
		}
		c.Close()
		c2, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", l.ldapPort))
		if err != nil {
			return err
		}
		return c2.Close()
	})
}

// config is glauth's configuration for the persons.
func (l *LDAP) config() string {
	var b strings.Builder
	fmt.Fprintf(&b, `[ldap]
  enabled = true
  listen = "127.0.0.1:%d"
  tls = true
  tlsCertPath = %q
  tlsKeyPath = %q
[ldaps]
  enabled = true
  listen = "127.0.0.1:%d"
  cert = %q
  key = %q
[backend]
  datastore = "config"
  baseDN = %q
[behaviors]
  IgnoreCapabilities = false
  LimitFailedBinds = false
[api]
  enabled = false
`, l.ldapPort, l.CA.CertFile, l.CA.KeyFile, l.ldapsPort, l.CA.CertFile, l.CA.KeyFile, baseDN)
	gid := map[string]int{"svcaccts": 5500}
	groups := []string{"svcaccts"}
	for _, p := range l.persons {
		for _, g := range p.Groups {
			if _, ok := gid[g]; !ok {
				gid[g] = 5501 + len(gid)
				groups = append(groups, g)
			}
		}
	}
	if _, ok := gid["nobody"]; !ok {
		gid["nobody"] = 5501 + len(gid)
		groups = append(groups, "nobody")
	}
	user := func(name, password, mail string, primary int, others []int, search bool) {
		h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			panic(err)
		}
		fmt.Fprintf(&b, "[[users]]\n  name = %q\n  uidnumber = %d\n  primarygroup = %d\n  passbcrypt = %q\n", name, 6000+strings.Count(b.String(), "[[users]]"), primary, hex.EncodeToString(h))
		if mail != "" {
			fmt.Fprintf(&b, "  mail = %q\n", mail)
		}
		if len(others) > 0 {
			fmt.Fprintf(&b, "  othergroups = %s\n", strings.ReplaceAll(fmt.Sprint(others), " ", ", "))
		}
		if search {
			b.WriteString("    [[users.capabilities]]\n    action = \"search\"\n    object = \"*\"\n")
		}
	}
	user(bindName, bindPassword, "", gid["svcaccts"], nil, true)
	for _, p := range l.persons {
		primary := gid["nobody"]
		var others []int
		for i, g := range p.Groups {
			if i == 0 {
				primary = gid[g]
			} else {
				others = append(others, gid[g])
			}
		}
		user(p.Name, p.Password, p.Mail, primary, others, false)
	}
	for _, g := range groups {
		fmt.Fprintf(&b, "[[groups]]\n  name = %q\n  gidnumber = %d\n", g, gid[g])
	}
	return b.String()
}

// Client is an OAuth client registered at Dex.
type Client struct {
	ID, Secret  string
	RedirectURI string
}

// Dex is an OpenID Connect provider over HTTPS whose only connector is the
// LDAP directory: its login page asks for a directory username and
// password, and its ID tokens carry the person's groups.
type Dex struct {
	// Issuer is https://127.0.0.1:port/dex.
	Issuer string
	CA     *CA
	proc   *process
}

// StartDex starts Dex with clients, signing people in against dir (over
// LDAPS); ID tokens last idTokens (0: Dex's default). It stops when the
// test ends.
func StartDex(t testing.TB, ca *CA, dir *LDAP, idTokens time.Duration, clients ...Client) *Dex {
	t.Helper()
	bin, err := Tool("dex", DexVersion)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	d := &Dex{Issuer: fmt.Sprintf("https://127.0.0.1:%d/dex", port), CA: ca}
	var b strings.Builder
	fmt.Fprintf(&b, `issuer: %s
storage:
  type: memory
web:
  https: 127.0.0.1:%d
  tlsCert: %s
  tlsKey: %s
logger:
  level: info
oauth2:
  skipApprovalScreen: true
  passwordConnector: ldap
`, d.Issuer, port, ca.CertFile, ca.KeyFile)
	if idTokens > 0 {
		fmt.Fprintf(&b, "expiry:\n  idTokens: %q\n", idTokens.String())
	}
	b.WriteString("staticClients:\n")
	for _, c := range clients {
		fmt.Fprintf(&b, "- id: %s\n  secret: %s\n  name: %s\n  redirectURIs: [%q]\n", c.ID, c.Secret, c.ID, c.RedirectURI)
	}
	fmt.Fprintf(&b, `connectors:
- type: ldap
  id: ldap
  name: LDAP
  config:
    host: %s
    rootCA: %s
    bindDN: %s
    bindPW: %s
    usernamePrompt: Username
    userSearch:
      baseDN: ou=users,%s
      filter: "(objectClass=posixAccount)"
      username: uid
      idAttr: uid
      emailAttr: mail
      nameAttr: cn
      preferredUsernameAttr: uid
    groupSearch:
      baseDN: ou=groups,%s
      filter: "(objectClass=groupOfUniqueNames)"
      userMatchers:
      - userAttr: DN
        groupAttr: uniqueMember
      nameAttr: cn
`, strings.TrimPrefix(dir.URL, "ldaps://"), ca.File, dir.BindDN, dir.BindPassword, dir.BaseDN, dir.BaseDN)
	cfg := filepath.Join(t.TempDir(), "dex.yaml")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	d.proc = start(t, "dex", bin, "serve", cfg)
	t.Cleanup(d.proc.stop)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}, Timeout: 5 * time.Second}
	d.proc.waitFor(t, func() error {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, d.Issuer+"/.well-known/openid-configuration", nil)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("discovery: %s", resp.Status)
		}
		return nil
	})
	return d
}

// Output is what Dex logged so far.
func (d *Dex) Output() string { return d.proc.Output() }

// formAction finds the action of the first POST form of a page.
var formAction = regexp.MustCompile(`(?is)<form[^>]*method="post"[^>]*action="([^"]+)"`)

// SignIn goes through Dex's login page as a browser would, from authURL
// (the provider URL a sign-in starts at) with a directory username and
// password, and returns the URL Dex sends the browser back to (the
// client's redirect URI with the code and state), or an error with the
// page Dex showed.
func (d *Dex) SignIn(authURL, username, password string) (*url.URL, error) {
	jar, _ := cookiejar.New(nil)
	var back *url.URL
	client := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: d.CA.Pool}},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if !strings.HasPrefix(req.URL.String(), d.Issuer) {
				back = req.URL
				return http.ErrUseLastResponse
			}
			return nil
		}}
	resp, err := client.Get(authURL)
	if err != nil {
		return nil, err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if back != nil {
		return back, nil
	}
	m := formAction.FindSubmatch(page)
	if m == nil {
		return nil, fmt.Errorf("no login form on Dex's page (%s):\n%s", resp.Status, page)
	}
	action, err := resp.Request.URL.Parse(html.UnescapeString(string(m[1])))
	if err != nil {
		return nil, err
	}
	resp, err = client.PostForm(action.String(), url.Values{"login": {username}, "password": {password}})
	if err != nil {
		return nil, err
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if back == nil {
		return nil, fmt.Errorf("Dex did not sign %s in (%s):\n%s", username, resp.Status, page)
	}
	return back, nil
}

// PasswordGrant asks Dex for tokens with the password grant, as client: the
// raw ID token, for tests of what Rewind accepts.
func (d *Dex) PasswordGrant(client Client, username, password, scope string) (string, error) {
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: d.CA.Pool}}, Timeout: 30 * time.Second}
	req, _ := http.NewRequest(http.MethodPost, d.Issuer+"/token", strings.NewReader(url.Values{"grant_type": {"password"},
		"username": {username}, "password": {password}, "scope": {scope}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client.ID, client.Secret)
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		IDToken string `json:"id_token"`
		Error   string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.IDToken == "" {
		return "", fmt.Errorf("password grant: %s %s %v", resp.Status, body.Error, err)
	}
	return body.IDToken, nil
}
