package rewind

import (
	"strings"
	"time"
)

// Cluster is a Kubernetes cluster Rewind watches, in one environment.
type Cluster struct {
	ID             int64
	Name           string
	EnvironmentID  int64
	KubeconfigPath string // a kubeconfig file on Rewind's host
	Context        string // the context in that kubeconfig; empty for its current one
	InCluster      bool   // use the service account Rewind runs under
	// Kubeconfig is a kubeconfig pasted in the Settings page. It holds
	// credentials, so it is encrypted at rest and never shown again.
	Kubeconfig []byte
	Namespaces []string // the namespaces to watch
	FromConfig bool     // declared in the config file, not editable in pages
	CreatedAt  time.Time
}

// ValidateCluster checks a cluster before it is saved.
func ValidateCluster(c Cluster) error {
	if err := validateName("A cluster name", c.Name); err != nil {
		return err
	}
	if c.EnvironmentID == 0 {
		return Errorf(EINVALID, "Choose the environment the cluster belongs to.")
	}
	sources := 0
	if c.InCluster {
		sources++
	}
	if c.KubeconfigPath != "" {
		sources++
	}
	if len(c.Kubeconfig) > 0 {
		sources++
	}
	if sources != 1 {
		return Errorf(EINVALID, "Give exactly one of: a kubeconfig file path, a pasted kubeconfig, or in-cluster credentials.")
	}
	if len(c.Namespaces) == 0 {
		return Errorf(EINVALID, "Name at least one namespace to watch.")
	}
	for _, ns := range c.Namespaces {
		if err := validateName("A namespace", ns); err != nil {
			return err
		}
	}
	return nil
}

// ParseList splits a comma- or space-separated list, dropping empty items and duplicates.
func ParseList(s string) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r' }) {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}
