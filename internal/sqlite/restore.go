package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// InUseError says that a running Rewind holds the store's lock.
type InUseError struct {
	Path string // the store
	PID  int    // the process that holds it, when known
}

func (e *InUseError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("store %s is in use by a running Rewind (process %d)", e.Path, e.PID)
	}
	return fmt.Sprintf("store %s is in use by a running Rewind", e.Path)
}

// Lock takes the lock of the store at path (a file beside it, path.lock)
// for as long as a Rewind serves from it, so that no second Rewind serves
// from it and no restore replaces it meanwhile. It does not wait: a lock
// held elsewhere gives an *InUseError. release gives it back.
func Lock(path string) (release func(), err error) {
	lockPath := path + ".lock"
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock store: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid := 0
		if b, rerr := io.ReadAll(io.LimitReader(f, 32)); rerr == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &InUseError{Path: path, PID: pid}
		}
		return nil, fmt.Errorf("lock store: %w", err)
	}
	// The holder's process ID, for the message of whoever finds it taken.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		_ = f.Truncate(0)
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// RestoreInfo describes a restore that was done.
type RestoreInfo struct {
	BackupInfo
	// Kept is where the store that was replaced now lies ("" when there
	// was none).
	Kept string
}

// Restore replaces the store at path with the backup at src. It refuses
// while a Rewind serves from path (see Lock), copies src beside the store,
// checks the copy (CheckBackup: integrity, schema, and that its sealed
// credentials open with box), and only then moves the current store aside
// (path.before-restore-TIME, with its write-ahead log) and the copy in its
// place. src is never changed; on any failure the store is as it was.
func Restore(ctx context.Context, src, path string, box Sealer) (RestoreInfo, error) {
	release, err := Lock(path)
	if err != nil {
		return RestoreInfo{}, err
	}
	defer release()

	in, err := os.Open(src)
	if err != nil {
		return RestoreInfo{}, fmt.Errorf("restore: %w", err)
	}
	defer in.Close()
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".restore-*.db")
	if err != nil {
		return RestoreInfo{}, fmt.Errorf("restore: %w", err)
	}
	tmpPath := tmp.Name()
	defer func() {
		for _, p := range []string{tmpPath, tmpPath + "-wal", tmpPath + "-shm"} {
			os.Remove(p)
		}
	}()
	_, err = io.Copy(tmp, in)
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return RestoreInfo{}, fmt.Errorf("restore: copy %s: %w", src, err)
	}
	info, err := CheckBackup(ctx, tmpPath, box)
	if err != nil {
		return RestoreInfo{}, err
	}
	// Fold the copy's log (if opening it made one) into the file.
	if err := checkpoint(ctx, tmpPath); err != nil {
		return RestoreInfo{}, fmt.Errorf("restore: %w", err)
	}
	info.Path = src

	out := RestoreInfo{BackupInfo: info}
	if _, err := os.Stat(path); err == nil {
		out.Kept = path + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(path, out.Kept); err != nil {
			return RestoreInfo{}, fmt.Errorf("restore: move the current store aside: %w", err)
		}
		// The log belongs to the store moved aside: it goes with it.
		if err := os.Rename(path+"-wal", out.Kept+"-wal"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return RestoreInfo{}, fmt.Errorf("restore: move the current store's log aside: %w", err)
		}
		os.Remove(path + "-shm")
	}
	if err := os.Rename(tmpPath, path); err != nil {
		return RestoreInfo{}, fmt.Errorf("restore: %w", err)
	}
	if err := syncFile(dir); err != nil {
		return RestoreInfo{}, fmt.Errorf("restore: %w", err)
	}
	return out, nil
}

// checkpoint opens the store file at path, folds its write-ahead log into
// it and leaves no log behind.
func checkpoint(ctx context.Context, path string) error {
	s, err := OpenExisting(ctx, path, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `PRAGMA journal_mode = DELETE`)
	return err
}
