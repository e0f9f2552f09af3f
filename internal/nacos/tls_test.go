package nacos_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/nacos"
	"github.com/rewindhq/rewind/internal/nacos/nacostest"
)

// TestClientOverTLS reads, lists, reads history and publishes with
// compare-and-swap over https and gRPC with TLS, trusting the stand-in's CA.
func TestClientOverTLS(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			opts := m.opts
			opts.TLS = true
			srv := nacostest.Start(t, opts)
			key := nacostest.Key{Group: "DEFAULT_GROUP", DataID: "app.yaml"}
			srv.Seed(key, "yaml", "v: 1\n")
			srv.Publish(key, "v: 2\n")
			c := newClient(t, srv, func(cfg *nacos.ServerConfig) { cfg.Addr, cfg.CAFile = srv.URL(), srv.CAFile() })
			ctx := testContext(t)
			if err := c.Check(ctx); err != nil {
				t.Fatalf("Check: %v", err)
			}
			k := nacos.ConfigKey{Group: "DEFAULT_GROUP", DataID: "app.yaml"}
			got, exists, err := c.Get(ctx, k)
			if err != nil || !exists || got.Content != "v: 2\n" {
				t.Fatalf("Get = %+v, %v, %v; want v: 2", got, exists, err)
			}
			list, err := c.ListConfigs(ctx, "", "")
			if err != nil || len(list) != 1 {
				t.Fatalf("ListConfigs = %v, %v", list, err)
			}
			hist, err := c.History(ctx, k)
			if err != nil || len(hist) != 2 {
				t.Fatalf("History = %d rows, %v; want 2", len(hist), err)
			}
			if err := c.Publish(ctx, k, "v: 1\n", nacos.ContentMD5("v: 1 stale\n")); !errors.Is(err, nacos.ErrConflict) {
				t.Errorf("Publish with a stale md5 = %v, want ErrConflict", err)
			}
			if err := c.Publish(ctx, k, "v: 1\n", got.MD5); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			if content, _, _ := srv.Config(key); content != "v: 1\n" {
				t.Errorf("stand-in holds %q, want the published content", content)
			}
			if srv.Count("grpc:ConfigPublishRequest") == 0 {
				t.Errorf("the publish did not go through gRPC")
			}
		})
	}
}

func TestClientRefusesUntrustedCertificate(t *testing.T) {
	srv := nacostest.Start(t, nacostest.Options{Mode: nacostest.Mode2, TLS: true, Password: "Tr0ub4dor-pw"})
	other := nacostest.Start(t, nacostest.Options{Mode: nacostest.Mode2, TLS: true})
	srv.Seed(nacostest.Key{Group: "DEFAULT_GROUP", DataID: "app.yaml"}, "yaml", "v: 1\n")
	tests := []struct {
		name   string
		caFile string
	}{
		{"no CA file", ""},
		{"another server's CA", other.CAFile()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, srv, func(cfg *nacos.ServerConfig) { cfg.Addr, cfg.CAFile = srv.URL(), tt.caFile })
			ctx := testContext(t)
			err := c.Check(ctx)
			if !errors.Is(err, nacos.ErrUntrusted) || !strings.Contains(err.Error(), "certificate") {
				t.Errorf("Check = %v, want ErrUntrusted", err)
			}
			_, _, err = c.Get(ctx, nacos.ConfigKey{Group: "DEFAULT_GROUP", DataID: "app.yaml"})
			if !errors.Is(err, nacos.ErrUntrusted) {
				t.Errorf("Get = %v, want ErrUntrusted", err)
			}
			if strings.Contains(err.Error(), srv.Password()) {
				t.Errorf("error shows the password")
			}
		})
	}
	if n := srv.Count("http:POST /v1/auth/users/login") + srv.Count("http:POST /v1/auth/login"); n != 0 {
		t.Errorf("%d logins reached the server through an untrusted connection", n)
	}
}

func TestClientTLSSettings(t *testing.T) {
	srv := nacostest.Start(t, nacostest.Options{Mode: nacostest.Mode2})
	tests := []struct {
		name, addr, caFile, want string
	}{
		{"CA file without https", srv.Addr(), "/dev/null", "needs an https:// address"},
		{"missing CA file", "https://" + srv.Addr(), "/nonexistent/ca.pem", "read CA file"},
		{"not PEM", "https://" + srv.Addr(), "/etc/hostname", "no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := nacos.New(nacos.ServerConfig{Name: "x", Addr: tt.addr, CAFile: tt.caFile}, dataDir(t))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want %q", err, tt.want)
			}
		})
	}
}
