// Package kube is Rewind's Kubernetes adapter. It watches the Deployments,
// StatefulSets and DaemonSets of registered clusters and records every change
// of their pod templates as versions of services; it imports the history the
// cluster still keeps (ReplicaSets, ControllerRevisions); and it carries out
// rollback requests for services by writing an old pod template back and
// following the rollout until it completes, fails or times out.
package kube

import (
	"context"

	"github.com/rewindhq/rewind/internal/rewind"
)

// The kinds of workload a service can be.
const (
	Deployment  = "Deployment"
	StatefulSet = "StatefulSet"
	DaemonSet   = "DaemonSet"
)

// FieldManager is the field manager name of Rewind's updates; it tells the
// recorder which template changes Rewind made.
const FieldManager = "rewind"

// Annotations Rewind reads or writes on workloads.
const (
	// AnnotationRequest names the rollback request that last wrote the
	// workload's pod template.
	AnnotationRequest = "rewind.io/request"
	// AnnotationChangeCause is the usual annotation saying why a workload changed.
	AnnotationChangeCause = "kubernetes.io/change-cause"

	annotationRevision = "deployment.kubernetes.io/revision"
)

// Store is what the adapter needs of Rewind's history store; *sqlite.Store
// satisfies it.
type Store interface {
	// EnsureTarget returns the stored target with t's identity, creating it
	// when missing (created is then true).
	EnsureTarget(ctx context.Context, t *rewind.Target) (created bool, err error)
	// RecordVersion appends v unless the target's latest version has the same hash.
	RecordVersion(ctx context.Context, v *rewind.Version) (*rewind.Version, bool, error)
	// ImportVersion appends v unless it is already recorded.
	ImportVersion(ctx context.Context, v *rewind.Version) (bool, error)
	// MaxRevision returns the highest numeric revision recorded for a target.
	MaxRevision(ctx context.Context, targetID int64) (int64, error)
	// Version returns the version with that ID.
	Version(ctx context.Context, id int64) (*rewind.Version, error)
	// Request returns the rollback request with that ID.
	Request(ctx context.Context, id int64) (*rewind.Request, error)
	// MarkTargetDeleted records that a target disappeared from its cluster.
	MarkTargetDeleted(ctx context.Context, id int64) error
	// ServiceTargets lists the services of a cluster not marked deleted.
	ServiceTargets(ctx context.Context, clusterID int64) ([]*rewind.Target, error)
}

// key names one workload in a cluster.
type key struct {
	kind, namespace, name string
}

func (k key) String() string { return k.namespace + "/" + k.kind + "/" + k.name }

func keyOf(t *rewind.Target) key {
	return key{kind: t.Workload, namespace: t.Namespace, name: t.Name}
}

// targetFor returns the target of workload k in cluster c.
func targetFor(c *rewind.Cluster, k key) *rewind.Target {
	return &rewind.Target{
		Kind:          rewind.KindService,
		EnvironmentID: c.EnvironmentID,
		OwnerID:       c.ID,
		Namespace:     k.namespace,
		Workload:      k.kind,
		Name:          k.name,
	}
}
