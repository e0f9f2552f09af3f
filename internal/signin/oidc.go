package signin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/rewindhq/rewind/internal/rewind"
)

// OIDCConfig is how Rewind talks to an OpenID Connect provider.
type OIDCConfig struct {
	// Name is the provider's name on the login page: "Sign in with Name".
	Name         string
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is Rewind's callback as the provider knows it:
	// https://rewind.example.com/auth/oidc/callback.
	RedirectURL string
	// Scopes are asked for besides openid; default profile, email, groups,
	// offline_access (for a refresh token).
	Scopes []string
	// UsernameClaim names the claim that becomes the Rewind username
	// (default preferred_username, then email); GroupsClaim the one that
	// holds the groups (default groups).
	UsernameClaim, GroupsClaim string
	// CAFile names PEM authorities trusted, besides the system's, for the
	// provider's TLS certificate.
	CAFile string
}

// PendingMaxAge is how long a sign-in may take at the provider.
const PendingMaxAge = 10 * time.Minute

// Pending is what a sign-in started at the provider must bring back: the
// state (against forged callbacks), the nonce (against replayed ID tokens)
// and the PKCE verifier (against stolen codes). It is kept in the browser's
// encrypted session cookie and used once.
type Pending struct {
	State, Nonce, Verifier string
	Next                   string // the page to go to after signing in
	At                     time.Time
}

// Tokens is what a finished sign-in keeps: the refresh token (empty when
// the provider gives none) and when the ID token expires.
type Tokens struct {
	Refresh string
	Expiry  time.Time
}

// OIDC signs people in with an OpenID Connect provider: the authorization
// code flow with PKCE, state and nonce, the ID token verified with the
// provider's keys.
type OIDC struct {
	cfg    OIDCConfig
	client *http.Client
	// Now is the clock against which tokens expire.
	Now func() time.Time

	mu       sync.Mutex
	provider *oidc.Provider
}

// NewOIDC returns the provider of cfg. It reaches the provider only when a
// sign-in starts, so that Rewind starts while the provider is down.
func NewOIDC(cfg OIDCConfig) (*OIDC, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" || cfg.RedirectURL == "" {
		return nil, fmt.Errorf("oidc: issuer, client_id and redirect_url are needed")
	}
	if cfg.Name == "" {
		cfg.Name = "SSO"
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{"profile", "email", "groups", "offline_access"}
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	tlsCfg, err := tlsConfig(cfg.CAFile)
	if err != nil {
		return nil, fmt.Errorf("oidc: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	return &OIDC{cfg: cfg, client: &http.Client{Transport: tr, Timeout: 15 * time.Second}, Now: time.Now}, nil
}

// tlsConfig trusts the system's authorities and those in caFile.
func tlsConfig(caFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// Name is the provider's name for the login page.
func (o *OIDC) Name() string { return o.cfg.Name }

// Issuer is the provider's issuer URL.
func (o *OIDC) Issuer() string { return o.cfg.Issuer }

// ClientID is Rewind's client ID at the provider.
func (o *OIDC) ClientID() string { return o.cfg.ClientID }

func (o *OIDC) ctx(ctx context.Context) context.Context { return oidc.ClientContext(ctx, o.client) }

// discover reads the provider's configuration once it answers.
func (o *OIDC) discover(ctx context.Context) (*oidc.Provider, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider != nil {
		return o.provider, nil
	}
	// The key set fetches keys with the context given here, for as long as
	// Rewind runs: one without a deadline, with Rewind's HTTP client.
	p, err := oidc.NewProvider(o.ctx(context.WithoutCancel(ctx)), o.cfg.Issuer)
	if err != nil {
		return nil, rewind.Errorf(rewind.EUNAVAILABLE, "%s cannot be reached to sign you in: %s", o.cfg.Name, err.Error())
	}
	o.provider = p
	return p, nil
}

func (o *OIDC) oauth2(p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, Endpoint: p.Endpoint(),
		RedirectURL: o.cfg.RedirectURL, Scopes: append([]string{oidc.ScopeOpenID}, o.cfg.Scopes...)}
}

func random() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Start begins a sign-in: the provider's URL to send the browser to, and
// what the callback must bring back.
func (o *OIDC) Start(ctx context.Context, next string) (string, Pending, error) {
	p, err := o.discover(ctx)
	if err != nil {
		return "", Pending{}, err
	}
	pend := Pending{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(), Next: next, At: o.Now()}
	url := o.oauth2(p).AuthCodeURL(pend.State, oidc.Nonce(pend.Nonce), oauth2.S256ChallengeOption(pend.Verifier))
	return url, pend, nil
}

// Finish completes a sign-in at the callback: it checks the state against
// pend, exchanges code (with the PKCE verifier) for tokens, verifies the ID
// token (signature with the provider's keys, issuer, audience, expiry) and
// its nonce, and returns who signed in.
func (o *OIDC) Finish(ctx context.Context, pend Pending, state, code string) (Identity, Tokens, error) {
	if pend.State == "" || subtle.ConstantTimeCompare([]byte(state), []byte(pend.State)) != 1 {
		return Identity{}, Tokens{}, rewind.Errorf(rewind.EUNAUTHORIZED, "This sign-in was not started here or was already used (its state does not match). Start again.")
	}
	if o.Now().Sub(pend.At) > PendingMaxAge {
		return Identity{}, Tokens{}, rewind.Errorf(rewind.EUNAUTHORIZED, "This sign-in took longer than %s. Start again.", PendingMaxAge)
	}
	p, err := o.discover(ctx)
	if err != nil {
		return Identity{}, Tokens{}, err
	}
	conf := o.oauth2(p)
	tok, err := conf.Exchange(o.ctx(ctx), code, oauth2.VerifierOption(pend.Verifier))
	if err != nil {
		return Identity{}, Tokens{}, rewind.Errorf(rewind.EUNAUTHORIZED, "%s refused the sign-in code (used before, expired, or not issued for this sign-in). Start again.", o.cfg.Name)
	}
	id, expiry, err := o.identity(ctx, p, tok, pend.Nonce)
	if err != nil {
		return Identity{}, Tokens{}, err
	}
	return id, Tokens{Refresh: tok.RefreshToken, Expiry: expiry}, nil
}

// Refresh asks the provider again who holds refresh: it returns who they
// are now and the refresh token to keep. A provider that refuses ends the
// sign-in.
func (o *OIDC) Refresh(ctx context.Context, refresh string) (Identity, Tokens, error) {
	if refresh == "" {
		return Identity{}, Tokens{}, rewind.Errorf(rewind.EUNAUTHORIZED, "Your sign-in with %s has expired. Sign in again.", o.cfg.Name)
	}
	p, err := o.discover(ctx)
	if err != nil {
		return Identity{}, Tokens{}, err
	}
	tok, err := o.oauth2(p).TokenSource(o.ctx(ctx), &oauth2.Token{RefreshToken: refresh, Expiry: time.Unix(1, 0)}).Token()
	if err != nil {
		return Identity{}, Tokens{}, rewind.Errorf(rewind.EUNAUTHORIZED, "%s no longer accepts your sign-in. Sign in again.", o.cfg.Name)
	}
	id, expiry, err := o.identity(ctx, p, tok, "")
	if err != nil {
		return Identity{}, Tokens{}, err
	}
	next := tok.RefreshToken
	if next == "" {
		next = refresh
	}
	return id, Tokens{Refresh: next, Expiry: expiry}, nil
}

// identity verifies the ID token of tok and reads who it names; nonce, when
// not empty, must be the token's.
func (o *OIDC) identity(ctx context.Context, p *oidc.Provider, tok *oauth2.Token, nonce string) (Identity, time.Time, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, time.Time{}, rewind.Errorf(rewind.EUNAUTHORIZED, "%s sent no ID token.", o.cfg.Name)
	}
	id, idt, err := o.Verify(ctx, p, raw, nonce)
	if err != nil {
		return Identity{}, time.Time{}, err
	}
	if id.Groups == nil && p.UserInfoEndpoint() != "" {
		// Some providers give the groups only from their userinfo endpoint.
		if info, err := p.UserInfo(o.ctx(ctx), oauth2.StaticTokenSource(tok)); err == nil {
			var claims map[string]any
			if info.Claims(&claims) == nil {
				id.Groups = stringList(claims[o.cfg.GroupsClaim])
			}
		}
	}
	return id, idt.Expiry, nil
}

// Verify checks a raw ID token: its signature with the provider's keys, its
// issuer, that it was issued to Rewind (audience), that it has not expired
// by o.Now, and, when nonce is not empty, its nonce.
func (o *OIDC) Verify(ctx context.Context, p *oidc.Provider, raw, nonce string) (Identity, *oidc.IDToken, error) {
	if p == nil {
		var err error
		if p, err = o.discover(ctx); err != nil {
			return Identity{}, nil, err
		}
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: o.cfg.ClientID, Now: o.Now}).Verify(o.ctx(ctx), raw)
	var expired *oidc.TokenExpiredError
	if errors.As(err, &expired) {
		return Identity{}, nil, rewind.Errorf(rewind.EUNAUTHORIZED, "The ID token from %s has expired. Sign in again.", o.cfg.Name)
	}
	if err != nil {
		return Identity{}, nil, rewind.Errorf(rewind.EUNAUTHORIZED, "The ID token from %s is not valid (%s). Start again.", o.cfg.Name, err.Error())
	}
	if nonce != "" && subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return Identity{}, nil, rewind.Errorf(rewind.EUNAUTHORIZED, "The ID token from %s was not issued for this sign-in (its nonce does not match). Start again.", o.cfg.Name)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, nil, rewind.Errorf(rewind.EUNAUTHORIZED, "The ID token from %s cannot be read.", o.cfg.Name)
	}
	str := func(k string) string { s, _ := claims[k].(string); return s }
	id := Identity{Source: rewind.SourceOIDC, Subject: idt.Issuer + "|" + idt.Subject, DisplayName: str("name"), Groups: stringList(claims[o.cfg.GroupsClaim])}
	if v, _ := claims["email_verified"].(bool); v || claims["email_verified"] == nil {
		id.Email = str("email")
	}
	for _, k := range []string{o.cfg.UsernameClaim, "preferred_username", "email"} {
		if k != "" && str(k) != "" {
			id.Username = str(k)
			break
		}
	}
	return id, idt, nil
}

// stringList reads a claim that holds a list of strings (or one string).
func stringList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
