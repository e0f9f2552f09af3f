package kube

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/rewindhq/rewind/internal/rewind"
)

// RestConfig returns the client configuration of a registered cluster: from
// its kubeconfig file and context (a relative path is taken from dataDir),
// from its pasted kubeconfig, or from the in-cluster service account.
func RestConfig(c *rewind.Cluster, dataDir string) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	switch {
	case c.InCluster:
		cfg, err = rest.InClusterConfig()
		if err != nil {
			return nil, rewind.Errorf(rewind.EINVALID, "Rewind does not run inside a Kubernetes cluster, so it has no in-cluster credentials (%v).", err)
		}
	case len(c.Kubeconfig) > 0:
		cfg, err = pastedConfig(c.Kubeconfig, c.Context)
		if err != nil {
			return nil, err
		}
	case c.KubeconfigPath != "":
		path := c.KubeconfigPath
		if !filepath.IsAbs(path) && dataDir != "" {
			path = filepath.Join(dataDir, path)
		}
		rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: path}
		over := &clientcmd.ConfigOverrides{CurrentContext: c.Context}
		cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, over).ClientConfig()
		if err != nil {
			return nil, rewind.Errorf(rewind.EINVALID, "Cannot use the kubeconfig %s%s: %s", path, contextSuffix(c.Context), redactErr(err, nil))
		}
	default:
		return nil, rewind.Errorf(rewind.EINVALID, "Cluster %s has no credentials: give a kubeconfig or in-cluster credentials.", c.Name)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "rewind"
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	return cfg, nil
}

// pastedConfig reads a kubeconfig pasted in the Settings page. It may not
// run commands or read files on Rewind's host: it holds its credentials itself.
func pastedConfig(b []byte, context string) (*rest.Config, error) {
	kc, err := clientcmd.Load(b)
	if err != nil {
		return nil, rewind.Errorf(rewind.EINVALID, "The pasted kubeconfig cannot be read: %s", redactErr(err, b))
	}
	for name, a := range kc.AuthInfos {
		if a.Exec != nil || a.AuthProvider != nil {
			return nil, rewind.Errorf(rewind.EINVALID, "User %q of the pasted kubeconfig runs a command or plugin to log in; paste a kubeconfig with a token or client certificate, or give a kubeconfig file path instead.", name)
		}
		if a.TokenFile != "" || a.ClientCertificate != "" || a.ClientKey != "" {
			return nil, rewind.Errorf(rewind.EINVALID, "User %q of the pasted kubeconfig refers to files; paste the credentials themselves (token, client-certificate-data, client-key-data).", name)
		}
	}
	for name, cl := range kc.Clusters {
		if cl.CertificateAuthority != "" {
			return nil, rewind.Errorf(rewind.EINVALID, "Cluster %q of the pasted kubeconfig refers to a CA file; paste certificate-authority-data instead.", name)
		}
	}
	cc := clientcmd.NewNonInteractiveClientConfig(*kc, context, &clientcmd.ConfigOverrides{}, nil)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, rewind.Errorf(rewind.EINVALID, "The pasted kubeconfig cannot be used%s: %s", contextSuffix(context), redactErr(err, b))
	}
	return cfg, nil
}

func contextSuffix(context string) string {
	if context == "" {
		return ""
	}
	return " (context " + context + ")"
}

// KubeconfigContexts lists the context names of a kubeconfig file, sorted.
func KubeconfigContexts(path string) ([]string, error) {
	kc, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("read kubeconfig %s: %w", path, errors.New(redactErr(err, nil)))
	}
	return contextNames(kc), nil
}

func contextNames(kc *clientcmdapi.Config) []string {
	out := make([]string, 0, len(kc.Contexts))
	for name := range kc.Contexts {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// DefaultKubeconfigPath returns the kubeconfig kubectl would use: the first
// existing file named in $KUBECONFIG, else ~/.kube/config if it exists, else "".
func DefaultKubeconfigPath() string {
	for _, p := range filepath.SplitList(os.Getenv("KUBECONFIG")) {
		if p == "" {
			continue
		}
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	p := filepath.Join(home, ".kube", "config")
	if st, err := os.Stat(p); err == nil && !st.IsDir() {
		return p
	}
	return ""
}

// secrets lists the credentials of a client config, to keep them out of
// error texts.
func secrets(cfg *rest.Config) []string {
	if cfg == nil {
		return nil
	}
	var out []string
	for _, s := range []string{cfg.BearerToken, cfg.Password, string(cfg.KeyData)} {
		if len(s) >= 4 {
			out = append(out, s)
		}
	}
	return out
}

// redactErr returns err's text without anything that looks like a credential
// of raw (a pasted kubeconfig): its tokens, passwords and key data.
func redactErr(err error, raw []byte, extra ...string) string {
	msg := err.Error()
	var words []string
	if len(raw) > 0 {
		if kc, lerr := clientcmd.Load(raw); lerr == nil {
			for _, a := range kc.AuthInfos {
				words = append(words, a.Token, a.Password, string(a.ClientKeyData))
			}
		}
	}
	words = append(words, extra...)
	for _, w := range words {
		if len(w) >= 4 {
			msg = strings.ReplaceAll(msg, w, "[redacted]")
		}
	}
	return msg
}
