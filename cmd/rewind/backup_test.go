package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// rewindCmd runs one rewind command as the shell would and returns its
// output and error.
func rewindCmd(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(""), &out, &out)
	return out.String(), err
}

func TestBackupAndRestoreCommands(t *testing.T) {
	p := startRewind(t, "environments:\n  - name: prod\n    required_approvals: 1\n", map[string]string{"wang.fang": "approver"})
	env := map[string]string{"REWIND_DATA_DIR": p.DataDir}
	backups := t.TempDir()

	// While Rewind runs: a backup works, a restore is refused.
	file := filepath.Join(backups, "before.db")
	out, err := rewindCmd(t, env, "backup", file)
	if err != nil || !strings.Contains(out, "Backup written to "+file) || !strings.Contains(out, "secret.key") {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	if _, err := rewindCmd(t, env, "user", "add", "li.lei", "--role", "operator"); err != nil {
		t.Fatal(err)
	}
	_, err = rewindCmd(t, env, "restore", file)
	if err == nil || !strings.Contains(err.Error(), "Rewind is running on "+p.DataDir) || !strings.Contains(err.Error(), "Nothing was changed") {
		t.Fatalf("restore while running: %v", err)
	}
	zh := map[string]string{"REWIND_DATA_DIR": p.DataDir, "LANG": "zh_CN.UTF-8"}
	out, err = rewindCmd(t, zh, "backup", "--dir", backups, "--keep", "2")
	if err != nil || !strings.Contains(out, "备份已写入") {
		t.Fatalf("backup in Chinese: %v\n%s", err, out)
	}
	for range 2 {
		time.Sleep(5 * time.Millisecond)
		if out, err := rewindCmd(t, env, "backup", "--dir", backups, "--keep", "2"); err != nil {
			t.Fatalf("backup --dir: %v\n%s", err, out)
		}
	}
	kept, _ := filepath.Glob(filepath.Join(backups, "rewind-*.db"))
	if len(kept) != 2 {
		t.Errorf("backups kept with --keep 2: %v", kept)
	}

	// Stopped: the restore brings back the store as it was at the backup.
	p.Stop(t)
	out, err = rewindCmd(t, env, "restore", file)
	if err != nil || !strings.Contains(out, "Restored "+file) || !strings.Contains(out, "before-restore-") {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	out, err = rewindCmd(t, env, "user", "list")
	if err != nil || !strings.Contains(out, "wang.fang") || strings.Contains(out, "li.lei") {
		t.Errorf("users after the restore: %v\n%s", err, out)
	}

	// A damaged store: Rewind does not start, and says what to do.
	store := filepath.Join(p.DataDir, "rewind.db")
	f, err := os.OpenFile(store, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5}, 4096), 4096*2); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = rewindCmd(t, env, "serve", "--addr", "127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), "is damaged") || !strings.Contains(err.Error(), "rewind restore BACKUP_FILE --data-dir "+p.DataDir) {
		t.Fatalf("serve on a damaged store: %v", err)
	}
	// The backup made while it was sound restores it.
	if out, err := rewindCmd(t, env, "restore", file); err != nil {
		t.Fatalf("restore over a damaged store: %v\n%s", err, out)
	}
	if out, err := rewindCmd(t, env, "user", "list"); err != nil || !strings.Contains(out, "wang.fang") {
		t.Errorf("users after restoring over the damaged store: %v\n%s", err, out)
	}
	// A damaged backup is refused; the store stays.
	bad := filepath.Join(backups, "bad.db")
	if err := os.WriteFile(bad, bytes.Repeat([]byte("SQLite format 3\x00"), 512), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := rewindCmd(t, env, "restore", bad); err == nil || !strings.Contains(err.Error(), "is damaged") {
		t.Fatalf("restore of a damaged backup: %v", err)
	}
	if out, err := rewindCmd(t, env, "user", "list"); err != nil || !strings.Contains(out, "wang.fang") {
		t.Errorf("users after a refused restore: %v\n%s", err, out)
	}
}

func TestPruneCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "rewind.yaml")
	if err := os.WriteFile(cfg, []byte("retention:\n  service:\n    keep_days: 90\n    keep_versions: 20\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"REWIND_DATA_DIR": filepath.Join(dir, "data")}
	if _, err := rewindCmd(t, env, "migrate"); err != nil {
		t.Fatal(err)
	}
	out, err := rewindCmd(t, env, "prune", "--dry-run", "--config", cfg)
	if err != nil || !strings.Contains(out, "service: 0 versions would be removed (dry run).") {
		t.Errorf("prune --dry-run: %v\n%s", err, out)
	}
	out, err = rewindCmd(t, env, "prune")
	if err != nil || !strings.Contains(out, "No retention is set") {
		t.Errorf("prune without retention: %v\n%s", err, out)
	}
	if err := os.WriteFile(cfg, []byte("retention:\n  database:\n    keep_days: 90\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := rewindCmd(t, env, "prune", "--config", cfg); err == nil || !strings.Contains(err.Error(), "never removed") {
		t.Errorf("retention of databases: %v", err)
	}
}

func TestServeMetrics(t *testing.T) {
	dir := t.TempDir()
	addr, metricsAddr := freeAddr(t), freeAddr(t)
	token := "scrape-token-0123456789abcdef"
	env := map[string]string{"REWIND_ADMIN_PASSWORD": "admin-password-1", "REWIND_METRICS_TOKEN": token}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out lockedWriter
	out.mu, out.w = new(sync.Mutex), new(bytes.Buffer)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", addr, "--data-dir", dir, "--metrics-addr", metricsAddr},
			func(k string) string { return env[k] }, strings.NewReader(""), &out, &out)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	get := func(url, bearer string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		for range 200 {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		t.Fatalf("%s does not answer", url)
		return 0, ""
	}
	for _, url := range []string{"http://" + addr + "/metrics", "http://" + metricsAddr + "/metrics"} {
		if code, _ := get(url, ""); code != http.StatusUnauthorized {
			t.Errorf("%s without the token: %d", url, code)
		}
		code, body := get(url, token)
		if code != http.StatusOK || !strings.Contains(body, "rewind_store_up 1") || !strings.Contains(body, "go_goroutines") {
			t.Errorf("%s: %d\n%.600s", url, code, body)
		}
	}
	// A second Rewind on the same data folder is refused.
	_, err := rewindCmd(t, map[string]string{"REWIND_DATA_DIR": dir}, "serve", "--addr", "127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), "Rewind is running on "+dir) {
		t.Errorf("a second serve: %v", err)
	}
}

func TestMetricsNotServedWithoutToken(t *testing.T) {
	p := startRewind(t, "", nil)
	resp, err := http.Get(p.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics without a metrics token: %d, want 404", resp.StatusCode)
	}
}
