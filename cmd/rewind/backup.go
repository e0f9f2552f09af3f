package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rewindhq/rewind/db"
	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/i18n"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/secret"
	"github.com/rewindhq/rewind/internal/sqlite"
)

// storeFile is the store's file name in the data folder.
const storeFile = "rewind.db"

// upkeepFlags parses the flags common to backup, restore and prune (the
// data folder and config file), plus the command's own, and returns the
// settings and the positional arguments. Positional arguments may come
// before or after the flags.
func upkeepFlags(name string, args []string, getenv func(string) string, own func(*flag.FlagSet)) (config.Config, []string, error) {
	fs := flag.NewFlagSet("rewind "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dataDir := fs.String("data-dir", "", "data folder (REWIND_DATA_DIR)")
	cfgPath := fs.String("config", "", "YAML config file (REWIND_CONFIG)")
	if own != nil {
		own(fs)
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return config.Config{}, nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	var cfgArgs []string
	if *dataDir != "" {
		cfgArgs = append(cfgArgs, "--data-dir", *dataDir)
	}
	if *cfgPath != "" {
		cfgArgs = append(cfgArgs, "--config", *cfgPath)
	}
	cfg, err := config.Load(cfgArgs, getenv)
	return cfg, pos, err
}

// backupCmd writes a consistent copy of the store while Rewind runs: to
// FILE, or with --dir to a new timestamped file there, keeping the newest
// --keep backups of that folder.
func backupCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	p := cliPrinter(getenv)
	var dir string
	var keep int
	cfg, pos, err := upkeepFlags("backup", args, getenv, func(fs *flag.FlagSet) {
		fs.StringVar(&dir, "dir", "", "write rewind-TIME.db into this folder")
		fs.IntVar(&keep, "keep", 0, "with --dir: keep only the newest N backups there")
	})
	if err != nil {
		return err
	}
	if (len(pos) == 1) == (dir != "") || len(pos) > 1 || keep < 0 || (keep > 0 && dir == "") {
		return rewind.Errorf(rewind.EINVALID, "Usage: rewind backup FILE, or rewind backup --dir FOLDER [--keep N].")
	}
	dest := ""
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		dest = filepath.Join(dir, "rewind-"+time.Now().UTC().Format("20060102T150405.000Z")+".db")
	} else {
		dest = pos[0]
	}
	store, err := openExisting(ctx, cfg.DataDir)
	if err != nil {
		return err
	}
	defer store.Close()
	info, err := store.Backup(ctx, dest)
	if err != nil {
		return explainStoreError(err, cfg.DataDir)
	}
	fmt.Fprintln(stdout, p.T("Backup written to %s (%s, schema version %d).", info.Path, humanBytes(info.Bytes), info.SchemaVersion))
	fmt.Fprintln(stdout, p.T("Keep a copy of %s with your backups: the credentials in the store are sealed with it, and it never changes.", filepath.Join(cfg.DataDir, "secret.key")))
	if keep > 0 {
		removed, err := removeOldBackups(dir, keep)
		if err != nil {
			return err
		}
		for _, r := range removed {
			fmt.Fprintln(stdout, p.T("Removed old backup %s.", r))
		}
	}
	return nil
}

// removeOldBackups removes all but the newest keep files rewind-*.db in dir.
func removeOldBackups(dir string, keep int) ([]string, error) {
	names, err := filepath.Glob(filepath.Join(dir, "rewind-*.db"))
	if err != nil {
		return nil, err
	}
	slices.Sort(names) // the timestamp sorts them oldest first
	var removed []string
	for len(names) > keep {
		if err := os.Remove(names[0]); err != nil {
			return removed, err
		}
		removed, names = append(removed, names[0]), names[1:]
	}
	return removed, nil
}

// restoreCmd replaces the store with a backup, once it passed its checks;
// it refuses while Rewind runs on the data folder.
func restoreCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	p := cliPrinter(getenv)
	cfg, pos, err := upkeepFlags("restore", args, getenv, nil)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return rewind.Errorf(rewind.EINVALID, "Usage: rewind restore FILE (stop Rewind first).")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	// The key is read, never created: a backup's credentials open only with
	// the key they were sealed with.
	var box sqlite.Sealer
	key, err := os.ReadFile(filepath.Join(cfg.DataDir, "secret.key"))
	switch {
	case err == nil:
		b, err := secret.NewBox(key)
		if err != nil {
			return err
		}
		box = b
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	info, err := sqlite.Restore(ctx, pos[0], filepath.Join(cfg.DataDir, storeFile), box)
	if err != nil {
		return explainStoreError(err, cfg.DataDir)
	}
	fmt.Fprintln(stdout, p.T("Restored %s (%s, schema version %d) into %s.", info.Path, humanBytes(info.Bytes), info.SchemaVersion, cfg.DataDir))
	if info.Kept != "" {
		fmt.Fprintln(stdout, p.T("The store it replaced is kept as %s; remove it once Rewind runs well.", info.Kept))
	}
	fmt.Fprintln(stdout, p.T("Start Rewind again; it applies any newer migrations at start."))
	return nil
}

// pruneCmd applies the configured retention once, or with --dry-run says
// what it would remove. A running Rewind applies it daily by itself.
func pruneCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	p := cliPrinter(getenv)
	var dry bool
	cfg, pos, err := upkeepFlags("prune", args, getenv, func(fs *flag.FlagSet) {
		fs.BoolVar(&dry, "dry-run", false, "only count what would be removed")
	})
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return rewind.Errorf(rewind.EINVALID, "Usage: rewind prune [--dry-run] [--config FILE].")
	}
	policy := cfg.RetentionPolicy()
	if len(policy) == 0 {
		fmt.Fprintln(stdout, p.T("No retention is set: every version is kept. Set retention in the config file to remove old versions."))
		return nil
	}
	store, err := openExisting(ctx, cfg.DataDir)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := checkSchema(ctx, store); err != nil {
		return err
	}
	counts, err := store.Prune(ctx, policy, dry)
	for _, kind := range rewind.RetentionKinds {
		r, ok := policy[kind]
		if !ok || !r.Set() {
			continue
		}
		if dry {
			fmt.Fprintln(stdout, p.N(counts[kind], "%s: %d version would be removed (dry run).", kind, counts[kind]))
		} else {
			fmt.Fprintln(stdout, p.N(counts[kind], "%s: %d version removed.", kind, counts[kind]))
		}
	}
	return err
}

// openExisting opens the store of dataDir for upkeep, without migrating it.
func openExisting(ctx context.Context, dataDir string) (*sqlite.Store, error) {
	key, err := os.ReadFile(filepath.Join(dataDir, "secret.key"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var box sqlite.Sealer
	if err == nil {
		if box, err = secret.NewBox(key); err != nil {
			return nil, err
		}
	}
	path := filepath.Join(dataDir, storeFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, rewind.Errorf(rewind.ENOTFOUND, "There is no store in %s: check --data-dir (or REWIND_DATA_DIR).", dataDir)
	}
	store, err := sqlite.OpenExisting(ctx, path, box)
	if err != nil {
		return nil, explainStoreError(err, dataDir)
	}
	return store, nil
}

// checkSchema refuses to change a store whose schema this Rewind does not
// have exactly: retention must run with the store's own version.
func checkSchema(ctx context.Context, store *sqlite.Store) error {
	have, err := store.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	ms, err := db.Migrations()
	if err != nil {
		return err
	}
	if have != len(ms) {
		return rewind.Errorf(rewind.ECONFLICT, "The store is at schema version %d, this Rewind at %d: run the same version as the server (or let the server apply retention).", have, len(ms))
	}
	return nil
}

// explainStoreError turns what went wrong with a store into a message that
// says what to do.
func explainStoreError(err error, dataDir string) error {
	var (
		damaged *sqlite.DamagedError
		inUse   *sqlite.InUseError
		sealed  *sqlite.SealedError
		newer   *db.ErrNewerStore
	)
	switch {
	case errors.As(err, &damaged):
		return rewind.Errorf(rewind.EINTERNAL, "The store %s is damaged (%s). Nothing was changed.\nWhat to do:\n  1. Stop Rewind and keep a copy of the damaged file.\n  2. Restore your latest backup: rewind restore BACKUP_FILE --data-dir %s (the damaged store is kept beside it).\n  3. Without a backup, let SQLite save what it can: sqlite3 %s .recover > recovered.sql; sqlite3 recovered.db < recovered.sql; then rewind restore recovered.db --data-dir %s.",
			damaged.Path, strings.Join(damaged.Problems, "; "), dataDir, damaged.Path, dataDir)
	case errors.As(err, &inUse):
		return rewind.Errorf(rewind.ECONFLICT, "Rewind is running on %s (process %d): stop it first (in Kubernetes: kubectl scale deployment rewind --replicas=0), then run the command again. Nothing was changed.", dataDir, inUse.PID)
	case errors.As(err, &sealed) && sealed.NoKey:
		return rewind.Errorf(rewind.EINVALID, "The backup holds sealed credentials, but %s has no secret.key: copy the secret.key kept with the backup into %s, then restore again. Nothing was changed.", dataDir, dataDir)
	case errors.As(err, &sealed):
		return rewind.Errorf(rewind.EINVALID, "The backup's credentials were sealed with another key than %s: put the secret.key kept with the backup there, then restore again. Nothing was changed.", filepath.Join(dataDir, "secret.key"))
	case errors.As(err, &newer):
		return rewind.Errorf(rewind.EINVALID, "The backup was written by a newer Rewind (schema version %d; this one knows up to %d): restore it with that version. Nothing was changed.", newer.Have, newer.Know)
	}
	return err
}

// humanBytes writes a size as people read it: 812 KB, 1.4 MB.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// cliPrinter speaks the language of the command line: REWIND_LANG, else
// LC_ALL, LC_MESSAGES or LANG (zh_CN.UTF-8 → Chinese), else English.
func cliPrinter(getenv func(string) string) i18n.Printer {
	for _, name := range []string{"REWIND_LANG", "LC_ALL", "LC_MESSAGES", "LANG"} {
		v := getenv(name)
		if v == "" {
			continue
		}
		v, _, _ = strings.Cut(v, ".")
		v, _, _ = strings.Cut(v, "@")
		l, _ := i18n.Parse(v)
		return i18n.For(l)
	}
	return i18n.For(i18n.English)
}
