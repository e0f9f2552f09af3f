// Package config reads Rewind's settings from flags, REWIND_* environment
// variables and an optional YAML file, in that order of precedence.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rewindhq/rewind/internal/rewind"
)

// Config is Rewind's settings.
type Config struct {
	Addr           string        `yaml:"addr"`
	DataDir        string        `yaml:"data_dir"`
	TLSCert        string        `yaml:"tls_cert"`
	TLSKey         string        `yaml:"tls_key"`
	SecureCookies  bool          `yaml:"secure_cookies"` // behind a TLS-terminating proxy
	RolloutTimeout time.Duration `yaml:"rollout_timeout"`
	LogLevel       string        `yaml:"log_level"`
	Environments   []Environment `yaml:"environments"`
	Clusters       []Cluster     `yaml:"clusters"`
	NacosServers   []NacosServer `yaml:"nacos_servers"`
	Databases      []Database    `yaml:"databases"`
	SQL            SQL           `yaml:"sql"`
	// TrustedProxies lists the CIDRs of reverse proxies whose
	// X-Forwarded-For Rewind believes; empty: the direct peer is the client.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// SessionLifetime is how long a login lasts at most; SessionIdle how long
	// it lasts without a request.
	SessionLifetime time.Duration `yaml:"session_lifetime"`
	SessionIdle     time.Duration `yaml:"session_idle"`
	// NacosCAFile names a PEM file of authorities trusted, besides the
	// system's, for https:// Nacos servers.
	NacosCAFile string `yaml:"nacos_ca_file"`
	// Retention lets Rewind remove old versions, by kind of target
	// ("service", "config"); versions are kept forever by default.
	Retention map[string]Retention `yaml:"retention"`
	// Metrics says where the Prometheus metrics are served.
	Metrics Metrics `yaml:"metrics"`
	// ExternalURL is where people open Rewind (https://rewind.example.com),
	// for the links in notifications; empty leaves messages without links.
	ExternalURL string `yaml:"external_url"`
	// Signin declares the identity providers people sign in with, and the
	// roles their groups give.
	Signin Signin `yaml:"signin"`
}

// Signin declares how people sign in besides local passwords.
type Signin struct {
	OIDC *OIDC `yaml:"oidc"`
	LDAP *LDAP `yaml:"ldap"`
	// Groups maps the providers' groups to roles.
	Groups []GroupRoles `yaml:"groups"`
	// Recheck is how often a provider is asked again whether a signed-in
	// person still holds their groups (an OIDC refresh, an LDAP look-up);
	// default 10m.
	Recheck time.Duration `yaml:"recheck"`
}

// OIDC declares an OpenID Connect provider.
type OIDC struct {
	Name             string   `yaml:"name"` // on the login page: "Sign in with NAME"
	Issuer           string   `yaml:"issuer"`
	ClientID         string   `yaml:"client_id"`
	ClientSecret     string   `yaml:"client_secret"`
	ClientSecretFile string   `yaml:"client_secret_file"`
	RedirectURL      string   `yaml:"redirect_url"` // https://rewind.example.com/auth/oidc/callback
	Scopes           []string `yaml:"scopes"`
	UsernameClaim    string   `yaml:"username_claim"`
	GroupsClaim      string   `yaml:"groups_claim"`
	CAFile           string   `yaml:"ca_file"`
}

// LDAP declares an LDAP directory.
type LDAP struct {
	URL              string        `yaml:"url"`
	StartTLS         bool          `yaml:"start_tls"`
	CAFile           string        `yaml:"ca_file"`
	BindDN           string        `yaml:"bind_dn"`
	BindPassword     string        `yaml:"bind_password"`
	BindPasswordFile string        `yaml:"bind_password_file"`
	UserBase         string        `yaml:"user_base"`
	UserFilter       string        `yaml:"user_filter"`
	UsernameAttr     string        `yaml:"username_attribute"`
	NameAttr         string        `yaml:"name_attribute"`
	EmailAttr        string        `yaml:"email_attribute"`
	MemberOfAttr     string        `yaml:"member_of_attribute"`
	GroupBase        string        `yaml:"group_base"`
	GroupFilter      string        `yaml:"group_filter"`
	GroupNameAttr    string        `yaml:"group_name_attribute"`
	Timeout          time.Duration `yaml:"timeout"`
}

// GroupRoles maps one provider group to a role everywhere and roles per
// environment (by name) that replace it there.
type GroupRoles struct {
	Group        string            `yaml:"group"`
	Role         string            `yaml:"role"`
	Environments map[string]string `yaml:"environments"`
}

// Retention is how long versions of one kind of target are kept at least.
type Retention struct {
	KeepDays     int `yaml:"keep_days"`     // versions younger than this stay
	KeepVersions int `yaml:"keep_versions"` // the newest this many of each target stay
}

// Metrics says where /metrics is served: on a listener of its own (Addr),
// and/or on the main listener to requests bearing Token. Neither: nowhere.
type Metrics struct {
	Addr      string `yaml:"addr"`
	TokenFile string `yaml:"token_file"`
	// Token is read from TokenFile or REWIND_METRICS_TOKEN, never from YAML.
	Token string `yaml:"-"`
}

// NacosServer declares a Nacos server whose configs Rewind follows.
type NacosServer struct {
	Name        string   `yaml:"name"`
	Environment string   `yaml:"environment"`
	Addr        string   `yaml:"addr"`         // host:port of the HTTP API
	ContextPath string   `yaml:"context_path"` // default /nacos
	Namespaces  []string `yaml:"namespaces"`
	Username    string   `yaml:"username"`
	Password    string   `yaml:"password"`
	MaskKeys    []string `yaml:"mask_keys"` // words that make a key secret; default password, secret, token, key
}

// Database declares a SQL database that changes run against.
type Database struct {
	Name        string `yaml:"name"`
	Environment string `yaml:"environment"`
	Engine      string `yaml:"engine"` // mysql, postgres or sqlite
	DSN         string `yaml:"dsn"`
}

// SQL holds the limits of SQL changes.
type SQL struct {
	StatementTimeout time.Duration `yaml:"statement_timeout"`
	MaxSavedRows     int           `yaml:"max_saved_rows"`
	MaxSavedBytes    int64         `yaml:"max_saved_bytes"`
}

// Environment declares an environment and its rollback policy.
type Environment struct {
	Name              string `yaml:"name"`
	RequiredApprovals int    `yaml:"required_approvals"`
}

// Cluster declares a Kubernetes cluster to watch.
type Cluster struct {
	Name        string   `yaml:"name"`
	Environment string   `yaml:"environment"`
	Kubeconfig  string   `yaml:"kubeconfig"`
	Context     string   `yaml:"context"`
	InCluster   bool     `yaml:"in_cluster"`
	Namespaces  []string `yaml:"namespaces"`
}

// Defaults returns the settings used when nothing else is given.
func Defaults() Config {
	return Config{Addr: "127.0.0.1:8080", DataDir: "./data", RolloutTimeout: 10 * time.Minute, LogLevel: "info",
		SessionLifetime: 12 * time.Hour, SessionIdle: 2 * time.Hour,
		SQL: SQL{StatementTimeout: 5 * time.Minute, MaxSavedRows: 100000, MaxSavedBytes: 64 << 20}}
}

// Load parses args (the flags after the subcommand), then fills what they
// leave unset from getenv and the YAML file named by --config or REWIND_CONFIG.
func Load(args []string, getenv func(string) string) (Config, error) {
	fs := flag.NewFlagSet("rewind serve", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	def := Defaults()
	path := fs.String("config", "", "YAML config file (REWIND_CONFIG)")
	addr := fs.String("addr", def.Addr, "listen address (REWIND_ADDR)")
	dataDir := fs.String("data-dir", def.DataDir, "data folder for the history store and keys (REWIND_DATA_DIR)")
	tlsCert := fs.String("tls-cert", "", "TLS certificate file (REWIND_TLS_CERT)")
	tlsKey := fs.String("tls-key", "", "TLS key file (REWIND_TLS_KEY)")
	secure := fs.Bool("secure-cookies", false, "mark cookies Secure when a proxy terminates TLS (REWIND_SECURE_COOKIES)")
	timeout := fs.Duration("rollout-timeout", def.RolloutTimeout, "how long to follow a rollout (REWIND_ROLLOUT_TIMEOUT)")
	level := fs.String("log-level", def.LogLevel, "debug, info, warn or error (REWIND_LOG_LEVEL)")
	proxies := fs.String("trusted-proxies", "", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For is believed (REWIND_TRUSTED_PROXIES)")
	lifetime := fs.Duration("session-lifetime", def.SessionLifetime, "how long a login lasts at most (REWIND_SESSION_LIFETIME)")
	idle := fs.Duration("session-idle", def.SessionIdle, "how long a login lasts without a request (REWIND_SESSION_IDLE)")
	metricsAddr := fs.String("metrics-addr", "", "serve /metrics on a listener of its own, e.g. :9090 (REWIND_METRICS_ADDR)")
	metricsToken := fs.String("metrics-token-file", "", "serve /metrics on the main listener to requests bearing the token in this file (REWIND_METRICS_TOKEN_FILE, or the token itself in REWIND_METRICS_TOKEN)")
	external := fs.String("external-url", "", "where people open Rewind, for links in notifications (REWIND_EXTERNAL_URL)")
	if err := fs.Parse(args); err != nil {
		return Config{}, fmt.Errorf("%w\n%s", err, usage(fs))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	cfg := def
	if p := first(*path, getenv("REWIND_CONFIG")); p != "" {
		body, err := os.ReadFile(p)
		if err != nil {
			return Config{}, fmt.Errorf("config file: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(body)))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return Config{}, fmt.Errorf("config file %s: %w", p, err)
		}
	}
	str := func(dst *string, flagName, env, flagVal string) {
		switch {
		case set[flagName]:
			*dst = flagVal
		case getenv(env) != "":
			*dst = getenv(env)
		}
	}
	str(&cfg.Addr, "addr", "REWIND_ADDR", *addr)
	str(&cfg.DataDir, "data-dir", "REWIND_DATA_DIR", *dataDir)
	str(&cfg.TLSCert, "tls-cert", "REWIND_TLS_CERT", *tlsCert)
	str(&cfg.TLSKey, "tls-key", "REWIND_TLS_KEY", *tlsKey)
	str(&cfg.LogLevel, "log-level", "REWIND_LOG_LEVEL", *level)
	str(&cfg.ExternalURL, "external-url", "REWIND_EXTERNAL_URL", *external)
	cfg.ExternalURL = strings.TrimRight(strings.TrimSpace(cfg.ExternalURL), "/")
	var secureEnv, timeoutEnv string
	str(&secureEnv, "secure-cookies", "REWIND_SECURE_COOKIES", fmt.Sprint(*secure))
	str(&timeoutEnv, "rollout-timeout", "REWIND_ROLLOUT_TIMEOUT", timeout.String())
	if secureEnv != "" {
		cfg.SecureCookies = secureEnv == "true" || secureEnv == "1"
	}
	if timeoutEnv != "" {
		d, err := time.ParseDuration(timeoutEnv)
		if err != nil {
			return Config{}, fmt.Errorf("rollout timeout %q: %w", timeoutEnv, err)
		}
		cfg.RolloutTimeout = d
	}
	var proxiesEnv string
	str(&proxiesEnv, "trusted-proxies", "REWIND_TRUSTED_PROXIES", *proxies)
	if proxiesEnv != "" {
		cfg.TrustedProxies = nil
		for _, p := range strings.Split(proxiesEnv, ",") {
			if p = strings.TrimSpace(p); p != "" {
				cfg.TrustedProxies = append(cfg.TrustedProxies, p)
			}
		}
	}
	for _, d := range []struct {
		dst            *time.Duration
		flag, env, val string
	}{
		{&cfg.SessionLifetime, "session-lifetime", "REWIND_SESSION_LIFETIME", lifetime.String()},
		{&cfg.SessionIdle, "session-idle", "REWIND_SESSION_IDLE", idle.String()},
	} {
		var v string
		str(&v, d.flag, d.env, d.val)
		if v == "" {
			continue
		}
		parsed, err := time.ParseDuration(v)
		if err != nil {
			return Config{}, fmt.Errorf("%s %q: %w", d.flag, v, err)
		}
		*d.dst = parsed
	}
	str(&cfg.Metrics.Addr, "metrics-addr", "REWIND_METRICS_ADDR", *metricsAddr)
	str(&cfg.Metrics.TokenFile, "metrics-token-file", "REWIND_METRICS_TOKEN_FILE", *metricsToken)
	cfg.Metrics.Token = strings.TrimSpace(getenv("REWIND_METRICS_TOKEN"))
	if cfg.Metrics.TokenFile != "" {
		b, err := os.ReadFile(cfg.Metrics.TokenFile)
		if err != nil {
			return Config{}, fmt.Errorf("metrics token file: %w", err)
		}
		cfg.Metrics.Token = strings.TrimSpace(string(b))
	}
	return cfg, cfg.Validate()
}

// RetentionPolicy returns the retention of each kind of target.
func (c Config) RetentionPolicy() map[rewind.TargetKind]rewind.Retention {
	out := map[rewind.TargetKind]rewind.Retention{}
	for kind, r := range c.Retention {
		out[rewind.TargetKind(kind)] = rewind.Retention{KeepDays: r.KeepDays, KeepVersions: r.KeepVersions}
	}
	return out
}

// Validate checks the settings.
func (c Config) Validate() error {
	if c.Addr == "" {
		return errors.New("addr must not be empty")
	}
	if c.DataDir == "" {
		return errors.New("data dir must not be empty")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("give both tls-cert and tls-key, or neither")
	}
	if c.RolloutTimeout < 10*time.Second {
		return errors.New("rollout timeout must be at least 10s")
	}
	if _, err := c.TrustedProxyNets(); err != nil {
		return err
	}
	if c.ExternalURL != "" {
		u, err := url.Parse(c.ExternalURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fmt.Errorf("external url %q: give the address people open Rewind at, such as https://rewind.example.com", c.ExternalURL)
		}
	}
	if c.SessionLifetime < time.Minute || c.SessionIdle < time.Minute {
		return errors.New("session lifetime and session idle must be at least 1m")
	}
	envs := map[string]bool{}
	for _, e := range c.Environments {
		envs[e.Name] = true
	}
	if c.Signin.OIDC != nil && c.Signin.OIDC.ClientSecret != "" && c.Signin.OIDC.ClientSecretFile != "" {
		return errors.New("signin.oidc: give client_secret or client_secret_file, not both")
	}
	if c.Signin.LDAP != nil && c.Signin.LDAP.BindPassword != "" && c.Signin.LDAP.BindPasswordFile != "" {
		return errors.New("signin.ldap: give bind_password or bind_password_file, not both")
	}
	if c.Signin.Recheck < 0 {
		return errors.New("signin.recheck must not be negative")
	}
	for _, cl := range c.Clusters {
		if !envs[cl.Environment] {
			return fmt.Errorf("cluster %q: environment %q is not declared under environments", cl.Name, cl.Environment)
		}
	}
	for _, n := range c.NacosServers {
		if !envs[n.Environment] {
			return fmt.Errorf("nacos server %q: environment %q is not declared under environments", n.Name, n.Environment)
		}
	}
	for _, d := range c.Databases {
		if !envs[d.Environment] {
			return fmt.Errorf("database %q: environment %q is not declared under environments", d.Name, d.Environment)
		}
	}
	for kind, r := range c.Retention {
		if !slices.Contains(rewind.RetentionKinds, rewind.TargetKind(kind)) {
			return fmt.Errorf("retention %q: retention is set per kind, service or config (a database's versions are SQL changes, each part of a request, and are never removed)", kind)
		}
		if r.KeepDays < 0 || r.KeepVersions < 0 {
			return fmt.Errorf("retention %q: keep_days and keep_versions must not be negative", kind)
		}
	}
	if (c.Metrics.TokenFile != "" || c.Metrics.Token != "") && len(c.Metrics.Token) < 16 {
		return errors.New("the metrics token must have at least 16 characters")
	}
	return nil
}

// TrustedProxyNets parses TrustedProxies; a bare address stands for itself.
func (c Config) TrustedProxyNets() ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, p := range c.TrustedProxies {
		if !strings.Contains(p, "/") {
			ip := net.ParseIP(p)
			if ip == nil {
				return nil, fmt.Errorf("trusted proxy %q: not an address or CIDR", p)
			}
			bits := 128
			if ip.To4() != nil {
				ip, bits = ip.To4(), 32
			}
			out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(p)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %w", p, err)
		}
		out = append(out, n)
	}
	return out, nil
}

func first(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func usage(fs *flag.FlagSet) string {
	var b strings.Builder
	fs.SetOutput(&b)
	fs.PrintDefaults()
	return b.String()
}
