package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rewindhq/rewind/internal/client"
)

// clientConfig is what `rewind login` stores.
type clientConfig struct {
	Server string `json:"server"`
	Token  string `json:"token"`
}

func configPath(getenv func(string) string) (string, error) {
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		var err error
		if dir, err = os.UserConfigDir(); err != nil {
			return "", fmt.Errorf("find the config directory: %w", err)
		}
	}
	return filepath.Join(dir, "rewind", "config.json"), nil
}

// apiClient returns a client from REWIND_SERVER and REWIND_TOKEN, or else
// from the file `rewind login` wrote.
func apiClient(getenv func(string) string) (*client.Client, error) {
	cfg := clientConfig{Server: getenv("REWIND_SERVER"), Token: getenv("REWIND_TOKEN")}
	if cfg.Server == "" || cfg.Token == "" {
		path, err := configPath(getenv)
		if err != nil {
			return nil, err
		}
		var saved clientConfig
		if b, err := os.ReadFile(path); err == nil {
			if err := json.Unmarshal(b, &saved); err != nil {
				return nil, fmt.Errorf("read %s: %w", path, err)
			}
		}
		cfg.Server, cfg.Token = cmp(cfg.Server, saved.Server), cmp(cfg.Token, saved.Token)
	}
	if cfg.Server == "" || cfg.Token == "" {
		return nil, errors.New("no server or token: run `rewind login --server URL`, or set REWIND_SERVER and REWIND_TOKEN")
	}
	return client.New(cfg.Server, cfg.Token), nil
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// loginCmd checks a token against the server and stores both, readable by the user alone.
func loginCmd(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	server := fs.String("server", getenv("REWIND_SERVER"), "the Rewind server's URL")
	token := fs.String("token", "", "the API token (default: read from stdin)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *server == "" {
		return errors.New("login: give --server URL")
	}
	if *token == "" {
		fmt.Fprintln(stdout, "Paste an API token (from your Rewind profile page):")
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("login: read the token: %w", err)
		}
		*token = strings.TrimSpace(line)
	}
	c := client.New(*server, *token)
	me, err := c.Me(ctx)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	path, err := configPath(getenv)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	b, _ := json.MarshalIndent(clientConfig{Server: c.Server, Token: *token}, "", "  ")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	fmt.Fprintf(stdout, "Logged in to %s as %s (%s); saved in %s.\n", c.Server, me.Username, me.Role, path)
	return nil
}

// clientCmd runs the commands that call the API.
func clientCmd(ctx context.Context, cmd string, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	output := fs.String("o", "table", "output: table or json")
	to := fs.Int64("to", 0, "rollback: the version to go back to")
	reason := fs.String("reason", "", "rollback, skip: why")
	key := fs.String("idempotency-key", "", "rollback: a key that makes a retry return the same request")
	comment := fs.String("comment", "", "approve, reject: a comment (required to reject)")
	env := fs.String("environment", "", "list: only this environment")
	q := fs.String("q", "", "list: part of the name")
	interval := fs.Duration("interval", 2*time.Second, "watch: how often to look")
	anyway := fs.Bool("submit-with-failing-preview", false, "sql submit: submit although the preview fails")
	release := fs.Int64("release", 0, "sql submit: the ID of the open release the change belongs to")
	var pos []string
	rest := args
	for { // flags may follow the positional arguments
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos, rest = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	c, err := apiClient(getenv)
	if err != nil {
		return err
	}
	show := func(v any, table func(w *tabwriter.Writer)) error {
		if *output == "json" {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(v)
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		table(w)
		return w.Flush()
	}
	id := func(i int, what string) (int64, error) {
		if len(pos) <= i {
			return 0, fmt.Errorf("%s: give the %s", cmd, what)
		}
		n, err := strconv.ParseInt(pos[i], 10, 64)
		if err != nil || n < 1 {
			return 0, fmt.Errorf("%s: %s %q is not a number", cmd, what, pos[i])
		}
		return n, nil
	}
	switch cmd {
	case "services", "configs", "databases":
		if len(pos) != 1 || pos[0] != "list" {
			return fmt.Errorf("usage: rewind %s list [--environment ENV] [--q TEXT] [-o json]", cmd)
		}
		p, err := c.Targets(ctx, cmd, url.Values{"environment": {*env}, "q": {*q}, "per_page": {"200"}})
		if err != nil {
			return err
		}
		return show(p, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "ID\tENVIRONMENT\tTARGET\tVERSIONS\tLATEST")
			for _, t := range p.Items {
				latest := "-"
				if t.Latest != nil {
					latest = strconv.FormatInt(t.Latest.Number, 10) + " " + t.Latest.CreatedAt.Local().Format("2006-01-02 15:04")
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%s\n", t.ID, t.Environment, t.Label, t.Versions, latest)
			}
		})
	case "versions":
		t, err := id(0, "target ID")
		if err != nil {
			return err
		}
		p, err := c.Versions(ctx, t, 1, 50)
		if err != nil {
			return err
		}
		return show(p, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "VERSION\tCREATED\tSOURCE\tAUTHOR\tIMAGES")
			for _, v := range p.Items {
				var imgs []string
				for _, im := range v.Images {
					imgs = append(imgs, im.Image)
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", v.Number, v.CreatedAt.Local().Format("2006-01-02 15:04"), v.Source, v.Author, strings.Join(imgs, ","))
			}
		})
	case "diff":
		t, err := id(0, "target ID")
		if err != nil {
			return err
		}
		a, err := id(1, "first version")
		if err != nil {
			return err
		}
		b, err := id(2, "second version")
		if err != nil {
			return err
		}
		d, err := c.Diff(ctx, t, a, b)
		if err != nil {
			return err
		}
		return show(d, func(w *tabwriter.Writer) {
			for _, ic := range d.ImageChanges {
				fmt.Fprintf(w, "image %s: %s -> %s\n", ic.Container, ic.Old, ic.New)
			}
			for _, k := range d.ChangedKeys {
				fmt.Fprintf(w, "key %s %s\n", k.Kind, k.Key)
			}
			for _, h := range d.Hunks {
				fmt.Fprintln(w, h.Header)
				for _, l := range h.Lines {
					fmt.Fprintln(w, l)
				}
			}
		})
	case "rollback":
		t, err := id(0, "target ID")
		if err != nil {
			return err
		}
		r, err := c.Rollback(ctx, t, *to, *reason, *key)
		if err != nil {
			return err
		}
		if *output == "table" {
			fmt.Fprintln(stdout, r.ID) // so that ID=$(rewind rollback ...) works
			return nil
		}
		return show(r, nil)
	case "approve", "reject", "cancel", "show", "retry", "skip":
		rid, err := id(0, "request ID")
		if err != nil {
			return err
		}
		var r *client.Request
		switch cmd {
		case "approve", "reject":
			r, err = c.Decide(ctx, rid, cmd == "approve", *comment)
		case "cancel":
			r, err = c.Cancel(ctx, rid)
		case "retry":
			r, err = c.Retry(ctx, rid)
		case "skip":
			r, err = c.Skip(ctx, rid, *reason)
		default:
			r, err = c.Request(ctx, rid)
		}
		if err != nil {
			return err
		}
		return show(r, func(w *tabwriter.Writer) { requestTable(w, r) })
	case "sql":
		if len(pos) != 3 || pos[0] != "submit" {
			return errors.New("usage: rewind sql submit DATABASE FILE --reason TEXT [--release ID]")
		}
		pos = pos[1:]
		d, err := id(0, "database target ID")
		if err != nil {
			return err
		}
		text, err := os.ReadFile(pos[1])
		if err != nil {
			return fmt.Errorf("sql submit: %w", err)
		}
		r, err := c.SubmitSQL(ctx, d, string(text), *reason, *anyway, *release)
		if err != nil {
			return err
		}
		if *output == "table" {
			fmt.Fprintln(stdout, r.ID)
			return nil
		}
		return show(r, nil)
	case "watch":
		rid, err := id(0, "request ID")
		if err != nil {
			return err
		}
		r, err := c.Watch(ctx, rid, *interval, func(r *client.Request) {
			if *output == "table" {
				fmt.Fprintf(stdout, "%s  #%d %s: %s\n", time.Now().Format("15:04:05"), r.ID, r.State, r.Outcome)
			}
		})
		if err != nil {
			return err
		}
		if *output == "json" {
			_ = show(r, nil)
		}
		if r.State != "succeeded" {
			return fmt.Errorf("request #%d ended %s", r.ID, r.State)
		}
		return nil
	}
	return fmt.Errorf("unknown command %q", cmd)
}

func requestTable(w *tabwriter.Writer, r *client.Request) {
	fmt.Fprintf(w, "REQUEST\t#%d\nTARGET\t%s (%s)\nSTATE\t%s\nREQUESTER\t%s\nREASON\t%s\n", r.ID, r.Target, r.Environment, r.State, r.Requester, r.Reason)
	for _, a := range r.Approvals {
		verb := "approved"
		if !a.Approve {
			verb = "rejected"
		}
		fmt.Fprintf(w, "APPROVAL\t%s %s %s\n", a.Approver, verb, a.Comment)
	}
	if r.Outcome != "" {
		fmt.Fprintf(w, "OUTCOME\t%s\n", r.Outcome)
	}
}
