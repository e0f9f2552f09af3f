package metrics

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rewindhq/rewind/internal/rewind"
)

// Store is what the metrics read of the history store at each scrape.
type Store interface {
	Ping(ctx context.Context) error
	RequestCounts(ctx context.Context) ([]rewind.RequestCount, error)
	VersionCounts(ctx context.Context) ([]rewind.VersionCount, error)
	PrunedCounts(ctx context.Context) (map[rewind.TargetKind]int64, error)
	Size(ctx context.Context) (int64, error)
}

// ClusterStats is what a cluster's watcher knows of itself.
type ClusterStats struct {
	Cluster   string
	Synced    bool // the first list of every watched namespace is done
	Workloads int  // Deployments, StatefulSets and DaemonSets watched
	Queue     int  // workloads waiting to be recorded
}

// Sources are where the state metrics come from; nil parts are left out.
type Sources struct {
	Store Store
	// Clusters, NacosServers and Databases report by name whether each
	// answers (nil) or not.
	Clusters     func(ctx context.Context) map[string]error
	ClusterStats func() []ClusterStats
	NacosServers func(ctx context.Context) map[string]error
	Databases    func(ctx context.Context) map[string]error
	// Version is Rewind's version, for rewind_build_info.
	Version string
}

// scrapeTimeout bounds the reads of one scrape; a source that takes longer
// counts as not answering.
const scrapeTimeout = 5 * time.Second

var (
	descRequests = newDesc("rewind_requests", "Requests in the store by type (rollback, change), kind (service, config, database, release, mixed), environment and state.",
		[]string{"type", "kind", "environment", "state"}, nil)
	descVersions = newDesc("rewind_versions", "Versions held in the store by kind of target and source (observed, imported, rollback, change).",
		[]string{"kind", "source"}, nil)
	descRecorded = newDesc("rewind_versions_recorded_total", "Versions ever recorded by kind of target: those held plus those retention removed.",
		[]string{"kind"}, nil)
	descPruned = newDesc("rewind_versions_removed_total", "Versions retention removed, by kind of target.",
		[]string{"kind"}, nil)
	descStoreUp   = newDesc("rewind_store_up", "1 when the history store answers.", nil, nil)
	descStoreSize = newDesc("rewind_store_size_bytes", "Bytes the history store takes on disk (file and write-ahead log).", nil, nil)
	descClusterUp = newDesc("rewind_watcher_up", "1 when Rewind watches the cluster: its API server answers and the watch has synced.",
		[]string{"cluster"}, nil)
	descWorkloads = newDesc("rewind_watched_workloads", "Workloads (Deployments, StatefulSets, DaemonSets) Rewind watches in the cluster.",
		[]string{"cluster"}, nil)
	descQueue = newDesc("rewind_watcher_queue_depth", "Workloads of the cluster waiting to be recorded.",
		[]string{"cluster"}, nil)
	descNacosUp = newDesc("rewind_nacos_up", "1 when Rewind can use the Nacos server: it answers and accepts Rewind's login.",
		[]string{"server"}, nil)
	descDatabaseUp = newDesc("rewind_database_up", "1 when the SQL database answers a connection.",
		[]string{"database"}, nil)
	descScrapeErrors = newDesc("rewind_metrics_source_errors", "Sources of this scrape that could not be read (store queries), by source.",
		[]string{"source"}, nil)
)

// names lists the name of every Rewind metric (see Names).
var names []string

func newDesc(name, help string, labels []string, constLabels prometheus.Labels) *prometheus.Desc {
	names = append(names, name)
	return prometheus.NewDesc(name, help, labels, constLabels)
}

// Names returns the names of Rewind's own metrics (rewind_*), for checking
// the alerts and the dashboard that use them.
func Names() []string {
	out := slices.Clone(names)
	for _, c := range events {
		out = append(out, eventName(c))
	}
	return append(out, namespace+"_build_info")
}

// collector reads the state metrics from their sources at each scrape.
type collector struct{ src Sources }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descVersions, descRecorded, descPruned, descStoreUp, descStoreSize,
		descClusterUp, descWorkloads, descQueue, descNacosUp, descDatabaseUp, descScrapeErrors} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	failed := func(source string) { gauge(descScrapeErrors, 1, source) }

	if s := c.src.Store; s != nil {
		gauge(descStoreUp, boolValue(s.Ping(ctx) == nil))
		if n, err := s.Size(ctx); err == nil {
			gauge(descStoreSize, float64(n))
		} else {
			failed("store_size")
		}
		if counts, err := s.RequestCounts(ctx); err == nil {
			for _, r := range counts {
				gauge(descRequests, float64(r.Count), string(r.Type), r.Kind, r.Environment, string(r.State))
			}
		} else {
			failed("requests")
		}
		pruned, perr := s.PrunedCounts(ctx)
		if perr != nil {
			failed("versions_removed")
		}
		if counts, err := s.VersionCounts(ctx); err == nil {
			held := map[rewind.TargetKind]int64{}
			for _, v := range counts {
				gauge(descVersions, float64(v.Count), string(v.Kind), string(v.Source))
				held[v.Kind] += v.Count
			}
			for _, k := range []rewind.TargetKind{rewind.KindService, rewind.KindConfig, rewind.KindDatabase} {
				if perr == nil {
					ch <- prometheus.MustNewConstMetric(descRecorded, prometheus.CounterValue, float64(held[k]+pruned[k]), string(k))
					ch <- prometheus.MustNewConstMetric(descPruned, prometheus.CounterValue, float64(pruned[k]), string(k))
				}
			}
		} else {
			failed("versions")
		}
	}
	if c.src.Clusters != nil {
		for name, err := range c.src.Clusters(ctx) {
			gauge(descClusterUp, boolValue(err == nil), name)
		}
	}
	if c.src.ClusterStats != nil {
		for _, st := range c.src.ClusterStats() {
			gauge(descWorkloads, float64(st.Workloads), st.Cluster)
			gauge(descQueue, float64(st.Queue), st.Cluster)
		}
	}
	if c.src.NacosServers != nil {
		for name, err := range c.src.NacosServers(ctx) {
			gauge(descNacosUp, boolValue(err == nil), name)
		}
	}
	if c.src.Databases != nil {
		for name, err := range c.src.Databases(ctx) {
			gauge(descDatabaseUp, boolValue(err == nil), name)
		}
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// NewRegistry returns a registry of every Rewind metric: the events of
// the process, the state read from src at each scrape, the Go runtime and
// process, and rewind_build_info.
func NewRegistry(src Sources) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(events...)
	reg.MustRegister(collector{src: src})
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info", Help: "Rewind's version; the value is always 1.",
		ConstLabels: prometheus.Labels{"version": src.Version, "goversion": runtime.Version()},
	}, func() float64 { return 1 }))
	return reg
}

// Handler serves the registry's metrics in the Prometheus text format (or
// OpenMetrics when asked). With a token, only requests that bear it
// (Authorization: Bearer TOKEN) get them; others get 401.
func Handler(reg *prometheus.Registry, token string) http.Handler {
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, EnableOpenMetrics: true})
	if token == "" {
		return h
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="rewind metrics"`)
			http.Error(w, "401 Unauthorized: /metrics needs the metrics token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
