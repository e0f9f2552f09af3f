package templates

import (
	"time"

	"github.com/rewindhq/rewind/internal/diff"
	"github.com/rewindhq/rewind/internal/rewind"
)

// NacosServerState is a registered Nacos server, without its password, and
// what Rewind last learned of it.
type NacosServerState struct {
	ID            int64
	Name          string
	EnvironmentID int64
	Env           string
	Addr          string
	ContextPath   string
	Namespaces    []string
	Username      string
	HasPassword   bool
	MaskKeys      []string
	FromConfig    bool
	Status        rewind.NacosStatus
	// PlainHTTP is set for a server with a password on an http:// address:
	// the password travels unencrypted.
	PlainHTTP bool
}

// ConfigScope is one server and namespace the configs list can show.
type ConfigScope struct {
	Value, Label string
}

// ConfigRow is one config in the configs list.
type ConfigRow struct {
	ID         int64
	Server     string
	Namespace  string
	Group      string
	DataID     string
	Type       string
	LastChange time.Time
	LastAuthor string
	Versions   int64
	Deleted    bool
}

// ConfigsView is the configs of one environment.
type ConfigsView struct {
	IsAdmin   bool
	NoServers bool
	Envs      []EnvTab
	Env       string
	Scopes    []ConfigScope
	Scope     string
	Query     string
	Group     string
	Servers   []NacosServerState
	Rows      []ConfigRow
}

// CodeToken is a piece of highlighted text; Class is "" for plain text.
type CodeToken struct {
	Class, Text string
}

// CodeLine is one highlighted line.
type CodeLine []CodeToken

// ConfigVersionRow is one version in a config's versions.
type ConfigVersionRow struct {
	V       rewind.ConfigVersion
	Current bool
	// MD5 is the version's md5 as the page may show it: "hidden (...)"
	// when its content has masked values the page does not show.
	MD5 string
	// Restore is the link that restores this version ("" when it cannot be
	// requested); DeleteBefore restores the state before an I row: no config.
	Restore, DeleteBefore string
}

// ConfigView is one config: its current content and its versions.
type ConfigView struct {
	Target   *rewind.Target
	BasePath string
	Server   string
	Env      string
	Status   rewind.NacosStatus
	// Problem says why the current content could not be read from Nacos;
	// the content shown is then the last one Rewind recorded.
	Problem string
	Exists  bool
	Format  string
	MD5     string // as the page may show it (see ConfigVersionRow.MD5)
	Lines   []CodeLine
	Mask    MaskNote
	// Versions is one page of the versions, newest first.
	Versions []ConfigVersionRow
	Nav      PageNav
	Open     *rewind.Request
}

// MaskNote says whether the values of secret keys are masked on a page and
// how to reveal or mask them.
type MaskNote struct {
	Masked    bool   // values are masked
	Revealed  bool   // values are shown on the user's request
	RevealURL string // where to post to reveal them; "" when the user may not
	MaskURL   string // where to mask them again
	CSRF      string // the token the reveal form posts
	// SecretsDiffer is set when the contents compared differ only in
	// masked values.
	SecretsDiffer bool
}

// ConfigRestoreExtra is what the confirmation of a config restore adds to
// the rollback form.
type ConfigRestoreExtra struct {
	Action string // rewind.ConfigPublish or rewind.ConfigDelete
	// Seen says what the config holds as the requester sees it: "md5 ...",
	// with the md5 hidden when the content has masked values, or "no config".
	// The md5 itself stays on the server.
	Seen   string
	DataID string // to be typed to confirm a deletion
	Mask   MaskNote
}

// ConfigRequestView is what the page of a rollback request on a config adds.
type ConfigRequestView struct {
	Action string // rewind.ConfigPublish or rewind.ConfigDelete
	// Seen says what the requester saw: "md5 ..." (hidden when the content
	// has masked values) or "no config".
	Seen string
	// Changed is set when the config no longer holds what the requester saw:
	// the diff from what it holds now to the restored version.
	Changed *diff.Result
	// Now describes what the config holds now, when Changed is set.
	Now  string
	Mask MaskNote
}

// NacosSettingsView is the admin's page of Nacos servers.
type NacosSettingsView struct {
	CSRF         string
	Environments []*rewind.Environment
	Servers      []NacosServerState
	Error        string
	Wired        bool
	// DefaultMaskKeys are the words used when a server names none.
	DefaultMaskKeys []string
}
