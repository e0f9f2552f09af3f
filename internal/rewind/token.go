package rewind

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"
)

// TokenPrefix starts every API token, so that a leaked one is recognised.
const TokenPrefix = "rwd_"

// Audit actions of API tokens.
const (
	ActionTokenCreate = "token.create"
	ActionTokenRevoke = "token.revoke"
)

// APIToken is a credential for the API: a personal token acts as its user,
// a service token (no Username) acts with its own Role and EnvRoles,
// optionally only in some environments. Only the token's hash is stored.
type APIToken struct {
	ID       int64
	Name     string
	Username string   // empty for a service token
	Role     Role     // a service token's role everywhere (may be RoleNone)
	EnvRoles EnvRoles // a service token's roles per environment
	// Environments, when not empty, are the only environments the token may
	// read or act in.
	Environments []int64
	ReadOnly     bool
	Prefix       string // the first characters, to tell tokens apart in lists
	CreatedBy    string
	CreatedAt    time.Time
	ExpiresAt    *time.Time
	LastUsedAt   *time.Time
	RevokedAt    *time.Time
}

// Service reports whether t is a service token.
func (t *APIToken) Service() bool { return t.Username == "" }

// Usable says why t cannot be used at now, or nil.
func (t *APIToken) Usable(now time.Time) error {
	if t.RevokedAt != nil {
		return Errorf(EUNAUTHORIZED, "This API token was revoked.")
	}
	if t.ExpiresAt != nil && !now.Before(*t.ExpiresAt) {
		return Errorf(EUNAUTHORIZED, "This API token has expired.")
	}
	return nil
}

// NewTokenSecret returns a new random token and the hash to store.
func NewTokenSecret() (token, hash string) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token)
}

// HashToken is the stored form of a token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// ValidateToken checks a new token's name, role and expiry.
func ValidateToken(t *APIToken, now time.Time) error {
	t.Name = strings.TrimSpace(t.Name)
	if err := validateName("A token name", t.Name); err != nil {
		return err
	}
	if t.Service() && !t.Role.Valid() && !(t.Role == RoleNone && len(t.EnvRoles) > 0) {
		return Errorf(EINVALID, "Choose the service token's role.")
	}
	if err := ValidateRoles(RoleNone, t.EnvRoles); err != nil {
		return err
	}
	if t.ExpiresAt != nil && !t.ExpiresAt.After(now) {
		return Errorf(EINVALID, "The expiry must be in the future.")
	}
	return nil
}

// User is who a service token acts as: "token:NAME" with the token's roles.
func (t *APIToken) User() User {
	return User{Username: "token:" + t.Name, Role: t.Role, EnvRoles: t.EnvRoles, Source: "token"}
}
