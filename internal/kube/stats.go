package kube

import (
	"sort"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/rewindhq/rewind/internal/metrics"
)

// Stats reports, per cluster, whether its watch has synced, how many
// workloads it watches and how many wait to be recorded. It reads only the
// watchers' caches and queues: no call to any cluster.
func (m *Manager) Stats() []metrics.ClusterStats {
	m.mu.Lock()
	ws := make([]*watcher, 0, len(m.watchers))
	for _, w := range m.watchers {
		ws = append(ws, w)
	}
	m.mu.Unlock()
	out := make([]metrics.ClusterStats, 0, len(ws))
	for _, w := range ws {
		st := metrics.ClusterStats{Cluster: w.cluster.Name, Synced: w.synced.Load()}
		if w.err == nil {
			st.Queue = w.queue.Len()
			if st.Synced {
				for _, c := range w.nss {
					ds, _ := c.deployments.List(labels.Everything())
					ss, _ := c.statefulSets.List(labels.Everything())
					dss, _ := c.daemonSets.List(labels.Everything())
					st.Workloads += len(ds) + len(ss) + len(dss)
				}
			}
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Cluster < out[j].Cluster })
	return out
}
