package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "rewind.yaml")
	body := "addr: 127.0.0.1:7000\ndata_dir: /from/file\nrollout_timeout: 2m\nenvironments:\n  - name: prod\n    required_approvals: 1\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantAddr string
		wantData string
		wantTO   time.Duration
	}{
		{"defaults", nil, nil, "127.0.0.1:8080", "./data", 10 * time.Minute},
		{"file", []string{"--config", file}, nil, "127.0.0.1:7000", "/from/file", 2 * time.Minute},
		{"env over file", []string{"--config", file}, map[string]string{"REWIND_ADDR": "127.0.0.1:7001"}, "127.0.0.1:7001", "/from/file", 2 * time.Minute},
		{"flag over env", []string{"--config", file, "--addr", "127.0.0.1:7002"}, map[string]string{"REWIND_ADDR": "127.0.0.1:7001", "REWIND_ROLLOUT_TIMEOUT": "30s"}, "127.0.0.1:7002", "/from/file", 30 * time.Second},
		{"config from env", nil, map[string]string{"REWIND_CONFIG": file}, "127.0.0.1:7000", "/from/file", 2 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(tt.args, env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if got.Addr != tt.wantAddr || got.DataDir != tt.wantData || got.RolloutTimeout != tt.wantTO {
				t.Errorf("got %q %q %v, want %q %q %v", got.Addr, got.DataDir, got.RolloutTimeout, tt.wantAddr, tt.wantData, tt.wantTO)
			}
		})
	}
}

func TestLoadRejects(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("adr: x\n"), 0o600)
	orphan := filepath.Join(dir, "orphan.yaml")
	os.WriteFile(orphan, []byte("clusters:\n  - name: a\n    environment: nope\n"), 0o600)
	for _, args := range [][]string{
		{"--config", bad},
		{"--config", orphan},
		{"--rollout-timeout", "1s"},
		{"--tls-cert", "x"},
		{"--nope"},
		{"--trusted-proxies", "10.0.0.0/33"},
		{"--trusted-proxies", "proxy.local"},
		{"--session-idle", "10s"},
	} {
		if _, err := Load(args, func(string) string { return "" }); err == nil {
			t.Errorf("Load(%v) = nil error", args)
		}
	}
}

func TestTrustedProxies(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"none by default", nil, nil, nil},
		{"flag", []string{"--trusted-proxies", "10.0.0.0/8, 192.0.2.7"}, nil, []string{"10.0.0.0/8", "192.0.2.7/32"}},
		{"env", nil, map[string]string{"REWIND_TRUSTED_PROXIES": "2001:db8::/32"}, []string{"2001:db8::/32"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(tt.args, func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			nets, err := cfg.TrustedProxyNets()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, n := range nets {
				got = append(got, n.String())
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSessionLimits(t *testing.T) {
	cfg, err := Load([]string{"--session-idle", "30m"}, func(k string) string { return map[string]string{"REWIND_SESSION_LIFETIME": "8h"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SessionIdle != 30*time.Minute || cfg.SessionLifetime != 8*time.Hour {
		t.Errorf("idle %v lifetime %v, want 30m and 8h", cfg.SessionIdle, cfg.SessionLifetime)
	}
}

func TestExternalURL(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "REWIND_EXTERNAL_URL" {
				return v
			}
			return ""
		}
	}
	for _, tt := range []struct {
		args    []string
		env     string
		want    string
		wantErr bool
	}{
		{nil, "", "", false},
		{nil, "https://rewind.example.com/", "https://rewind.example.com", false},
		{[]string{"--external-url", "http://10.0.0.5:8080/rewind"}, "https://ignored.example.com", "http://10.0.0.5:8080/rewind", false},
		{nil, "rewind.example.com", "", true},
		{nil, "https://rewind.example.com/?x=1", "", true},
		{nil, "https://user:pw@rewind.example.com", "", true},
	} {
		got, err := Load(tt.args, env(tt.env))
		if (err != nil) != tt.wantErr || (err == nil && got.ExternalURL != tt.want) {
			t.Errorf("Load(%v, %q) = %q, %v; want %q, error %v", tt.args, tt.env, got.ExternalURL, err, tt.want, tt.wantErr)
		}
	}
}
