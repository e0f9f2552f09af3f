package rewind

import "time"

// Phase is where a service's rollout stands.
type Phase string

// Rollout phases of a service.
const (
	PhaseProgressing Phase = "progressing" // pods are being replaced
	PhaseComplete    Phase = "complete"    // all pods run the current template
	PhaseFailed      Phase = "failed"      // the rollout cannot finish by itself
	PhasePaused      Phase = "paused"      // the Deployment is paused
)

// RolloutStatus is the live state of a service, as pages show it.
type RolloutStatus struct {
	Phase   Phase
	Message string // the progress, or why the rollout failed, in words
	// Revision is the workload's revision of its current template, when known.
	Revision                           string
	Images                             []Image
	Desired, Updated, Ready, Available int32
	Generation, ObservedGeneration     int64
	Conditions                         []Condition
	// Events are the latest events of the workload, its ReplicaSets and its
	// pods, newest first.
	Events []Event
}

// Condition is one status condition of a workload.
type Condition struct {
	Type, Status, Reason, Message string
	LastTransition                time.Time
}

// Event is one Kubernetes event about a workload or its parts.
type Event struct {
	Time    time.Time
	Type    string // Normal or Warning
	Reason  string
	Object  string // kind/name, such as Pod/web-5d8f7-x2x9q
	Message string
	Count   int32
}
