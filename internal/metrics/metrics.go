// Package metrics exposes Rewind's Prometheus metrics at /metrics.
//
// Two sorts of metric live here. Events (a request executed, a rollout
// followed, a watch restarted, a notification sent) are counted where they
// happen, through this package's functions, into collectors shared by the
// whole process. States (requests by state, versions held, store size,
// which clusters, Nacos servers and databases answer) are read from their
// source at each scrape by a Collector, so they are never stale and vanish
// with what they describe.
//
// Label values are bounded: kinds, states, types and results come from
// fixed lists; environment, cluster, Nacos server and database names are
// chosen by admins (in the config file or Settings), a few dozen at most,
// and validated there. No value a requester types (target names, reasons,
// users, SQL) ever becomes a label.
package metrics

import (
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewindhq/rewind/internal/rewind"
)

const namespace = "rewind"

// Buckets of the duration histograms, in seconds.
var (
	// approvalBuckets go from a minute to a week: people decide.
	approvalBuckets = []float64{60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600}
	// executionBuckets go from a second to an hour: plans and rollouts.
	executionBuckets = []float64{1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600}
	// lagBuckets go from a tenth of a second to ten minutes.
	lagBuckets = []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600}
)

var (
	requestsExecuted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "requests_executed_total",
		Help: "Requests whose plan ran to its end, by type (rollback, change), kind (service, config, database, release, mixed), environment and result (succeeded, failed).",
	}, []string{"type", "kind", "environment", "result"})
	approvalWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "request_approval_wait_seconds", Buckets: approvalBuckets,
		Help: "Time from a request to the approval that let it run, for requests that needed approval.",
	}, []string{"type", "kind", "environment"})
	execution = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "request_execution_seconds", Buckets: executionBuckets,
		Help: "Time a request's plan took to run, from its start to its end.",
	}, []string{"type", "kind", "environment", "result"})
	rollout = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "rollout_duration_seconds", Buckets: executionBuckets,
		Help: "Time a Kubernetes rollout of a rollback took, from the write of the pod template to its end, by cluster and result (succeeded, failed, stopped).",
	}, []string{"cluster", "result"})
	watchRestarts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "watcher_reconnects_total",
		Help: "Times a watch of a cluster broke (connection lost, expired, refused) and was started again.",
	}, []string{"cluster"})
	watchLag = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "watcher_lag_seconds", Buckets: lagBuckets,
		Help: "Time from a change of a workload's pod template in the cluster to the version Rewind recorded (after the watcher's first pass).",
	}, []string{"cluster"})
	notifications = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "notifications_total",
		Help: "Notification deliveries by channel kind and result (sent, failed).",
	}, []string{"channel", "result"})
)

// events are the collectors updated where things happen.
var events = []prometheus.Collector{requestsExecuted, approvalWait, execution, rollout, watchRestarts, watchLag, notifications}

// eventNames are the names of the events' metrics, in the order of events.
var eventNames = map[prometheus.Collector]string{
	requestsExecuted: namespace + "_requests_executed_total",
	approvalWait:     namespace + "_request_approval_wait_seconds",
	execution:        namespace + "_request_execution_seconds",
	rollout:          namespace + "_rollout_duration_seconds",
	watchRestarts:    namespace + "_watcher_reconnects_total",
	watchLag:         namespace + "_watcher_lag_seconds",
	notifications:    namespace + "_notifications_total",
}

func eventName(c prometheus.Collector) string { return eventNames[c] }

// RequestKind is the kind label of request r whose steps act on targets of
// the given kinds: "release" for the rollback of a release, the one kind of
// all its targets, or "mixed".
func RequestKind(r *rewind.Request, kinds []rewind.TargetKind) string {
	if r.Kind == rewind.RequestRollback && r.ReleaseID != 0 {
		return "release"
	}
	if len(kinds) == 0 {
		return "mixed"
	}
	for _, k := range kinds[1:] {
		if k != kinds[0] {
			return "mixed"
		}
	}
	return string(kinds[0])
}

// RequestStarted notes that request r (of kind, see RequestKind) starts
// running in environment env: for a request that needed approval, how long
// it waited for the approval that let it run.
func RequestStarted(r *rewind.Request, kind, env string) {
	if r.RequiredApprovals == 0 {
		return
	}
	for _, st := range r.Steps {
		if st.Attempts > 0 {
			return // a plan resumed: its wait was counted at its first start
		}
	}
	var at time.Time
	for _, a := range r.Approvals {
		if a.Approve && a.CreatedAt.After(at) {
			at = a.CreatedAt
		}
	}
	if at.IsZero() || at.Before(r.CreatedAt) {
		return
	}
	approvalWait.WithLabelValues(string(r.Kind), kind, env).Observe(at.Sub(r.CreatedAt).Seconds())
}

// RequestEnded notes that request r's plan ended in state (succeeded or
// failed), and how long it ran.
func RequestEnded(r *rewind.Request, kind, env string, state rewind.State) {
	result := string(state)
	requestsExecuted.WithLabelValues(string(r.Kind), kind, env, result).Inc()
	if r.StartedAt != nil && r.FinishedAt != nil && !r.FinishedAt.Before(*r.StartedAt) {
		execution.WithLabelValues(string(r.Kind), kind, env, result).Observe(r.FinishedAt.Sub(*r.StartedAt).Seconds())
	}
}

// RolloutEnded notes a rollout of a rollback on cluster that took d and
// ended with result: "succeeded", "failed" or "stopped" (Rewind stopped
// following it).
func RolloutEnded(cluster, result string, d time.Duration) {
	rollout.WithLabelValues(cluster, result).Observe(d.Seconds())
}

// WatchRestarted notes that a watch of cluster broke and starts again.
func WatchRestarted(cluster string) { watchRestarts.WithLabelValues(cluster).Inc() }

// VersionRecorded notes that the watcher of cluster recorded a version of
// a change made at changedAt.
func VersionRecorded(cluster string, changedAt time.Time) {
	if changedAt.IsZero() {
		return
	}
	watchLag.WithLabelValues(cluster).Observe(max(time.Since(changedAt).Seconds(), 0))
}

// Channels are the kinds of notification channel NotificationDelivered
// counts by name; any other counts as "other".
var Channels = []string{"email", "webhook", "dingtalk", "wecom", "feishu", "slack"}

// NotificationDelivered notes one delivery attempt of a notification
// through a channel of that kind (see Channels; never a name an admin
// chose), sent or not.
func NotificationDelivered(channel string, sent bool) {
	if !slices.Contains(Channels, channel) {
		channel = "other"
	}
	result := "sent"
	if !sent {
		result = "failed"
	}
	notifications.WithLabelValues(channel, result).Inc()
}
