package sqlite

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewindhq/rewind/db"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/secret"
)

// image90 is a production-like image reference of 90 characters.
func image90(n int) string {
	s := fmt.Sprintf("registry.cn-hangzhou.aliyuncs.com/shop-platform/order-service:release-2026.12.%04d-", n)
	return s + strings.Repeat("a", 90-len(s))
}

// podSpec is a pod template as the recorder stores it, about 1 KB.
func podSpec(n int) string {
	return fmt.Sprintf(`{"metadata":{"labels":{"app":"order-service","version":"%d"}},"spec":{"containers":[{"name":"app","image":%q,"env":[{"name":"SPRING_PROFILES_ACTIVE","value":"prod"},{"name":"说明","value":"订单服务 第%d次发布：修复支付回调超时"}],"resources":{"limits":{"cpu":"2","memory":"4Gi"}}}]}}%s`,
		n, image90(n), n, strings.Repeat(" ", 600))
}

func newBox(t *testing.T, seed byte) *secret.Box {
	t.Helper()
	box, err := secret.NewBox(bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return box
}

// seedStore fills a store with a cluster whose kubeconfig is sealed, an
// environment, a service and n of its versions.
func seedStore(t *testing.T, s *Store, n int) *rewind.Target {
	t.Helper()
	ctx := context.Background()
	env := &rewind.Environment{Name: "prod", RequiredApprovals: 1}
	if err := s.SaveEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	cl := &rewind.Cluster{Name: "prod-hz", EnvironmentID: env.ID, Kubeconfig: []byte("apiVersion: v1\nkind: Config\n# token: secret\n"), Namespaces: []string{"shop"}}
	if err := s.SaveCluster(ctx, cl); err != nil {
		t.Fatal(err)
	}
	tg := &rewind.Target{Kind: rewind.KindService, EnvironmentID: env.ID, OwnerID: cl.ID, Namespace: "shop", Workload: "Deployment", Name: "order-service"}
	if _, err := s.EnsureTarget(ctx, tg); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		if _, _, err := s.RecordVersion(ctx, &rewind.Version{TargetID: tg.ID, Content: podSpec(i), Hash: fmt.Sprintf("h%d", i), Source: rewind.SourceObserved,
			Images: []rewind.Image{{Container: "app", Image: image90(i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	return tg
}

// checkConsistent checks what every committed transaction of the writer in
// TestBackupWhileWriting leaves: each request has its step and its audit
// event, and each target's versions are numbered 1..n without gaps.
func checkConsistent(t *testing.T, s *Store) (requests, versions int) {
	t.Helper()
	ctx := context.Background()
	var orphans int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM requests r
		WHERE NOT EXISTS (SELECT 1 FROM request_steps st WHERE st.request_id = r.id)
		   OR NOT EXISTS (SELECT 1 FROM audit_events a WHERE a.request_id = r.id AND a.action = ?)`, rewind.ActionRequest).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Errorf("%d requests without their step or audit event", orphans)
	}
	var gaps int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT target_id FROM versions GROUP BY target_id HAVING MAX(number) != COUNT(*))`).Scan(&gaps); err != nil {
		t.Fatal(err)
	}
	if gaps != 0 {
		t.Errorf("%d targets whose version numbers have gaps", gaps)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM requests), (SELECT COUNT(*) FROM versions)`).Scan(&requests, &versions); err != nil {
		t.Fatal(err)
	}
	return requests, versions
}

func TestBackupWhileWriting(t *testing.T) {
	ctx := context.Background()
	box := newBox(t, 1)
	dir := t.TempDir()
	s, err := Open(ctx, filepath.Join(dir, "rewind.db"), box)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tg := seedStore(t, s, 200)

	// The writer records versions and makes requests (request, step and
	// audit event in one transaction) until the backups are done.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writeErr error
	wg.Go(func() {
		for i := 201; i < 20000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			v, _, err := s.RecordVersion(ctx, &rewind.Version{TargetID: tg.ID, Content: podSpec(i), Hash: fmt.Sprintf("h%d", i), Source: rewind.SourceObserved})
			if err != nil {
				writeErr = err
				return
			}
			r := &rewind.Request{EnvironmentID: tg.EnvironmentID, Requester: "王小明", Reason: "支付回调超时，回滚到上一个版本 " + strings.Repeat("原因", 40), RequiredApprovals: 1,
				Steps: []rewind.Step{{TargetID: tg.ID, VersionID: v.ID, BaseVersionID: v.ID, Expected: fmt.Sprint(i)}}}
			if err := s.CreateRequest(ctx, r, rewind.AuditEvent{Actor: "王小明", Action: rewind.ActionRequest}); err != nil {
				writeErr = err
				return
			}
			if _, err := s.Move(ctx, r.ID, []rewind.State{rewind.StatePending}, rewind.StateCancelled, "Cancelled.", nil); err != nil {
				writeErr = err
				return
			}
		}
	})

	var seen []int
	for i := range 3 {
		time.Sleep(150 * time.Millisecond) // let the writer get ahead
		dest := filepath.Join(t.TempDir(), fmt.Sprintf("backup-%d.db", i))
		info, err := s.Backup(ctx, dest)
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatal(err)
		}
		fi, err := os.Stat(dest)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 || info.Bytes != fi.Size() {
			t.Errorf("backup %s: mode %v size %d, info %+v", dest, fi.Mode().Perm(), fi.Size(), info)
		}
		if _, err := s.Backup(ctx, dest); err == nil {
			t.Errorf("a second backup to %s overwrote the first", dest)
		}
		if _, err := CheckBackup(ctx, dest, box); err != nil {
			t.Errorf("backup %d does not pass its check: %v", i, err)
		}
		b, err := Open(ctx, dest, box)
		if err != nil {
			t.Fatal(err)
		}
		reqs, _ := checkConsistent(t, b)
		b.Close()
		seen = append(seen, reqs)
	}
	close(stop)
	wg.Wait()
	if writeErr != nil {
		t.Fatalf("writer: %v", writeErr)
	}
	finalReqs, _ := checkConsistent(t, s)
	t.Logf("requests in the backups: %v; at the end: %d", seen, finalReqs)
	if seen[0] == 0 || seen[2] <= seen[0] || finalReqs <= seen[2] {
		t.Errorf("the backups were not taken while the writer ran: %v then %d", seen, finalReqs)
	}
}

func TestRestore(t *testing.T) {
	ctx := context.Background()
	box := newBox(t, 1)
	dataDir := t.TempDir()
	path := filepath.Join(dataDir, "rewind.db")
	s, err := Open(ctx, path, box)
	if err != nil {
		t.Fatal(err)
	}
	tg := seedStore(t, s, 30)
	backup := filepath.Join(t.TempDir(), "rewind-backup.db")
	if _, err := s.Backup(ctx, backup); err != nil {
		t.Fatal(err)
	}
	// What happens after the backup is not in it.
	if _, _, err := s.RecordVersion(ctx, &rewind.Version{TargetID: tg.ID, Content: podSpec(31), Hash: "h31", Source: rewind.SourceObserved}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	backupSum := fileSum(t, backup)

	// A backup of a store sealed with another key, and one of a newer Rewind.
	otherKey := filepath.Join(t.TempDir(), "other.db")
	o, err := Open(ctx, otherKey, newBox(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	seedStore(t, o, 1)
	o.Close()
	newer := filepath.Join(t.TempDir(), "newer.db")
	copyFile(t, backup, newer)
	n, err := OpenExisting(ctx, newer, box)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.db.ExecContext(ctx, `INSERT INTO schema_migrations (number, name) VALUES (999, '0999_future.sql')`); err != nil {
		t.Fatal(err)
	}
	n.Close()
	damagedCopy := filepath.Join(t.TempDir(), "damaged.db")
	copyFile(t, backup, damagedCopy)
	corrupt(t, damagedCopy)
	notStore := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(notStore, []byte(strings.Repeat("发布说明 release notes\n", 400)), 0o600); err != nil {
		t.Fatal(err)
	}

	storeSum := fileSum(t, path)
	refusals := []struct {
		name, src string
		box       Sealer
		check     func(error) bool
	}{
		{"damaged", damagedCopy, box, func(err error) bool { var d *DamagedError; return errors.As(err, &d) }},
		{"not a database", notStore, box, func(err error) bool { var d *DamagedError; return errors.As(err, &d) }},
		{"another key", otherKey, box, func(err error) bool { return strings.Contains(err.Error(), "does not open with this key") }},
		{"no key", backup, nil, func(err error) bool { return strings.Contains(err.Error(), "no key") }},
		{"newer Rewind", newer, box, func(err error) bool { var e *db.ErrNewerStore; return errors.As(err, &e) }},
		{"missing file", filepath.Join(t.TempDir(), "nope.db"), box, func(err error) bool { return errors.Is(err, os.ErrNotExist) }},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Restore(ctx, tt.src, path, tt.box)
			if err == nil || !tt.check(err) {
				t.Fatalf("restore of %s: got %v", tt.name, err)
			}
			if got := fileSum(t, path); got != storeSum {
				t.Errorf("the refused restore changed the store")
			}
			if entries, _ := filepath.Glob(filepath.Join(dataDir, "*before-restore*")); len(entries) > 0 {
				t.Errorf("the refused restore moved the store aside: %v", entries)
			}
		})
	}

	t.Run("running", func(t *testing.T) {
		release, err := Lock(path)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		_, err = Restore(ctx, backup, path, box)
		var inUse *InUseError
		if !errors.As(err, &inUse) || inUse.PID != os.Getpid() {
			t.Fatalf("restore while Rewind runs: got %v", err)
		}
		if _, err := Lock(path); !errors.As(err, &inUse) {
			t.Fatalf("a second Lock: got %v", err)
		}
	})

	t.Run("restores", func(t *testing.T) {
		info, err := Restore(ctx, backup, path, box)
		if err != nil {
			t.Fatal(err)
		}
		if fileSum(t, backup) != backupSum {
			t.Error("restore changed the backup file")
		}
		if !strings.HasPrefix(info.Kept, path+".before-restore-") || fileSum(t, info.Kept) != storeSum {
			t.Errorf("the replaced store was not kept as it was: %+v", info)
		}
		r, err := Open(ctx, path, box)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		latest, err := r.LatestVersion(ctx, tg.ID)
		if err != nil {
			t.Fatal(err)
		}
		if latest.Number != 30 || latest.Images[0].Image != image90(30) {
			t.Errorf("restored store's latest version: %d %v, want 30 (the backup's)", latest.Number, latest.Images)
		}
		if n, err := r.CheckSealed(ctx); err != nil || n != 1 {
			t.Errorf("sealed credentials after restore: %d, %v", n, err)
		}
	})
}

func TestOpenDamagedStore(t *testing.T) {
	ctx := context.Background()
	box := newBox(t, 1)
	path := filepath.Join(t.TempDir(), "rewind.db")
	s, err := Open(ctx, path, box)
	if err != nil {
		t.Fatal(err)
	}
	seedStore(t, s, 2000)
	s.Close()
	if _, err := os.Stat(path + "-wal"); err == nil {
		t.Fatal("the store left its log behind after Close")
	}
	corrupt(t, path)
	before := fileSum(t, path)
	_, err = Open(ctx, path, box)
	var d *DamagedError
	if !errors.As(err, &d) || d.Path != path || len(d.Problems) == 0 {
		t.Fatalf("open of a damaged store: got %v", err)
	}
	t.Logf("damage reported: %v", d.Problems)
	if fileSum(t, path) != before {
		t.Error("opening the damaged store changed it")
	}

	garbage := filepath.Join(t.TempDir(), "rewind.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a store "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, garbage, box); !errors.As(err, &d) {
		t.Fatalf("open of a file that is no database: got %v", err)
	}
}

// corrupt overwrites pages in the middle of a SQLite file with noise, as a
// failing disk or a copy of a store in use would.
func corrupt(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096
	pages := fi.Size() / page
	if pages < 8 {
		t.Fatalf("%s has only %d pages", path, pages)
	}
	noise := make([]byte, 3*page)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range noise {
		noise[i] = byte(r.Uint32())
	}
	if _, err := f.WriteAt(noise, (pages/2)*page); err != nil {
		t.Fatal(err)
	}
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
