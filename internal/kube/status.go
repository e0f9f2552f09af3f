package kube

import (
	"context"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/rewindhq/rewind/internal/rewind"
)

// maxEvents is how many recent events a RolloutStatus holds.
const maxEvents = 10

// RolloutStatus, Condition and Event are the domain's view of a rollout.
type (
	RolloutStatus = rewind.RolloutStatus
	Condition     = rewind.Condition
	Event         = rewind.Event
)

// Status returns the live state of service t from the watch's caches.
func (m *Manager) Status(ctx context.Context, t *rewind.Target) (*RolloutStatus, error) {
	w, err := m.watcherFor(t)
	if err != nil {
		return nil, err
	}
	if !w.synced.Load() {
		return nil, rewind.Errorf(rewind.EUNAVAILABLE, "Rewind is still connecting to cluster %s.", w.cluster.Name)
	}
	o, err := w.cached(keyOf(t))
	if apierrors.IsNotFound(err) {
		return nil, errGone
	}
	if err != nil {
		return nil, rewind.Errorf(rewind.EINVALID, "Namespace %s of cluster %s is not watched.", t.Namespace, w.cluster.Name)
	}
	_, hash, err := w.normalizeWorkload(o)
	if err != nil {
		return nil, err
	}
	ro := w.evaluate(o, hash, time.Time{})
	s := &RolloutStatus{
		Phase:      ro.phase,
		Message:    ro.message,
		Images:     Images(templateOf(o)),
		Desired:    ro.desired,
		Updated:    ro.updated,
		Ready:      ro.ready,
		Available:  ro.available,
		Generation: o.GetGeneration(),
	}
	if s.Revision, err = w.revision(ctx, o, hash, false); err != nil {
		return nil, err
	}
	switch o := o.(type) {
	case *appsv1.Deployment:
		s.ObservedGeneration = o.Status.ObservedGeneration
		for _, c := range o.Status.Conditions {
			s.Conditions = append(s.Conditions, Condition{Type: string(c.Type), Status: string(c.Status), Reason: c.Reason, Message: c.Message, LastTransition: c.LastTransitionTime.Time})
		}
	case *appsv1.StatefulSet:
		s.ObservedGeneration = o.Status.ObservedGeneration
		for _, c := range o.Status.Conditions {
			s.Conditions = append(s.Conditions, Condition{Type: string(c.Type), Status: string(c.Status), Reason: c.Reason, Message: c.Message, LastTransition: c.LastTransitionTime.Time})
		}
	case *appsv1.DaemonSet:
		s.ObservedGeneration = o.Status.ObservedGeneration
		for _, c := range o.Status.Conditions {
			s.Conditions = append(s.Conditions, Condition{Type: string(c.Type), Status: string(c.Status), Reason: c.Reason, Message: c.Message, LastTransition: c.LastTransitionTime.Time})
		}
	}
	s.Events = w.events(o)
	return s, nil
}

// events returns the latest events about o, its ReplicaSets and its pods.
func (w *watcher) events(o object) []Event {
	c := w.nss[o.GetNamespace()]
	if c == nil {
		return nil
	}
	keys := []string{kindOf(o) + "/" + o.GetName(), "pods-of/" + o.GetName()}
	if _, ok := o.(*appsv1.Deployment); ok {
		sets, _ := c.replicaSets.List(labels.Everything())
		for _, rs := range sets {
			if ownedBy(rs, o.GetUID()) {
				keys = append(keys, "ReplicaSet/"+rs.Name, "pods-of/"+rs.Name)
			}
		}
	}
	seen := map[string]bool{}
	var out []Event
	for _, k := range keys {
		items, _ := c.events.ByIndex(eventIndex, k)
		for _, it := range items {
			e, ok := it.(*corev1.Event)
			if !ok || seen[string(e.UID)] {
				continue
			}
			seen[string(e.UID)] = true
			out = append(out, Event{
				Time:    eventTime(e),
				Type:    e.Type,
				Reason:  e.Reason,
				Object:  e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name,
				Message: e.Message,
				Count:   e.Count,
			})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	if len(out) > maxEvents {
		out = out[:maxEvents]
	}
	return out
}

// eventTime is when an event last happened.
func eventTime(e *corev1.Event) time.Time {
	t := e.LastTimestamp.Time
	if e.Series != nil && e.Series.LastObservedTime.After(t) {
		t = e.Series.LastObservedTime.Time
	}
	if e.EventTime.After(t) {
		t = e.EventTime.Time
	}
	if t.IsZero() {
		t = e.CreationTimestamp.Time
	}
	return t
}
