package nacos

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// ServerConfig registers one Nacos server.
type ServerConfig struct {
	// Name is how Rewind calls the server; it appears in errors.
	Name string
	// Addr is the HTTP address, host:port (an http:// or https:// prefix is allowed). The gRPC
	// port is the HTTP port + 1000, as Nacos and its SDK have it.
	Addr string
	// ContextPath is the HTTP path prefix; "/nacos" when empty.
	ContextPath string
	// Namespaces are the namespace IDs to follow; "" (or "public") is the default namespace.
	// No namespaces means the default namespace.
	Namespaces []string
	// Username and Password log in to Nacos; the password is only ever sent to the server.
	Username, Password string
	// CAFile names a PEM file of certificate authorities trusted, besides the system's, for
	// an https:// server (HTTP and gRPC); certificates are always verified.
	CAFile string
}

// String describes the server without its password.
func (c ServerConfig) String() string {
	return fmt.Sprintf("nacos server %q at %s", c.Name, c.Addr)
}

// GoString describes the server without its password, for %#v.
func (c ServerConfig) GoString() string {
	return fmt.Sprintf("nacos.ServerConfig{Name:%q, Addr:%q, ContextPath:%q, Namespaces:%q, Username:%q, Password:<redacted>}",
		c.Name, c.Addr, c.ContextPath, c.Namespaces, c.Username)
}

// LogValue keeps the password out of structured logs.
func (c ServerConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", c.Name), slog.String("addr", c.Addr),
		slog.String("username", c.Username))
}

// ConfigKey names one config on a server.
type ConfigKey struct {
	Namespace, Group, DataID string
}

// String is "namespace/group/dataId", with "public" for the default namespace.
func (k ConfigKey) String() string {
	ns := k.Namespace
	if ns == "" {
		ns = "public"
	}
	return ns + "/" + k.Group + "/" + k.DataID
}

// Config is one config as Nacos holds it now.
type Config struct {
	Key ConfigKey
	// Type is Nacos' type field (yaml, properties, json, xml, text, html), when known.
	Type string
	// Content is empty when a listing did not include it.
	Content string
	// MD5 is the hex MD5 of the content, as Nacos computes it.
	MD5 string
	// Modified is the last modification time, when known.
	Modified time.Time
}

// Operations recorded in Nacos' history.
const (
	OpInsert = "I"
	OpUpdate = "U"
	OpDelete = "D"
)

// Sources of a version, in the words of Rewind's glossary.
const (
	// SourceImported marks a version read from Nacos' own history.
	SourceImported = "imported"
	// SourceObserved marks a version Rewind saw live (a snapshot).
	SourceObserved = "observed"
	// SourceRollback marks a version made by a Rewind rollback.
	SourceRollback = "rollback"
)

// Version is one recorded state of a config: its content after a change.
type Version struct {
	Key ConfigKey
	// Content is the content after the change; empty after a deletion.
	Content string
	// MD5 is the hex MD5 of Content; empty after a deletion.
	MD5 string
	// At is when the change happened (Nacos' time for imported versions).
	At time.Time
	// Operator is the user who made the change, when known.
	Operator string
	// SourceIP is the address the change came from, when known.
	SourceIP string
	// Op is OpInsert, OpUpdate or OpDelete for imported versions, "" otherwise.
	Op string
	// Sources lists how Rewind learned of the version (SourceImported, SourceObserved, ...).
	Sources []string
	// HistoryID is Nacos' history row id (nid) for imported versions.
	HistoryID string
}

// ContentMD5 is the MD5 Nacos gives a content: lower-case hex, "" for empty content.
func ContentMD5(content string) string {
	if content == "" {
		return ""
	}
	sum := md5.Sum([]byte(content))
	return hex.EncodeToString(sum[:])
}

// normalizeNamespace maps the two spellings of the default namespace to "".
func normalizeNamespace(ns string) string {
	if strings.EqualFold(ns, "public") {
		return ""
	}
	return ns
}
