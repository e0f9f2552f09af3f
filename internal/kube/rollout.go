package kube

import (
	"fmt"
	"github.com/rewindhq/rewind/internal/rewind"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// Phase is where a rollout stands.
type Phase = rewind.Phase

// The phases of a rollout.
const (
	PhaseProgressing = rewind.PhaseProgressing
	PhaseComplete    = rewind.PhaseComplete
	PhaseFailed      = rewind.PhaseFailed
	PhasePaused      = rewind.PhasePaused
)

// rollout is the state of a workload's rollout of its current template.
type rollout struct {
	phase                              Phase
	message                            string // progress, or why the rollout failed
	desired, updated, ready, available int32
	oldServing                         int32  // ready pods of older templates
	pods                               string // "replicas" or "pods"
	note                               string // said of a complete rollout
	waiting                            string // why a new pod is not ready yet, if known
	// created counts the pods with the current template as the pod cache
	// has them, which may be ahead of the controller's status; it only
	// serves to say what runs after a failure.
	created int32
}

// progressDeadlineExceeded is the reason of a Deployment's Progressing
// condition when the rollout made no progress within its deadline.
const progressDeadlineExceeded = "ProgressDeadlineExceeded"

// Waiting reasons of containers that a rollout does not get over by itself.
var stuckReasons = map[string]bool{
	"CrashLoopBackOff":           true,
	"ErrImagePull":               true,
	"ImagePullBackOff":           true,
	"InvalidImageName":           true,
	"CreateContainerConfigError": true,
}

// counts identifies the rollout's progress: it changes when the rollout moves.
func (r rollout) counts() string {
	return fmt.Sprint(r.updated, r.ready, r.available, r.oldServing)
}

func (r rollout) progress() string {
	return fmt.Sprintf("%d of %d updated, %d ready, %d available", r.updated, r.desired, r.ready, r.available)
}

// state says in words what runs after a rollout stopped short.
func (r rollout) state() string {
	s := fmt.Sprintf("the service runs the new template with %d of %d %s updated; ", max(r.updated, r.created), r.desired, r.pods)
	switch r.oldServing {
	case 0:
		return s + "no pod of an older version is serving."
	case 1:
		return s + "the old version is still serving 1 " + singular(r.pods) + "."
	}
	return s + fmt.Sprintf("the old version is still serving %d %s.", r.oldServing, r.pods)
}

func singular(s string) string { return s[:len(s)-1] }

// evaluate tells how the rollout of o's current template (hash) goes, like
// kubectl rollout status, and also fails it when a new pod is stuck pulling
// its image or crash-looping. A Deployment's ProgressDeadlineExceeded
// condition counts only when set after since (when Rewind changed it, by the
// cluster's clock), so that a condition left from an earlier rollout does not.
func (w *watcher) evaluate(o object, hash string, since time.Time) rollout {
	switch o := o.(type) {
	case *appsv1.Deployment:
		return w.deploymentRollout(o, hash, since)
	case *appsv1.StatefulSet:
		return w.statefulSetRollout(o)
	case *appsv1.DaemonSet:
		return w.daemonSetRollout(o, hash)
	}
	return rollout{phase: PhaseFailed, message: fmt.Sprintf("unknown workload %T", o)}
}

func replicas(n *int32) int32 {
	if n == nil {
		return 1
	}
	return *n
}

func (w *watcher) deploymentRollout(d *appsv1.Deployment, hash string, since time.Time) rollout {
	r := rollout{
		desired:   replicas(d.Spec.Replicas),
		updated:   d.Status.UpdatedReplicas,
		ready:     d.Status.ReadyReplicas,
		available: d.Status.AvailableReplicas,
		pods:      "replicas",
	}
	// The ReplicaSet with the current template is the new one; the others
	// are older versions.
	var newRS types.UID
	hist := w.cachedHistory(d)
	for _, h := range hist {
		if h.hash == hash && newRS == "" {
			newRS = h.uid
			continue
		}
		r.oldServing += h.ready
	}
	if d.Spec.Paused {
		r.phase, r.message = PhasePaused, "The deployment is paused."
		return r
	}
	if !observedBy(d) {
		r.phase, r.message = PhaseProgressing, "Waiting for the deployment controller to see the change."
		return r
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == progressDeadlineExceeded &&
			(since.IsZero() || c.LastUpdateTime.After(since)) {
			deadline := int32(600)
			if d.Spec.ProgressDeadlineSeconds != nil {
				deadline = *d.Spec.ProgressDeadlineSeconds
			}
			r.phase = PhaseFailed
			r.message = fmt.Sprintf("the deployment made no progress within its deadline of %ds (%s: %s)", deadline, c.Reason, c.Message)
			return r
		}
	}
	if newRS != "" {
		isNew := func(p *corev1.Pod) bool { return ownedBy(p, newRS) }
		r.created = w.countPods(d.Namespace, isNew)
		if msg := w.stuckPod(d.Namespace, isNew); msg != "" {
			r.phase, r.message = PhaseFailed, msg
			return r
		}
		r.waiting = w.waitingPod(d.Namespace, isNew)
	}
	r.phase, r.message = PhaseProgressing, r.progress()
	switch {
	case r.updated < r.desired:
	case d.Status.Replicas > r.updated:
		r.message += fmt.Sprintf(", %d old pending termination", d.Status.Replicas-r.updated)
	case r.available < r.updated:
	default:
		r.phase = PhaseComplete
	}
	return r
}

func (w *watcher) statefulSetRollout(s *appsv1.StatefulSet) rollout {
	r := rollout{
		desired:   replicas(s.Spec.Replicas),
		updated:   s.Status.UpdatedReplicas,
		ready:     s.Status.ReadyReplicas,
		available: s.Status.AvailableReplicas,
		pods:      "replicas",
	}
	if !observedBy(s) {
		r.phase, r.message = PhaseProgressing, "Waiting for the statefulset controller to see the change."
		return r
	}
	rev := s.Status.UpdateRevision
	r.oldServing = w.readyPodsExcept(s.Namespace, s.UID, rev)
	if s.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		r.phase, r.message = PhaseComplete, r.progress()
		r.note = "the update strategy is OnDelete, so pods take the template only when they are deleted"
		return r
	}
	if msg := w.stuckPod(s.Namespace, func(p *corev1.Pod) bool {
		return ownedBy(p, s.UID) && p.Labels[appsv1.StatefulSetRevisionLabel] == rev
	}); msg != "" {
		r.phase, r.message = PhaseFailed, msg
		return r
	}
	var partition int32
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		partition = *ru.Partition
	}
	r.phase, r.message = PhaseProgressing, r.progress()
	switch {
	case r.ready < r.desired:
	case r.updated < r.desired-partition:
	default:
		r.phase = PhaseComplete
		if partition > 0 {
			r.note = fmt.Sprintf("the partition of %d keeps the pods below it at the older template", partition)
		}
	}
	return r
}

func (w *watcher) daemonSetRollout(d *appsv1.DaemonSet, hash string) rollout {
	r := rollout{
		desired:   d.Status.DesiredNumberScheduled,
		updated:   d.Status.UpdatedNumberScheduled,
		ready:     d.Status.NumberReady,
		available: d.Status.NumberAvailable,
		pods:      "pods",
	}
	if !observedBy(d) {
		r.phase, r.message = PhaseProgressing, "Waiting for the daemonset controller to see the change."
		return r
	}
	// The pods of the current template carry its ControllerRevision's hash label.
	revLabel := ""
	hist := w.cachedHistory(d)
	if h := newestWithHash(hist, hash); h != nil {
		revLabel = h.hashLabel
	}
	if revLabel != "" {
		r.oldServing = w.readyPodsExcept(d.Namespace, d.UID, revLabel)
	}
	if d.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType {
		r.phase, r.message = PhaseComplete, r.progress()
		r.note = "the update strategy is OnDelete, so pods take the template only when they are deleted"
		return r
	}
	if revLabel != "" {
		if msg := w.stuckPod(d.Namespace, func(p *corev1.Pod) bool {
			return ownedBy(p, d.UID) && p.Labels[appsv1.ControllerRevisionHashLabelKey] == revLabel
		}); msg != "" {
			r.phase, r.message = PhaseFailed, msg
			return r
		}
	}
	r.phase, r.message = PhaseProgressing, r.progress()
	if r.updated >= r.desired && r.available >= r.desired {
		r.phase = PhaseComplete
	}
	return r
}

// readyPodsExcept counts the ready pods of owner whose revision label is not rev.
func (w *watcher) readyPodsExcept(ns string, owner types.UID, rev string) int32 {
	c := w.nss[ns]
	if c == nil {
		return 0
	}
	pods, _ := c.pods.List(labels.Everything())
	var n int32
	for _, p := range pods {
		if ownedBy(p, owner) && p.Labels[appsv1.ControllerRevisionHashLabelKey] != rev && podReady(p) {
			n++
		}
	}
	return n
}

func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// stuckPod describes the first pod (by name) chosen by match whose container
// waits for a reason the rollout does not get over by itself, or "".
func (w *watcher) stuckPod(ns string, match func(*corev1.Pod) bool) string {
	c := w.nss[ns]
	if c == nil {
		return ""
	}
	pods, _ := c.pods.List(labels.Everything())
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	for _, p := range pods {
		if p.DeletionTimestamp != nil || !match(p) {
			continue
		}
		if msg := podProblem(p); msg != "" {
			return msg
		}
	}
	return ""
}

// countPods counts the pods chosen by match that are not being deleted.
func (w *watcher) countPods(ns string, match func(*corev1.Pod) bool) int32 {
	c := w.nss[ns]
	if c == nil {
		return 0
	}
	pods, _ := c.pods.List(labels.Everything())
	var n int32
	for _, p := range pods {
		if p.DeletionTimestamp == nil && match(p) {
			n++
		}
	}
	return n
}

// waitingPod describes why the first pod (by name) chosen by match is not
// ready yet, when the cluster says: it cannot be scheduled, or a container
// waits. It returns "" when all are ready or none says why.
func (w *watcher) waitingPod(ns string, match func(*corev1.Pod) bool) string {
	c := w.nss[ns]
	if c == nil {
		return ""
	}
	pods, _ := c.pods.List(labels.Everything())
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	for _, p := range pods {
		if p.DeletionTimestamp != nil || !match(p) || podReady(p) {
			continue
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse {
				return fmt.Sprintf("pod %s cannot be scheduled: %s", p.Name, cond.Message)
			}
		}
		for _, s := range p.Status.ContainerStatuses {
			if s.State.Waiting != nil && s.State.Waiting.Reason != "" {
				return fmt.Sprintf("pod %s waits: %s", p.Name, s.State.Waiting.Reason)
			}
		}
	}
	return ""
}

// podProblem describes why a pod cannot become ready by itself, or "".
func podProblem(p *corev1.Pod) string {
	images := map[string]string{}
	for _, c := range p.Spec.InitContainers {
		images[c.Name] = c.Image
	}
	for _, c := range p.Spec.Containers {
		images[c.Name] = c.Image
	}
	statuses := append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	for _, s := range statuses {
		if s.State.Waiting == nil || !stuckReasons[s.State.Waiting.Reason] {
			continue
		}
		image := images[s.Name]
		if image == "" {
			image = s.Image
		}
		switch reason := s.State.Waiting.Reason; reason {
		case "ErrImagePull", "ImagePullBackOff", "InvalidImageName":
			return fmt.Sprintf("pod %s %s for image %s", p.Name, reason, image)
		default:
			return fmt.Sprintf("pod %s %s in container %s (image %s)", p.Name, reason, s.Name, image)
		}
	}
	return ""
}
