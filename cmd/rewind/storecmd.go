package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/postgres"
	"github.com/rewindhq/rewind/internal/secret"
	"github.com/rewindhq/rewind/internal/sqlite"
)

const storeUsage = `Usage: rewind store copy --from sqlite:PATH --to postgres://... [--secret-key-file FILE]

Copies every row of a SQLite store into a new, empty PostgreSQL store, in one
transaction, then reads every row back from both and compares them. The
secret key is the SQLite install's (secret.key beside PATH, or FILE, or
REWIND_SECRET_KEY): give the same key to every replica of the PostgreSQL
store. Stop the SQLite Rewind first, so that nothing changes during the copy.`

// storeCmd runs `rewind store ...`.
func storeCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "copy" {
		return errors.New(storeUsage)
	}
	fs := flag.NewFlagSet("rewind store copy", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	from := fs.String("from", "", "the SQLite store: sqlite:PATH")
	to := fs.String("to", "", "the PostgreSQL store: postgres://...")
	keyFile := fs.String("secret-key-file", "", "the secret key (default: secret.key beside the SQLite store)")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w\n%s", err, storeUsage)
	}
	path, ok := strings.CutPrefix(*from, "sqlite:")
	if !ok || path == "" || !postgres.IsURL(*to) {
		return errors.New(storeUsage)
	}
	cfg := config.Config{DataDir: filepath.Dir(path), SecretKeyFile: *keyFile, SecretKey: getenv("REWIND_SECRET_KEY")}
	if cfg.SecretKeyFile == "" {
		cfg.SecretKeyFile = getenv("REWIND_SECRET_KEY_FILE")
	}
	if cfg.SecretKeyFile == "" && cfg.SecretKey == "" {
		cfg.SecretKeyFile = filepath.Join(cfg.DataDir, "secret.key")
	}
	key, err := secretKey(cfg)
	if err != nil {
		return err
	}
	box, err := secret.NewBox(key)
	if err != nil {
		return err
	}
	src, err := sqlite.Open(ctx, path, box)
	if err != nil {
		return fmt.Errorf("the SQLite store %s: %w", path, err)
	}
	defer src.Close()
	dst, err := sqlite.Open(ctx, *to, box)
	if err != nil {
		return err
	}
	defer dst.Close()
	rep, err := src.CopyTo(ctx, dst)
	if err != nil {
		return err
	}
	p := cliPrinter(getenv)
	for _, t := range rep.Tables {
		fmt.Fprintf(stdout, "%-24s %s\n", t.Table, p.N(int(t.Rows), "%d row", t.Rows))
	}
	fmt.Fprintln(stdout, p.T("Copied %d rows into %s and checked each against the SQLite store.", rep.Rows(), postgres.Redact(*to, *to)))
	fmt.Fprintln(stdout, p.T("Give every replica the same secret key as this SQLite install (--secret-key-file or REWIND_SECRET_KEY)."))
	return nil
}
