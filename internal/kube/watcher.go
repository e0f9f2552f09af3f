package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/rewindhq/rewind/internal/metrics"
	"github.com/rewindhq/rewind/internal/rewind"
)

const (
	resyncPeriod = 10 * time.Minute
	workers      = 2
	// How long the recorder waits for a controller to observe a template
	// change (and so to number its revision) before recording it anyway.
	maxObserveWait = time.Minute
	observeRetry   = 2 * time.Second
	// eventIndex indexes events by the object they are about, and events of
	// pods also by the name of the pods' parent (the name without its last
	// "-suffix": a ReplicaSet, a StatefulSet or a DaemonSet).
	eventIndex = "involved"
)

// errWaiting says a workload's change waits for its controller to observe it.
var errWaiting = errors.New("waiting for the controller")

// watcher records the service versions of one cluster and keeps the caches
// that rollouts and status pages read.
type watcher struct {
	m       *Manager
	cluster *rewind.Cluster
	cfg     *rest.Config
	cs      kubernetes.Interface
	log     *slog.Logger
	err     error // the cluster could not be set up; nothing else is set

	nss   map[string]*nsCache
	queue workqueue.TypedRateLimitingInterface[key]

	cancel   context.CancelFunc
	done     chan struct{} // closed when run returns
	syncedCh chan struct{} // closed when the caches have synced
	ready    chan struct{} // closed when the first pass over all workloads is done
	synced   atomic.Bool

	mu         sync.Mutex
	pending    map[key]bool
	states     map[key]*workloadState
	subs       map[string]map[chan struct{}]bool // followers by namespace
	normalized map[types.UID]normalized
}

// workloadState is what the recorder remembers of one workload.
type workloadState struct {
	target       *rewind.Target
	hash         string // of the last version recorded or found recorded
	waitingSince time.Time
}

// nsCache holds the informers of one watched namespace.
type nsCache struct {
	factory      informers.SharedInformerFactory
	deployments  appslisters.DeploymentNamespaceLister
	statefulSets appslisters.StatefulSetNamespaceLister
	daemonSets   appslisters.DaemonSetNamespaceLister
	replicaSets  appslisters.ReplicaSetNamespaceLister
	revisions    appslisters.ControllerRevisionNamespaceLister
	pods         corelisters.PodNamespaceLister
	events       cache.Indexer
}

// newWatcher prepares the watcher of cluster c; run starts it.
func newWatcher(m *Manager, c *rewind.Cluster) *watcher {
	w := &watcher{
		m:        m,
		cluster:  c,
		log:      m.log.With("cluster", c.Name),
		nss:      map[string]*nsCache{},
		done:     make(chan struct{}),
		syncedCh: make(chan struct{}),
		ready:    make(chan struct{}),
		pending:  map[key]bool{},
		states:   map[key]*workloadState{},
		subs:     map[string]map[chan struct{}]bool{},

		normalized: map[types.UID]normalized{},
	}
	cfg, err := RestConfig(c, m.dataDir)
	if err == nil {
		w.cfg = cfg
		w.cs, err = kubernetes.NewForConfig(cfg)
		if err != nil {
			err = rewind.Errorf(rewind.EINVALID, "Cluster %s: %s", c.Name, redactErr(err, c.Kubeconfig, secrets(cfg)...))
		}
	}
	if err != nil {
		w.err = err
		close(w.done)
		return w
	}
	w.queue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[key](),
		workqueue.TypedRateLimitingQueueConfig[key]{Name: "rewind-" + c.Name})
	for _, ns := range c.Namespaces {
		w.nss[ns] = w.newNamespaceCache(ns)
	}
	return w
}

func (w *watcher) newNamespaceCache(ns string) *nsCache {
	f := informers.NewSharedInformerFactoryWithOptions(w.cs, resyncPeriod,
		informers.WithNamespace(ns), informers.WithTransform(dropManagedFields))
	apps, core := f.Apps().V1(), f.Core().V1()
	c := &nsCache{
		factory:      f,
		deployments:  apps.Deployments().Lister().Deployments(ns),
		statefulSets: apps.StatefulSets().Lister().StatefulSets(ns),
		daemonSets:   apps.DaemonSets().Lister().DaemonSets(ns),
		replicaSets:  apps.ReplicaSets().Lister().ReplicaSets(ns),
		revisions:    apps.ControllerRevisions().Lister().ControllerRevisions(ns),
		pods:         core.Pods().Lister().Pods(ns),
	}
	events := core.Events().Informer()
	// Indexers can only be added before the informer starts, which it has not.
	_ = events.AddIndexers(cache.Indexers{eventIndex: indexEvent})
	c.events = events.GetIndexer()

	workload := func(kind string) cache.ResourceEventHandler {
		enqueue := func(obj any) {
			if k, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				if _, name, err := cache.SplitMetaNamespaceKey(k); err == nil {
					w.queue.Add(key{kind: kind, namespace: ns, name: name})
				}
			}
			w.notify(ns)
		}
		return cache.ResourceEventHandlerFuncs{
			AddFunc:    enqueue,
			UpdateFunc: func(_, obj any) { enqueue(obj) },
			DeleteFunc: enqueue,
		}
	}
	notify := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { w.notify(ns) },
		UpdateFunc: func(any, any) { w.notify(ns) },
		DeleteFunc: func(any) { w.notify(ns) },
	}
	// Count every broken watch (then log it as client-go does); handlers
	// can be set only before the informers start, which they have not.
	for _, inf := range []cache.SharedIndexInformer{apps.Deployments().Informer(), apps.StatefulSets().Informer(), apps.DaemonSets().Informer(),
		apps.ReplicaSets().Informer(), apps.ControllerRevisions().Informer(), core.Pods().Informer(), events} {
		_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
			metrics.WatchRestarted(w.cluster.Name)
			cache.DefaultWatchErrorHandler(ctx, r, err)
		})
	}
	// AddEventHandler fails only on a stopped informer.
	_, _ = apps.Deployments().Informer().AddEventHandler(workload(Deployment))
	_, _ = apps.StatefulSets().Informer().AddEventHandler(workload(StatefulSet))
	_, _ = apps.DaemonSets().Informer().AddEventHandler(workload(DaemonSet))
	_, _ = apps.ReplicaSets().Informer().AddEventHandler(notify)
	_, _ = apps.ControllerRevisions().Informer().AddEventHandler(notify)
	_, _ = core.Pods().Informer().AddEventHandler(notify)
	return c
}

// dropManagedFields keeps the caches of objects other than workloads small;
// only a workload's managed fields tell who changed it.
func dropManagedFields(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		o.ManagedFields = nil
	case *corev1.Event:
		o.ManagedFields = nil
	case *appsv1.ReplicaSet:
		o.ManagedFields = nil
	case *appsv1.ControllerRevision:
		o.ManagedFields = nil
	}
	return obj, nil
}

func indexEvent(obj any) ([]string, error) {
	e, ok := obj.(*corev1.Event)
	if !ok {
		return nil, nil
	}
	keys := []string{e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name}
	if e.InvolvedObject.Kind == "Pod" {
		if i := strings.LastIndexByte(e.InvolvedObject.Name, '-'); i > 0 {
			keys = append(keys, "pods-of/"+e.InvolvedObject.Name[:i])
		}
	}
	return keys, nil
}

// run watches the cluster until ctx ends.
func (w *watcher) run(ctx context.Context) {
	defer close(w.done)
	for _, c := range w.nss {
		c.factory.Start(ctx.Done())
	}
	defer func() {
		w.queue.ShutDown()
		for _, c := range w.nss {
			c.factory.Shutdown()
		}
	}()
	for ns, c := range w.nss {
		if err := c.factory.WaitForCacheSyncWithContext(ctx).AsError(); err != nil {
			if ctx.Err() == nil {
				w.log.Error("watching namespace", "namespace", ns, "err", err)
			}
			return
		}
	}
	w.synced.Store(true)
	close(w.syncedCh)
	w.log.Info("watching cluster", "namespaces", strings.Join(w.cluster.Namespaces, ","))

	keys := w.cachedKeys()
	w.mu.Lock()
	for _, k := range keys {
		w.pending[k] = true
	}
	w.mu.Unlock()
	for _, k := range keys {
		w.queue.Add(k)
	}
	w.initialDone(key{})
	if err := w.markMissingDeleted(ctx); err != nil && ctx.Err() == nil {
		w.log.Error("marking deleted services", "err", err)
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for w.processNext(ctx) {
			}
		})
	}
	<-ctx.Done()
	w.queue.ShutDown()
	wg.Wait()
}

// cachedKeys lists the workloads in the caches.
func (w *watcher) cachedKeys() []key {
	var out []key
	for ns, c := range w.nss {
		ds, _ := c.deployments.List(labels.Everything())
		for _, o := range ds {
			out = append(out, key{Deployment, ns, o.Name})
		}
		ss, _ := c.statefulSets.List(labels.Everything())
		for _, o := range ss {
			out = append(out, key{StatefulSet, ns, o.Name})
		}
		dss, _ := c.daemonSets.List(labels.Everything())
		for _, o := range dss {
			out = append(out, key{DaemonSet, ns, o.Name})
		}
	}
	return out
}

// initialDone notes that k had its first pass, and closes ready when all had.
func (w *watcher) initialDone(k key) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.pending, k)
	if len(w.pending) == 0 && w.synced.Load() {
		select {
		case <-w.ready:
		default:
			close(w.ready)
		}
	}
}

func (w *watcher) processNext(ctx context.Context) bool {
	k, quit := w.queue.Get()
	if quit {
		return false
	}
	defer w.queue.Done(k)
	err := w.sync(ctx, k)
	switch {
	case errors.Is(err, errWaiting):
		w.queue.Forget(k)
		w.queue.AddAfter(k, observeRetry)
		return true
	case err != nil:
		if ctx.Err() != nil {
			return true
		}
		w.log.Error("recording service version", "service", k.String(), "err", err)
		w.queue.AddRateLimited(k)
	default:
		w.queue.Forget(k)
	}
	w.initialDone(k)
	return true
}

func (w *watcher) state(k key) *workloadState {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.states[k]
	if st == nil {
		st = &workloadState{}
		w.states[k] = st
	}
	return st
}

// sync records the current version of workload k, importing its history
// the first time the watcher sees it.
func (w *watcher) sync(ctx context.Context, k key) error {
	o, err := w.cached(k)
	if apierrors.IsNotFound(err) {
		return w.markDeleted(ctx, k)
	}
	if err != nil {
		return err
	}
	content, hash, err := w.normalizeWorkload(o)
	if err != nil {
		return err
	}
	st := w.state(k)
	if st.hash == hash {
		return nil
	}
	if !observedBy(o) && !paused(o) {
		if st.waitingSince.IsZero() {
			st.waitingSince = time.Now()
		}
		if time.Since(st.waitingSince) < maxObserveWait {
			return errWaiting
		}
	}
	t, created := st.target, false
	if t == nil {
		t = targetFor(w.cluster, k)
		if created, err = w.m.store.EnsureTarget(ctx, t); err != nil {
			return err
		}
	}
	v, err := w.version(ctx, t, o, content, hash, true)
	if err != nil {
		return err
	}
	if st.target == nil {
		if err := w.importHistory(ctx, t, o, v, created); err != nil {
			return err
		}
	}
	got, added, err := w.m.store.RecordVersion(ctx, v)
	if err != nil {
		return err
	}
	if added {
		w.log.Info("recorded service version", "service", t.Label(), "version", got.Number, "revision", got.Revision, "source", got.Source, "author", got.Author)
		select {
		case <-w.ready: // after the first pass, a change is recorded as it happens
			metrics.VersionRecorded(w.cluster.Name, got.CreatedAt)
		default:
		}
		w.attachToRelease(ctx, t, got, templateOf(o).Annotations[rewind.AnnotationRelease])
	}
	st.target, st.hash, st.waitingSince = t, hash, time.Time{}
	return nil
}

// attachToRelease hands a recorded version to the release recorder, if
// any. A failure is logged: the version stays recorded, an unreleased
// change at worst.
func (w *watcher) attachToRelease(ctx context.Context, t *rewind.Target, v *rewind.Version, annotation string) {
	if w.m.Releases == nil {
		return
	}
	id, err := w.m.Releases.Recorded(ctx, t, v, annotation)
	if err != nil {
		w.log.Error("attaching service version to a release", "service", t.Label(), "version", v.Number, "release", annotation, "err", err)
		return
	}
	if id != 0 {
		w.log.Info("service version joins a release", "service", t.Label(), "version", v.Number, "release_id", id)
	}
}

// version builds the version of o's current template (content, hash).
func (w *watcher) version(ctx context.Context, t *rewind.Target, o object, content, hash string, allowAPI bool) (*rewind.Version, error) {
	author, at := templateAuthor(o.GetManagedFields())
	if at.IsZero() {
		at = time.Now()
	}
	v := &rewind.Version{
		TargetID:    t.ID,
		Content:     content,
		Hash:        hash,
		Source:      rewind.SourceObserved,
		Author:      author,
		ChangeCause: o.GetAnnotations()[AnnotationChangeCause],
		Images:      Images(templateOf(o)),
		CreatedAt:   at.UTC(),
	}
	rev, err := w.revision(ctx, o, hash, allowAPI)
	if err != nil {
		return nil, err
	}
	v.Revision = rev
	if err := w.attribute(ctx, t, o, v); err != nil {
		return nil, err
	}
	return v, nil
}

// attribute marks v as made by a Rewind rollback when it is: while the
// rollback runs the executor says so; afterwards (Rewind restarted) the
// workload's rewind.io/request annotation, Rewind's field manager having
// written last, and the request's version having v's template tell it.
func (w *watcher) attribute(ctx context.Context, t *rewind.Target, o object, v *rewind.Version) error {
	if e, ok := w.m.expected(t.ID); ok && e.hash == v.Hash {
		v.Source, v.Author, v.RequestID = rewind.SourceRollback, e.requester, e.requestID
		if at := rewindUpdateTime(o.GetManagedFields()); !at.IsZero() {
			v.CreatedAt = at.UTC()
		}
		return nil
	}
	id, err := strconv.ParseInt(o.GetAnnotations()[AnnotationRequest], 10, 64)
	if err != nil || id <= 0 || !rewindWroteLast(o.GetManagedFields()) {
		return nil
	}
	r, err := w.m.store.Request(ctx, id)
	if rewind.ErrorCode(err) == rewind.ENOTFOUND {
		return nil
	}
	if err != nil {
		return fmt.Errorf("rollback request %d: %w", id, err)
	}
	var to int64 // the version the request's step on t brings back
	for _, st := range r.Steps {
		if st.TargetID == t.ID {
			to = st.VersionID
		}
	}
	if to == 0 {
		return nil
	}
	target, err := w.m.store.Version(ctx, to)
	if rewind.ErrorCode(err) == rewind.ENOTFOUND {
		return nil
	}
	if err != nil {
		return fmt.Errorf("version of rollback request %d: %w", id, err)
	}
	if target.Hash != v.Hash {
		return nil
	}
	v.Source, v.Author, v.RequestID = rewind.SourceRollback, r.Requester, r.ID
	if at := rewindUpdateTime(o.GetManagedFields()); !at.IsZero() {
		v.CreatedAt = at.UTC()
	}
	return nil
}

// importHistory imports the revisions the cluster keeps of o: all of them
// when the target is new, else those newer than the newest recorded, less
// the current one, which the caller records as observed.
func (w *watcher) importHistory(ctx context.Context, t *rewind.Target, o object, cur *rewind.Version, created bool) error {
	hist := w.cachedHistory(o)
	var max int64
	if !created {
		var err error
		if max, err = w.m.store.MaxRevision(ctx, t.ID); err != nil {
			return fmt.Errorf("import history of %s: %w", t.Label(), err)
		}
	}
	n := 0
	for _, h := range hist {
		if h.revision <= max {
			continue
		}
		current := h.hash == cur.Hash && strconv.FormatInt(h.revision, 10) == cur.Revision
		if current && (!created || cur.Source == rewind.SourceRollback) {
			continue
		}
		v := &rewind.Version{
			TargetID:    t.ID,
			Revision:    strconv.FormatInt(h.revision, 10),
			Content:     h.content,
			Hash:        h.hash,
			Source:      rewind.SourceImported,
			ChangeCause: h.changeCause,
			Images:      Images(h.template),
			CreatedAt:   h.created.UTC(),
		}
		if current {
			v.Author = cur.Author
			if cur.ChangeCause != "" {
				v.ChangeCause = cur.ChangeCause
			}
		}
		added, err := w.m.store.ImportVersion(ctx, v)
		if err != nil {
			return fmt.Errorf("import history of %s: %w", t.Label(), err)
		}
		if added {
			n++
		}
	}
	if n > 0 {
		w.log.Info("imported service history", "service", t.Label(), "versions", n)
	}
	return nil
}

// markDeleted records that workload k is gone from the cluster.
func (w *watcher) markDeleted(ctx context.Context, k key) error {
	w.mu.Lock()
	st := w.states[k]
	delete(w.states, k)
	w.mu.Unlock()
	var id int64
	if st != nil && st.target != nil {
		id = st.target.ID
	} else {
		ts, err := w.m.store.ServiceTargets(ctx, w.cluster.ID)
		if err != nil {
			return err
		}
		for _, t := range ts {
			if keyOf(t) == k {
				id = t.ID
			}
		}
	}
	if id == 0 {
		return nil
	}
	if err := w.m.store.MarkTargetDeleted(ctx, id); err != nil {
		return fmt.Errorf("mark %s deleted: %w", k, err)
	}
	w.log.Info("service deleted", "service", k.String())
	return nil
}

// markMissingDeleted marks deleted the services of watched namespaces that
// disappeared while Rewind was not watching.
func (w *watcher) markMissingDeleted(ctx context.Context) error {
	ts, err := w.m.store.ServiceTargets(ctx, w.cluster.ID)
	if err != nil {
		return err
	}
	for _, t := range ts {
		if w.nss[t.Namespace] == nil {
			continue
		}
		_, err := w.cached(keyOf(t))
		if !apierrors.IsNotFound(err) {
			continue
		}
		if err := w.m.store.MarkTargetDeleted(ctx, t.ID); err != nil {
			return fmt.Errorf("mark %s deleted: %w", t.Label(), err)
		}
		w.log.Info("service deleted", "service", t.Label())
	}
	return nil
}

// subscribe returns a channel that receives a signal after changes of
// workloads, ReplicaSets, ControllerRevisions or pods in namespace ns.
func (w *watcher) subscribe(ns string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	if w.subs[ns] == nil {
		w.subs[ns] = map[chan struct{}]bool{}
	}
	w.subs[ns][ch] = true
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		delete(w.subs[ns], ch)
		w.mu.Unlock()
	}
}

func (w *watcher) notify(ns string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.subs[ns] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// stop stops the watcher and waits for it to end.
func (w *watcher) stop() {
	if w.cancel != nil {
		w.cancel()
	}
	<-w.done
}
