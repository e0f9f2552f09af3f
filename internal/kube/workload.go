package kube

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// object is a Deployment, StatefulSet or DaemonSet.
type object interface {
	metav1.Object
	runtime.Object
}

func templateOf(o object) *corev1.PodTemplateSpec {
	switch o := o.(type) {
	case *appsv1.Deployment:
		return &o.Spec.Template
	case *appsv1.StatefulSet:
		return &o.Spec.Template
	case *appsv1.DaemonSet:
		return &o.Spec.Template
	}
	panic(fmt.Sprintf("kube: not a workload: %T", o))
}

func kindOf(o object) string {
	switch o.(type) {
	case *appsv1.Deployment:
		return Deployment
	case *appsv1.StatefulSet:
		return StatefulSet
	case *appsv1.DaemonSet:
		return DaemonSet
	}
	panic(fmt.Sprintf("kube: not a workload: %T", o))
}

// observedBy reports whether the workload's controller has seen its current
// spec, so that its status and revision describe that spec.
func observedBy(o object) bool {
	var observed int64
	switch o := o.(type) {
	case *appsv1.Deployment:
		observed = o.Status.ObservedGeneration
	case *appsv1.StatefulSet:
		observed = o.Status.ObservedGeneration
	case *appsv1.DaemonSet:
		observed = o.Status.ObservedGeneration
	}
	return observed > 0 && observed >= o.GetGeneration()
}

func paused(o object) bool {
	d, ok := o.(*appsv1.Deployment)
	return ok && d.Spec.Paused
}

func selectorOf(o object) *metav1.LabelSelector {
	switch o := o.(type) {
	case *appsv1.Deployment:
		return o.Spec.Selector
	case *appsv1.StatefulSet:
		return o.Spec.Selector
	case *appsv1.DaemonSet:
		return o.Spec.Selector
	}
	return nil
}

// ownedBy reports whether m's controller is the object with that UID.
func ownedBy(m metav1.Object, uid types.UID) bool {
	ref := metav1.GetControllerOfNoCopy(m)
	return ref != nil && ref.UID == uid
}

// historyEntry is one revision the cluster still keeps of a workload: a
// Deployment's ReplicaSet or a StatefulSet's or DaemonSet's ControllerRevision.
type historyEntry struct {
	uid         types.UID
	name        string
	revision    int64
	template    *corev1.PodTemplateSpec
	content     string
	hash        string
	changeCause string
	created     time.Time
	hashLabel   string // the controller-revision-hash of a ControllerRevision
	ready       int32  // the ready pods of a ReplicaSet
}

// normalized is a cached normalisation of a ReplicaSet's or
// ControllerRevision's template.
type normalized struct {
	generation    int64
	template      *corev1.PodTemplateSpec
	content, hash string
}

// maxNormalized bounds the cache of normalised history templates.
const maxNormalized = 4096

// normalize normalises the template of a ReplicaSet or ControllerRevision,
// reusing the result for the same object and generation: pages and rollouts
// look at the same history objects again and again.
func (w *watcher) normalize(m metav1.Object, template func() (*corev1.PodTemplateSpec, error)) (normalized, error) {
	w.mu.Lock()
	n, ok := w.normalized[m.GetUID()]
	w.mu.Unlock()
	if ok && n.generation == m.GetGeneration() {
		return n, nil
	}
	t, err := template()
	if err != nil {
		return normalized{}, err
	}
	content, hash, err := Normalize(t)
	if err != nil {
		return normalized{}, err
	}
	n = normalized{generation: m.GetGeneration(), template: t, content: content, hash: hash}
	w.mu.Lock()
	if len(w.normalized) >= maxNormalized {
		clear(w.normalized)
	}
	w.normalized[m.GetUID()] = n
	w.mu.Unlock()
	return n, nil
}

// normalizeWorkload normalises a workload's pod template, reusing the result
// while its generation, which every change of its spec raises, stays.
func (w *watcher) normalizeWorkload(o object) (content, hash string, err error) {
	n, err := w.normalize(o, func() (*corev1.PodTemplateSpec, error) { return templateOf(o).DeepCopy(), nil })
	return n.content, n.hash, err
}

// cachedHistory lists the revisions the caches hold of o, oldest first.
func (w *watcher) cachedHistory(o object) []historyEntry {
	c := w.nss[o.GetNamespace()]
	if c == nil {
		return nil
	}
	if _, ok := o.(*appsv1.Deployment); ok {
		sets, _ := c.replicaSets.List(labels.Everything())
		return w.historyOf(o, sets, nil)
	}
	revs, _ := c.revisions.List(labels.Everything())
	return w.historyOf(o, nil, revs)
}

// apiHistory lists the revisions the API server holds of o, oldest first.
func (w *watcher) apiHistory(ctx context.Context, o object) ([]historyEntry, error) {
	ns := o.GetNamespace()
	sel, err := metav1.LabelSelectorAsSelector(selectorOf(o))
	if err != nil {
		return nil, fmt.Errorf("selector of %s %s/%s: %w", kindOf(o), ns, o.GetName(), err)
	}
	opts := metav1.ListOptions{LabelSelector: sel.String()}
	if _, ok := o.(*appsv1.Deployment); ok {
		list, err := w.cs.AppsV1().ReplicaSets(ns).List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("list replica sets of %s/%s: %w", ns, o.GetName(), err)
		}
		sets := make([]*appsv1.ReplicaSet, len(list.Items))
		for i := range list.Items {
			sets[i] = &list.Items[i]
		}
		return w.historyOf(o, sets, nil), nil
	}
	list, err := w.cs.AppsV1().ControllerRevisions(ns).List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("list controller revisions of %s/%s: %w", ns, o.GetName(), err)
	}
	revs := make([]*appsv1.ControllerRevision, len(list.Items))
	for i := range list.Items {
		revs[i] = &list.Items[i]
	}
	return w.historyOf(o, nil, revs), nil
}

// historyOf makes the history entries of o from the ReplicaSets and
// ControllerRevisions it owns among sets and revs, oldest first. Objects
// whose revision or template cannot be read are left out.
func (w *watcher) historyOf(o object, sets []*appsv1.ReplicaSet, revs []*appsv1.ControllerRevision) []historyEntry {
	var out []historyEntry
	entry := func(m metav1.Object, revision int64, n normalized) historyEntry {
		return historyEntry{
			uid: m.GetUID(), name: m.GetName(), revision: revision,
			template: n.template, content: n.content, hash: n.hash,
			changeCause: m.GetAnnotations()[AnnotationChangeCause], created: m.GetCreationTimestamp().Time,
		}
	}
	for _, rs := range sets {
		if !ownedBy(rs, o.GetUID()) {
			continue
		}
		rev, err := strconv.ParseInt(rs.Annotations[annotationRevision], 10, 64)
		if err != nil {
			continue
		}
		n, err := w.normalize(rs, func() (*corev1.PodTemplateSpec, error) { return rs.Spec.Template.DeepCopy(), nil })
		if err != nil {
			w.log.Warn("skipping a replica set", "namespace", rs.Namespace, "name", rs.Name, "err", err)
			continue
		}
		e := entry(rs, rev, n)
		e.ready = rs.Status.ReadyReplicas
		out = append(out, e)
	}
	for _, cr := range revs {
		if !ownedBy(cr, o.GetUID()) {
			continue
		}
		n, err := w.normalize(cr, func() (*corev1.PodTemplateSpec, error) { return templateFromRevision(cr) })
		if err != nil {
			w.log.Warn("skipping a controller revision", "namespace", cr.Namespace, "name", cr.Name, "err", err)
			continue
		}
		e := entry(cr, cr.Revision, n)
		e.hashLabel = cr.Labels[appsv1.ControllerRevisionHashLabelKey]
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].revision < out[j].revision })
	return out
}

// newestWithHash returns the newest history entry with that template hash.
func newestWithHash(hist []historyEntry, hash string) *historyEntry {
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].hash == hash {
			return &hist[i]
		}
	}
	return nil
}

// revision returns the workload's revision number for its current template
// (with hash hash), or "" when the cluster does not tell it (yet). With
// allowAPI it asks the API server when the caches lag behind.
func (w *watcher) revision(ctx context.Context, o object, hash string, allowAPI bool) (string, error) {
	if d, ok := o.(*appsv1.Deployment); ok && observedBy(o) && !d.Spec.Paused {
		if r := d.Annotations[annotationRevision]; r != "" {
			return r, nil
		}
	}
	if h := newestWithHash(w.cachedHistory(o), hash); h != nil {
		return strconv.FormatInt(h.revision, 10), nil
	}
	if !allowAPI || !observedBy(o) {
		return "", nil
	}
	hist, err := w.apiHistory(ctx, o)
	if err != nil {
		return "", err
	}
	if h := newestWithHash(hist, hash); h != nil {
		return strconv.FormatInt(h.revision, 10), nil
	}
	return "", nil
}

// cached returns workload k from the informer cache; the object is shared
// and must not be changed.
func (w *watcher) cached(k key) (object, error) {
	c := w.nss[k.namespace]
	if c == nil {
		return nil, fmt.Errorf("namespace %s of cluster %s is not watched", k.namespace, w.cluster.Name)
	}
	switch k.kind {
	case Deployment:
		return c.deployments.Get(k.name)
	case StatefulSet:
		return c.statefulSets.Get(k.name)
	case DaemonSet:
		return c.daemonSets.Get(k.name)
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: k.kind}, k.name)
}

// get reads workload k from the API server.
func (w *watcher) get(ctx context.Context, k key) (object, error) {
	apps := w.cs.AppsV1()
	switch k.kind {
	case Deployment:
		return apps.Deployments(k.namespace).Get(ctx, k.name, metav1.GetOptions{})
	case StatefulSet:
		return apps.StatefulSets(k.namespace).Get(ctx, k.name, metav1.GetOptions{})
	case DaemonSet:
		return apps.DaemonSets(k.namespace).Get(ctx, k.name, metav1.GetOptions{})
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: k.kind}, k.name)
}

// update writes o back as Rewind's field manager. The update is refused with
// a conflict when o's resourceVersion is no longer the live one.
func (w *watcher) update(ctx context.Context, o object) (object, error) {
	apps := w.cs.AppsV1()
	opts := metav1.UpdateOptions{FieldManager: FieldManager}
	switch o := o.(type) {
	case *appsv1.Deployment:
		return apps.Deployments(o.Namespace).Update(ctx, o, opts)
	case *appsv1.StatefulSet:
		return apps.StatefulSets(o.Namespace).Update(ctx, o, opts)
	case *appsv1.DaemonSet:
		return apps.DaemonSets(o.Namespace).Update(ctx, o, opts)
	}
	return nil, fmt.Errorf("kube: not a workload: %T", o)
}
