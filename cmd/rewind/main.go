// Command rewind is the release rollback console: `rewind serve` starts the
// dashboard; other subcommands manage the store and users.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/rewindhq/rewind/internal/rewind"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		msg := err.Error()
		var re *rewind.Error
		if errors.As(err, &re) {
			msg = cliPrinter(os.Getenv).Error(err)
		}
		fmt.Fprintln(os.Stderr, "rewind:", msg)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `Usage: rewind <command> [flags]

Commands:
  serve                          start the dashboard
  migrate                        apply the history store's migrations and exit
  user add NAME --role ROLE      add a user (password from stdin, or generated)
  user set-password NAME         set a user's password (from stdin, or generated)
  user list                      list users
  backup FILE | --dir DIR [--keep N]
                                 copy the store while Rewind runs (keep secret.key with it)
  restore FILE                   replace the store with a checked backup (Rewind stopped)
  prune [--dry-run]              remove old versions as the retention in the config allows
  version                        print the version

API client (server and token from "rewind login", or REWIND_SERVER and REWIND_TOKEN):
  login --server URL [--token T] check an API token and save it (0600)
  services|configs|databases list [--environment ENV] [--q TEXT]
  versions TARGET                list a target's versions (TARGET is its ID)
  diff TARGET A B                compare versions A and B
  rollback TARGET --to N --reason TEXT [--idempotency-key K]
                                 ask for a rollback; prints the request ID
  show|approve|reject|cancel ID [--comment TEXT]
  retry ID | skip ID --reason TEXT
                                 go on with a plan stopped at a failed step
  watch ID                       follow a request; exit 0 only if it succeeded
  sql submit DATABASE FILE --reason TEXT [--release ID]
                                 submit a SQL change; prints the request ID
  workflow list [--env E]        list workflows with their current release and health
  release start --workflow W [--env E] --name N [--commit SHA] [--url URL] [-q]
                                 start a release; -q prints only its ID
  release finish|fail (--id ID | --workflow W --name N) [--item TARGET_ID@VERSION]... [--note TEXT]
  release check W N [--env E]    exit 0 if release N of W may go out, 3 if it is blocked
  release block|unblock (--id ID | --workflow W --name N) --reason TEXT
  release rollback (--id ID | --workflow W --name N) --reason TEXT [--to ID] [--dry-run]
                                 show the plan of the release's rollback and ask for it
  release show|list ...          run "rewind release" for all forms
  Add -o json to any of them for JSON.

Run "rewind serve --help" for the settings.`

// run is the whole program, apart from signals and the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stdout, usage)
		return nil
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		return migrate(ctx, args[1:], getenv, stdout)
	case "user":
		return userCmd(ctx, args[1:], getenv, stdin, stdout)
	case "backup":
		return backupCmd(ctx, args[1:], getenv, stdout)
	case "restore":
		return restoreCmd(ctx, args[1:], getenv, stdout)
	case "prune":
		return pruneCmd(ctx, args[1:], getenv, stdout)
	case "login":
		return loginCmd(ctx, args[1:], getenv, stdin, stdout)
	case "services", "configs", "databases", "versions", "diff", "rollback", "show", "approve", "reject", "cancel", "retry", "skip", "watch", "sql":
		return clientCmd(ctx, args[0], args[1:], getenv, stdout)
	case "release", "workflow":
		return releaseCmd(ctx, args[0], args[1:], getenv, stdout)
	case "version", "--version":
		fmt.Fprintln(stdout, "rewind", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}
