package rewind

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// NacosServer is a Nacos server whose configs Rewind follows, in one
// environment. The targets of its configs (kind config) have the server's ID
// as owner.
type NacosServer struct {
	ID            int64
	Name          string
	EnvironmentID int64
	// Addr is the HTTP address, host:port, optionally with http:// or https://.
	Addr string
	// ContextPath is the HTTP path prefix; /nacos when empty.
	ContextPath string
	// Namespaces are the namespace IDs whose configs are followed; "public"
	// is the default namespace.
	Namespaces []string
	Username   string
	// Password logs in to Nacos. It is encrypted at rest and never shown again.
	Password string `json:"-"`
	// MaskKeys are the words that make a key secret, so that its value is
	// masked in pages and diffs; empty means DefaultMaskKeys.
	MaskKeys   []string
	FromConfig bool // declared in the config file, not editable in pages
	CreatedAt  time.Time
}

// DefaultMaskKeys are the words that make a config key secret when a server
// names none.
var DefaultMaskKeys = []string{"password", "secret", "token", "key"}

// DefaultNacosNamespace is the ID of Nacos' default namespace.
const DefaultNacosNamespace = "public"

// String describes the server without its password.
func (n NacosServer) String() string {
	return fmt.Sprintf("nacos server %s at %s", n.Name, n.Addr)
}

// GoString keeps the password out of %#v.
func (n NacosServer) GoString() string {
	return fmt.Sprintf("rewind.NacosServer{ID:%d, Name:%q, Addr:%q, Username:%q, Password:<redacted>}", n.ID, n.Name, n.Addr, n.Username)
}

// NormalizeNacosServer trims the fields of n and fills the defaults: the
// default namespace when none is named, "" for the empty namespace.
func NormalizeNacosServer(n *NacosServer) {
	n.Name = strings.TrimSpace(n.Name)
	n.Addr = strings.TrimSuffix(strings.TrimSpace(n.Addr), "/")
	n.ContextPath = strings.TrimSpace(n.ContextPath)
	n.Username = strings.TrimSpace(n.Username)
	var nss []string
	seen := map[string]bool{}
	for _, ns := range n.Namespaces {
		ns = strings.TrimSpace(ns)
		if ns == "" {
			ns = DefaultNacosNamespace
		}
		if !seen[ns] {
			seen[ns] = true
			nss = append(nss, ns)
		}
	}
	if len(nss) == 0 {
		nss = []string{DefaultNacosNamespace}
	}
	n.Namespaces = nss
	var keys []string
	for _, k := range n.MaskKeys {
		if k = strings.ToLower(strings.TrimSpace(k)); k != "" {
			keys = append(keys, k)
		}
	}
	n.MaskKeys = keys
}

// ValidateNacosServer checks a Nacos server before it is saved; call
// NormalizeNacosServer first.
func ValidateNacosServer(n NacosServer) error {
	if err := validateName("A Nacos server name", n.Name); err != nil {
		return err
	}
	if n.EnvironmentID == 0 {
		return Errorf(EINVALID, "Choose the environment the Nacos server belongs to.")
	}
	hostport := n.Addr
	for _, prefix := range []string{"http://", "https://"} {
		hostport = strings.TrimPrefix(hostport, prefix)
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || host == "" {
		return Errorf(EINVALID, "Give the Nacos address as host:port, such as nacos.example.com:8848.")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 64535 {
		return Errorf(EINVALID, "The Nacos port must be a number from 1 to 64535 (its gRPC port is 1000 higher).")
	}
	if n.ContextPath != "" && (!strings.HasPrefix(n.ContextPath, "/") || strings.ContainsAny(n.ContextPath, " ?#")) {
		return Errorf(EINVALID, "A context path starts with / and has no spaces, such as /nacos.")
	}
	if len(n.Namespaces) == 0 {
		return Errorf(EINVALID, "Name at least one namespace to follow.")
	}
	for _, ns := range n.Namespaces {
		if len(ns) > 128 || strings.ContainsAny(ns, " ,/?#") {
			return Errorf(EINVALID, "A namespace ID has at most 128 characters and no spaces, commas or slashes: %q.", ns)
		}
	}
	if n.Password != "" && n.Username == "" {
		return Errorf(EINVALID, "Give the user name that goes with the password.")
	}
	if len(n.Password) > 1024 {
		return Errorf(EINVALID, "A password has at most 1024 characters.")
	}
	for _, k := range n.MaskKeys {
		if len(k) > 64 {
			return Errorf(EINVALID, "A mask key has at most 64 characters.")
		}
	}
	return nil
}

// ConfigState is a config as Nacos holds it now.
type ConfigState struct {
	Exists  bool
	Content string
	MD5     string
	// Type is Nacos' type of the config (yaml, properties, json, xml, text,
	// html) when known.
	Type string
}

// Config restore actions.
const (
	// ConfigPublish publishes the content of the target version.
	ConfigPublish = "publish"
	// ConfigDelete deletes the config: the state before the target version
	// (an I row of Nacos history) created it, or the target version itself
	// when it is a deletion.
	ConfigDelete = "delete"
)

// ConfigRestore is what a rollback request on a config carries in its
// Payload. The md5 of the content the requester saw is the request's
// Expected ("" when the config did not exist).
type ConfigRestore struct {
	Action string `json:"action"` // ConfigPublish or ConfigDelete
}

// Encode returns the restore as a payload.
func (r ConfigRestore) Encode() (string, error) {
	if r.Action != ConfigPublish && r.Action != ConfigDelete {
		return "", Errorf(EINVALID, "Unknown config restore action %q.", r.Action)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("encode config restore: %w", err)
	}
	return string(b), nil
}

// ParseConfigRestore reads the payload of a rollback request on a config.
func ParseConfigRestore(payload string) (ConfigRestore, error) {
	var r ConfigRestore
	if err := json.Unmarshal([]byte(payload), &r); err != nil {
		return ConfigRestore{}, fmt.Errorf("read config restore: %w", err)
	}
	if r.Action != ConfigPublish && r.Action != ConfigDelete {
		return ConfigRestore{}, fmt.Errorf("read config restore: unknown action %q", r.Action)
	}
	return r, nil
}

// Nacos history operations, as a config version's Meta["op"] holds them.
const (
	NacosInsert = "I"
	NacosUpdate = "U"
	NacosDelete = "D"
)

// Keys of a config version's Meta.
const (
	MetaOp        = "op"         // the Nacos operation: NacosInsert, NacosUpdate or NacosDelete
	MetaSourceIP  = "src_ip"     // the address the change came from
	MetaHistoryID = "history_id" // Nacos' history row ID (nid)
	MetaType      = "type"       // Nacos' type of the config when it was recorded
)

// ConfigVersion is one entry of a config's versions as pages show them:
// Nacos history and Rewind's snapshots of the same content are one entry.
type ConfigVersion struct {
	// Number is the recorded version that stands for the entry (all the
	// entry's recorded versions have the same content).
	Number int64
	At     time.Time
	// Operator and SourceIP say who made the change and from where, when known.
	Operator, SourceIP string
	// Op is the Nacos operation (NacosInsert, NacosUpdate, NacosDelete) when
	// Nacos history knows the change.
	Op  string
	MD5 string
	// Deleted is set for the state after a deletion: no content.
	Deleted bool
	// Sources lists how Rewind learned of the version: imported, observed, rollback.
	Sources []Source
	// HistoryID is Nacos' history row ID, when known.
	HistoryID string
	// RequestID is the rollback request that made the version, if any.
	RequestID int64
}

// NacosStatus is what Rewind last learned of a Nacos server's health.
type NacosStatus struct {
	// Version is the full version the server reports, such as 2.3.2; "" until known.
	Version string
	// ReadOnly is set for Nacos 1.x, which has no compare-and-swap publish:
	// Rewind follows its configs but cannot restore them.
	ReadOnly bool
	// Problem says, for people, why Rewind cannot use the server; "" when it answers.
	Problem string
	// Checked is when the server was last checked; zero before the first check.
	Checked time.Time
}

// NacosOverHTTPS says whether a Nacos server address uses https://; any
// other address is plain HTTP, where the password travels unencrypted.
func NacosOverHTTPS(addr string) bool {
	return strings.HasPrefix(strings.TrimSpace(addr), "https://")
}
