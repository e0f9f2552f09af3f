package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/config"
)

func TestNacosCAFileMustBeReadable(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, caFile, wantErr string
	}{
		{"none", "", ""},
		{"present", ca, ""},
		{"missing", filepath.Join(t.TempDir(), "missing.pem"), "nacos_ca_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			dataDir := t.TempDir()
			store, err := openStore(ctx, config.Config{DataDir: dataDir})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			_, _, stop, err := setupNacos(ctx, store, config.Config{DataDir: dataDir, NacosCAFile: tt.caFile}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if stop != nil {
				defer stop()
				defer cancel()
			}
			if got := err != nil && strings.Contains(err.Error(), tt.wantErr); got != (tt.wantErr != "") {
				t.Errorf("setupNacos = %v, want error %q", err, tt.wantErr)
			}
		})
	}
}
