package rewind

import "time"

// Rollout phases of a service.
const (
	PhaseProgressing = "progressing"
	PhaseComplete    = "complete"
	PhaseFailed      = "failed"
	PhasePaused      = "paused"
	PhaseMissing     = "missing" // the workload is gone from the cluster
)

// RolloutStatus is the live state of a service's rollout, as pages show it.
type RolloutStatus struct {
	Phase                              string
	Message                            string
	Desired, Updated, Ready, Available int32
	Revision                           string
	Conditions                         []Condition
	Events                             []Event // newest first
}

// Condition is one status condition of a workload.
type Condition struct {
	Type, Status, Reason, Message string
	LastUpdate                    time.Time
}

// Event is one Kubernetes event about a workload, its ReplicaSets or pods.
type Event struct {
	At                            time.Time
	Type, Reason, Object, Message string
	Count                         int32
}
