package rewind

import (
	"fmt"
	"strings"
	"time"
)

// TargetKind says what sort of thing a target is.
type TargetKind string

// The kinds of target.
const (
	KindService  TargetKind = "service"  // a Kubernetes workload
	KindConfig   TargetKind = "config"   // a Nacos config
	KindDatabase TargetKind = "database" // a SQL connection
)

// Target is one thing that has versions. Every target belongs to one environment
// through the cluster, Nacos server or database it lives in (its owner).
type Target struct {
	ID            int64
	Kind          TargetKind
	EnvironmentID int64
	OwnerID       int64  // cluster, Nacos server or database ID
	Namespace     string // Kubernetes or Nacos namespace
	Workload      string // Deployment, StatefulSet or DaemonSet; services only
	Group         string // Nacos group; configs only
	Name          string // workload name, data ID or database name
	CreatedAt     time.Time
	DeletedAt     *time.Time // set when the target disappeared from its owner
}

// Label is a short human name for the target, unique within its owner.
func (t Target) Label() string {
	switch t.Kind {
	case KindService:
		return fmt.Sprintf("%s/%s/%s", t.Namespace, strings.ToLower(t.Workload), t.Name)
	case KindConfig:
		return fmt.Sprintf("%s/%s/%s", t.Namespace, t.Group, t.Name)
	}
	return t.Name
}

// Source says how Rewind learned of a version.
type Source string

// The sources of a version.
const (
	SourceObserved Source = "observed" // seen live
	SourceImported Source = "imported" // read from the target's own history
	SourceRollback Source = "rollback" // made by a Rewind rollback
	SourceChange   Source = "change"   // a SQL change run through Rewind
)

// Image is the image of one container of a service version.
type Image struct {
	Container string `json:"container"`
	Image     string `json:"image"`
	Init      bool   `json:"init,omitempty"`
}

// Version is one recorded state of a target. Versions are append-only and
// numbered per target from 1.
type Version struct {
	ID       int64
	TargetID int64
	Number   int64
	// Revision is the target's own number for this state when it has one:
	// a Deployment revision, a Nacos history ID.
	Revision    string
	Content     string // normalised pod template YAML, or config content
	Hash        string // sha256 of Content for services, md5 for configs
	Source      Source
	Author      string // who made the change, where known
	ChangeCause string
	Images      []Image
	// Meta holds kind-specific facts, such as a Nacos operation and source IP.
	Meta      map[string]string
	CreatedAt time.Time // when the change was made, where known; else when seen
	// RequestID is the rollback request that made this version, if any.
	RequestID int64
}

// ImageChange is a container whose image differs between two versions.
type ImageChange struct {
	Container string
	Old, New  string // empty when the container is absent on that side
}

// ImageChanges lists the containers whose image differs from a to b.
func ImageChanges(a, b []Image) []ImageChange {
	key := func(i Image) string {
		if i.Init {
			return "init:" + i.Container
		}
		return i.Container
	}
	old := map[string]string{}
	for _, i := range a {
		old[key(i)] = i.Image
	}
	var out []ImageChange
	seen := map[string]bool{}
	for _, i := range b {
		k := key(i)
		seen[k] = true
		if old[k] != i.Image {
			out = append(out, ImageChange{Container: k, Old: old[k], New: i.Image})
		}
	}
	for _, i := range a {
		if k := key(i); !seen[k] {
			out = append(out, ImageChange{Container: k, Old: i.Image})
		}
	}
	return out
}
