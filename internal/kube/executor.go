package kube

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/rewindhq/rewind/internal/metrics"
	"github.com/rewindhq/rewind/internal/rewind"
)

// DefaultRolloutTimeout is how long a rollout is followed when the
// Manager's RolloutTimeout is not set.
const DefaultRolloutTimeout = 10 * time.Minute

// maxReasonInAnnotation bounds the part of a request's reason written into
// the change-cause annotation.
const maxReasonInAnnotation = 200

// expectation is a rollback the executor is writing: the recorder attributes
// the version with that hash to the request.
type expectation struct {
	hash      string
	requestID int64
	requester string
}

func (m *Manager) expect(targetID int64, e expectation) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expects[targetID] = e
}

func (m *Manager) unexpect(targetID int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.expects, targetID)
}

func (m *Manager) expected(targetID int64) (expectation, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.expects[targetID]
	return e, ok
}

func (m *Manager) rolloutTimeout() time.Duration {
	if m.RolloutTimeout > 0 {
		return m.RolloutTimeout
	}
	return DefaultRolloutTimeout
}

var (
	errGone    = rewind.Errorf(rewind.ENOTFOUND, "The service no longer exists in the cluster.")
	errPaused  = rewind.Errorf(rewind.ECONFLICT, "The deployment is paused; resume it first.")
	errCurrent = rewind.Errorf(rewind.EINVALID, "The service already runs this version.")
)

// check reads the live workload of t and tells whether bringing back version
// v can start: the workload exists, is not paused and runs another version.
func (m *Manager) check(ctx context.Context, t *rewind.Target, v *rewind.Version) (w *watcher, o object, hash string, err error) {
	if w, err = m.watcherFor(t); err != nil {
		return nil, nil, "", err
	}
	if v == nil || v.TargetID != t.ID {
		return nil, nil, "", rewind.Errorf(rewind.EINVALID, "Choose a version of this service to roll back to.")
	}
	o, err = w.get(ctx, keyOf(t))
	if apierrors.IsNotFound(err) {
		return nil, nil, "", errGone
	}
	if err != nil {
		return nil, nil, "", w.unreachable(err)
	}
	if paused(o) {
		return nil, nil, "", errPaused
	}
	if _, hash, err = w.normalizeWorkload(o); err != nil {
		return nil, nil, "", err
	}
	if hash == v.Hash {
		return nil, nil, "", errCurrent
	}
	return w, o, hash, nil
}

// Preflight checks, when a rollback request is made, that service t can be
// brought back to version v, and returns the workload's resourceVersion,
// which the request keeps as what the requester saw (Step.Expected).
func (m *Manager) Preflight(ctx context.Context, t *rewind.Target, v *rewind.Version) (expected string, err error) {
	_, o, _, err := m.check(ctx, t, v)
	if err != nil {
		return "", err
	}
	return o.GetResourceVersion(), nil
}

// Check tells whether service t can be brought back to version v now (not
// deleted, not paused, not already running v), for example before approving.
func (m *Manager) Check(ctx context.Context, t *rewind.Target, v *rewind.Version) error {
	_, _, _, err := m.check(ctx, t, v)
	return err
}

// Execute brings service t back to version v for request r: it writes v's
// pod template into the workload, provided the workload is still as the
// requester saw it, then follows the rollout until it completes, fails or
// times out. It implements rewind.Executor. When ctx ends first, the error
// wraps ctx's error and the request is left to Reconcile.
//
// The update carries st.Expected as resourceVersion, so that the API server
// refuses it (409 Conflict) when the workload changed since the request.
// Only when the workload still runs the version the requester saw
// (st.BaseVersionID) is the live resourceVersion used instead: then what
// changed is only status or other fields outside the pod template, such as
// the replica counts of crash-looping pods.
func (m *Manager) Execute(ctx context.Context, r *rewind.Request, st *rewind.Step, t *rewind.Target, v *rewind.Version, progress func(string)) (string, error) {
	if progress == nil {
		progress = func(string) {}
	}
	start := time.Now()
	w, o, hash, err := m.check(ctx, t, v)
	if err != nil {
		return rewind.ErrorMessage(err) + " Nothing was changed.", err
	}
	if st.Expected == "" {
		err := rewind.Errorf(rewind.EINVALID, "The request does not say which state of the service it was made for; nothing was changed. Make a new request.")
		return err.Message, err
	}
	tmpl, err := ParseTemplate(v.Content)
	if err != nil {
		err := rewind.Errorf(rewind.EINTERNAL, "Version %d of %s cannot be read back as a pod template; nothing was changed.", v.Number, t.Label())
		return err.Message, err
	}
	*templateOf(o) = *tmpl
	ann := maps.Clone(o.GetAnnotations())
	if ann == nil {
		ann = map[string]string{}
	}
	ann[AnnotationChangeCause] = changeCause(r, v)
	ann[AnnotationRequest] = strconv.FormatInt(r.ID, 10)
	o.SetAnnotations(ann)
	if o.GetResourceVersion() != st.Expected && !m.runsBaseVersion(ctx, r, st, t, hash) {
		o.SetResourceVersion(st.Expected)
	}

	m.expect(t.ID, expectation{hash: v.Hash, requestID: r.ID, requester: r.Requester})
	defer m.unexpect(t.ID)
	updated, err := w.update(ctx, o)
	if err != nil {
		err := m.updateError(ctx, w, t, err)
		return err.Message, err
	}
	m.log.Info("rollback applied", "service", t.Label(), "request", r.ID, "version", v.Number, "took", time.Since(start))
	progress("The service's pod template is replaced; the rollout starts.")
	return m.follow(ctx, w, t, v, updated.GetGeneration(), rewindUpdateTime(updated.GetManagedFields()), progress)
}

// runsBaseVersion reports whether the live template (with hash hash) is the
// version the requester saw when making r.
func (m *Manager) runsBaseVersion(ctx context.Context, r *rewind.Request, st *rewind.Step, t *rewind.Target, hash string) bool {
	if st.BaseVersionID == 0 {
		return false
	}
	base, err := m.store.Version(ctx, st.BaseVersionID)
	return err == nil && base.TargetID == t.ID && base.Hash == hash
}

// changeCause is the change-cause annotation of a rollback.
func changeCause(r *rewind.Request, v *rewind.Version) string {
	reason := strings.Join(strings.Fields(r.Reason), " ")
	if utf8.RuneCountInString(reason) > maxReasonInAnnotation {
		reason = string([]rune(reason)[:maxReasonInAnnotation-1]) + "…"
	}
	return fmt.Sprintf("rewind: rollback to %s by %s (request #%d): %s", versionName(v), r.Requester, r.ID, reason)
}

// versionName names a version by its revision when it has one.
func versionName(v *rewind.Version) string {
	if v.Revision != "" {
		return "revision " + v.Revision
	}
	return fmt.Sprintf("version %d", v.Number)
}

// updateError turns a failed update into an error that says what changed:
// nothing, when the API server refused it.
func (m *Manager) updateError(ctx context.Context, w *watcher, t *rewind.Target, err error) *rewind.Error {
	switch {
	case apierrors.IsConflict(err):
		now := ""
		if o, gerr := w.get(ctx, keyOf(t)); gerr == nil {
			if _, hash, nerr := w.normalizeWorkload(o); nerr == nil {
				if rev, _ := w.revision(ctx, o, hash, true); rev != "" {
					now = " (now revision " + rev + ")"
				}
			}
		}
		return rewind.Errorf(rewind.ECONFLICT, "Someone changed %s since the request was made%s; nothing was changed. Look at its latest version and make a new request if the rollback is still needed.", t.Label(), now)
	case apierrors.IsNotFound(err):
		return errGone
	case apierrors.IsForbidden(err):
		return rewind.Errorf(rewind.EFORBIDDEN, "Rewind's credentials for cluster %s may not update %s; nothing was changed.", w.cluster.Name, t.Label())
	case apierrors.IsInvalid(err):
		return rewind.Errorf(rewind.EINVALID, "The cluster refused the old pod template of %s; nothing was changed. It says: %s", t.Label(), apiMessage(err))
	}
	return rewind.Errorf(rewind.EUNAVAILABLE, "Updating %s failed, and Rewind cannot tell whether the cluster applied the change: look at the service's latest version. %s",
		t.Label(), rewind.ErrorMessage(w.unreachable(err)))
}

func apiMessage(err error) string {
	var s apierrors.APIStatus
	if errors.As(err, &s) {
		return s.Status().Message
	}
	return "unknown error"
}

// Follow follows the rollout of a rollback found running (Reconcile
// returned StateRunning) until it completes, fails or times out, like the
// end of Execute.
func (m *Manager) Follow(ctx context.Context, r *rewind.Request, st *rewind.Step, t *rewind.Target, v *rewind.Version, progress func(string)) (string, error) {
	if progress == nil {
		progress = func(string) {}
	}
	w, err := m.watcherFor(t)
	if err != nil {
		return rewind.ErrorMessage(err), err
	}
	o, err := w.get(ctx, keyOf(t))
	if apierrors.IsNotFound(err) {
		return "The service no longer exists in the cluster.", errGone
	}
	if err != nil {
		err := w.unreachable(err)
		return err.Message, err
	}
	return m.follow(ctx, w, t, v, o.GetGeneration(), rewindUpdateTime(o.GetManagedFields()), progress)
}

// follow waits, on the watcher's informer events, until the rollout of
// version v (written at generation gen) completes, fails or times out. It
// records the version once the controller has numbered it.
func (m *Manager) follow(ctx context.Context, w *watcher, t *rewind.Target, v *rewind.Version, gen int64, since time.Time, progress func(string)) (outcome string, err error) {
	start := since
	if start.IsZero() {
		start = time.Now()
	}
	defer func() {
		result := "succeeded"
		switch {
		case ctx.Err() != nil:
			result = "stopped"
		case err != nil:
			result = "failed"
		}
		metrics.RolloutEnded(w.cluster.Name, result, time.Since(start))
	}()
	k := keyOf(t)
	changed, unsubscribe := w.subscribe(k.namespace)
	defer unsubscribe()
	timeout := m.rolloutTimeout()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	stopped := func() (string, error) {
		return "Rewind stopped following the rollout before it finished.", fmt.Errorf("follow rollout of %s: %w", t.Label(), ctx.Err())
	}
	select {
	case <-w.syncedCh:
	case <-ctx.Done():
		return stopped()
	case <-timer.C:
		err := rewind.Errorf(rewind.EINTERNAL, "Rewind could not watch cluster %s within %v to follow the rollout.", w.cluster.Name, timeout)
		return err.Message, err
	}
	f := &follower{w: w, t: t, v: v, gen: gen, since: since}
	last := ""
	// A Deployment that makes no progress within its progress deadline has
	// failed, also when its controller does not say so: it does not after a
	// rollback to an old ReplicaSet whose rollout stalls at once.
	var stall *time.Timer
	var stalled <-chan time.Time
	lastCounts := ""
	defer func() {
		if stall != nil {
			stall.Stop()
		}
	}()
	for {
		msg, outcome, done, err := f.step(ctx)
		if done {
			return outcome, err
		}
		if msg != last {
			progress(msg)
			last = msg
		}
		if f.deadline > 0 {
			if counts := f.ro.counts(); stall == nil || counts != lastCounts {
				lastCounts = counts
				if stall == nil {
					stall = time.NewTimer(f.deadline + stallGrace)
					stalled = stall.C
				} else {
					stall.Reset(f.deadline + stallGrace)
				}
			}
		}
		select {
		case <-changed:
		case <-stalled:
			text := fmt.Sprintf("Rollout failed: the deployment made no progress within its deadline of %v", f.deadline)
			if f.ro.waiting != "" {
				text += " (" + f.ro.waiting + ")"
			}
			text += "; " + f.ro.state()
			return text, rewind.Errorf(rewind.EINTERNAL, "%s", text)
		case <-timer.C:
			text := fmt.Sprintf("The rollout did not finish within %v: %s.", timeout, msg)
			if f.ro.phase != "" {
				text = fmt.Sprintf("The rollout did not finish within %v (%s); %s", timeout, f.ro.progress(), f.ro.state())
			}
			return text, rewind.Errorf(rewind.EINTERNAL, "%s", text)
		case <-ctx.Done():
			return stopped()
		}
	}
}

// follower follows one rollout.
type follower struct {
	w        *watcher
	t        *rewind.Target
	v        *rewind.Version
	gen      int64         // the workload's generation with the rollback's template
	since    time.Time     // when Rewind wrote it, by the cluster's clock
	deadline time.Duration // a Deployment's progress deadline, if it has one
	recorded *rewind.Version
	ro       rollout
}

// step looks at the cached workload once. It returns the progress in words,
// or done with the outcome when the rollout has ended.
func (f *follower) step(ctx context.Context) (msg, outcome string, done bool, err error) {
	o, err := f.w.cached(keyOf(f.t))
	if apierrors.IsNotFound(err) {
		return "", "The service was deleted during the rollout.", true, errGone
	}
	if err != nil {
		err := rewind.Errorf(rewind.EINTERNAL, "Following the rollout of %s failed: %v", f.t.Label(), err)
		return "", err.Message, true, err
	}
	if o.GetGeneration() < f.gen {
		return "Waiting for the cluster to report the change.", "", false, nil
	}
	f.deadline = progressDeadline(o)
	content, hash, err := f.w.normalizeWorkload(o)
	if err != nil {
		return "", err.Error(), true, err
	}
	if hash != f.v.Hash {
		err := rewind.Errorf(rewind.ECONFLICT, "Someone changed %s during the rollout; it no longer runs the rollback's template, and Rewind stopped following it.", f.t.Label())
		return "", err.Message, true, err
	}
	if f.recorded == nil && (observedBy(o) || paused(o)) {
		if f.recorded, err = f.w.record(ctx, f.t, o, content, hash); err != nil {
			f.w.log.Error("recording the rollback's version", "service", f.t.Label(), "err", err)
		}
	}
	f.ro = f.w.evaluate(o, hash, f.since)
	switch f.ro.phase {
	case PhaseComplete:
		now := ""
		if f.recorded != nil {
			now = f.recorded.Revision
		}
		return "", successOutcome(f.v, now, f.ro), true, nil
	case PhaseFailed:
		err := rewind.Errorf(rewind.EINTERNAL, "Rollout failed: %s; %s", f.ro.message, f.ro.state())
		return "", err.Message, true, err
	case PhasePaused:
		err := rewind.Errorf(rewind.ECONFLICT, "Someone paused the deployment during the rollout; %s", f.ro.state())
		return "", err.Message, true, err
	}
	return f.ro.message, "", false, nil
}

// stallGrace is how much longer than a Deployment's progress deadline Rewind
// waits for progress before it declares the rollout failed itself, so that
// the controller's own ProgressDeadlineExceeded comes first when it comes.
const stallGrace = 2 * time.Second

// progressDeadline returns a Deployment's progress deadline, or 0.
func progressDeadline(o object) time.Duration {
	d, ok := o.(*appsv1.Deployment)
	if !ok || d.Spec.ProgressDeadlineSeconds == nil || *d.Spec.ProgressDeadlineSeconds == math.MaxInt32 {
		return 0
	}
	return time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second
}

// successOutcome says what a completed rollback left.
func successOutcome(v *rewind.Version, now string, ro rollout) string {
	s := "Rolled back to " + versionName(v)
	if now != "" && now != v.Revision {
		s += " (now revision " + now + ")"
	}
	s += fmt.Sprintf("; %d/%d %s ready.", ro.ready, ro.desired, ro.pods)
	if ro.note != "" {
		s += " Note: " + ro.note + "."
	}
	return s
}

// record records o's current template (content, hash) as a version now.
func (w *watcher) record(ctx context.Context, t *rewind.Target, o object, content, hash string) (*rewind.Version, error) {
	v, err := w.version(ctx, t, o, content, hash, true)
	if err != nil {
		return nil, err
	}
	got, _, err := w.m.store.RecordVersion(ctx, v)
	return got, err
}

// Reconcile decides the end of a rollback request found running when Rewind
// starts, from the service's live state: succeeded or failed when its rollout
// has ended, StateRunning when it still goes (then call Follow). It
// implements rewind.Executor. An error means the cluster could not be read.
func (m *Manager) Reconcile(ctx context.Context, r *rewind.Request, st *rewind.Step, t *rewind.Target, v *rewind.Version) (rewind.StepState, string, error) {
	w, err := m.watcherFor(t)
	if err != nil {
		return "", "", err
	}
	o, err := w.get(ctx, keyOf(t))
	if apierrors.IsNotFound(err) {
		return rewind.StepFailed, "The service no longer exists in the cluster.", nil
	}
	if err != nil {
		return "", "", w.unreachable(err)
	}
	if v == nil {
		return rewind.StepFailed, "The request names no version to roll back to; nothing was changed.", nil
	}
	content, hash, err := w.normalizeWorkload(o)
	if err != nil {
		return "", "", err
	}
	if hash != v.Hash {
		now := ""
		if rev, _ := w.revision(ctx, o, hash, true); rev != "" {
			now = " (revision " + rev + ")"
		}
		if o.GetAnnotations()[AnnotationRequest] == strconv.FormatInt(r.ID, 10) {
			return rewind.StepFailed, fmt.Sprintf("The rollback was applied, but %s was changed since; it now runs another template%s.", t.Label(), now), nil
		}
		return rewind.StepFailed, fmt.Sprintf("Rewind stopped before the rollback was applied; %s runs another template%s. Nothing was changed.", t.Label(), now), nil
	}
	select {
	case <-w.syncedCh:
	case <-ctx.Done():
		return "", "", fmt.Errorf("reconcile request %d: %w", r.ID, ctx.Err())
	}
	recorded := ""
	if observedBy(o) {
		got, err := w.record(ctx, t, o, content, hash)
		if err != nil {
			return "", "", fmt.Errorf("reconcile request %d: %w", r.ID, err)
		}
		recorded = got.Revision
	}
	ro := w.evaluate(o, hash, rewindUpdateTime(o.GetManagedFields()))
	switch ro.phase {
	case PhaseComplete:
		return rewind.StepSucceeded, successOutcome(v, recorded, ro), nil
	case PhaseFailed:
		return rewind.StepFailed, fmt.Sprintf("Rollout failed: %s; %s", ro.message, ro.state()), nil
	case PhasePaused:
		return rewind.StepFailed, "Someone paused the deployment during the rollout; " + ro.state(), nil
	}
	return rewind.StepRunning, ro.message, nil
}

// unreachable turns a failed API call into an error safe to show.
func (w *watcher) unreachable(err error) *rewind.Error {
	return rewind.Errorf(rewind.EUNAVAILABLE, "Cannot reach cluster %s: %s", w.cluster.Name, redactErr(err, w.cluster.Kubeconfig, secrets(w.cfg)...))
}

var _ rewind.Executor = (*Manager)(nil)
