package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/rewindhq/rewind/internal/client"
)

// exitError ends the program with its code; main prints its message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// exitBlocked is the exit code of `rewind release check` for a blocked
// release name.
const exitBlocked = 3

const releaseUsage = `usage:
  rewind release start --workflow W [--env E] --name N [--commit SHA] [--url URL] [-q]
  rewind release finish (--id ID | --workflow W [--env E] --name N) [--item TARGET_ID@VERSION]...
  rewind release fail   (--id ID | --workflow W [--env E] --name N) [--note TEXT] [--item ...]
  rewind release check W N [--env E]           exit 0 if N may go out, 3 if it is blocked
  rewind release block|unblock (--id ID | --workflow W --name N) --reason TEXT
  rewind release show (--id ID | --workflow W --name N)
  rewind release list --workflow W [--env E]
  rewind release rollback (--id ID | --workflow W --name N) --reason TEXT [--to RELEASE_ID] [--confirm KEY=DATA_ID]... [--dry-run]
                                               show the plan and ask for it as one request`

// releaseCmd runs `rewind release ...` and `rewind workflow list`.
func releaseCmd(ctx context.Context, cmd string, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	output := fs.String("o", "table", "output: table or json")
	quiet := fs.Bool("q", false, "start: print only the release ID")
	workflow := fs.String("workflow", "", "the workflow's name")
	env := fs.String("env", "", "the workflow's environment, when its name is in several")
	name := fs.String("name", "", "the release's name, such as 1.4.2")
	commit := fs.String("commit", "", "start: the commit released")
	link := fs.String("url", "", "start: the pipeline run")
	id := fs.Int64("id", 0, "the release's ID (instead of --workflow and --name)")
	note := fs.String("note", "", "fail: why")
	reason := fs.String("reason", "", "block, unblock, rollback: why")
	to := fs.Int64("to", 0, "rollback: the ID of an earlier release to return to (default: the state before the release)")
	dryRun := fs.Bool("dry-run", false, "rollback: show the plan, ask for nothing")
	confirm := map[string]string{}
	fs.Func("confirm", "rollback: KEY=DATA_ID, typed to allow deleting a config the release created (repeatable)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return errors.New("give --confirm KEY=DATA_ID")
		}
		confirm[k] = v
		return nil
	})
	var items []string
	fs.Func("item", "finish, fail: a version the release made, TARGET_ID@VERSION (repeatable)", func(s string) error {
		items = append(items, s)
		return nil
	})
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
	if len(pos) == 0 {
		return errors.New(releaseUsage)
	}
	sub := pos[0]
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
	// release finds the release named by --id, or --workflow and --name.
	release := func() (int64, error) {
		switch {
		case *id > 0:
			return *id, nil
		case *workflow != "" && *name != "":
			r, err := c.FindRelease(ctx, *workflow, *env, *name)
			if err != nil {
				return 0, err
			}
			return r.ID, nil
		}
		return 0, fmt.Errorf("release %s: give --id, or --workflow and --name", sub)
	}
	showRelease := func(r *client.Release) error { return show(r, func(w *tabwriter.Writer) { releaseTable(w, r) }) }

	if cmd == "workflow" {
		if sub != "list" {
			return errors.New("usage: rewind workflow list [--env E] [-o json]")
		}
		p, err := c.Workflows(ctx, url.Values{"environment": {*env}, "per_page": {"200"}})
		if err != nil {
			return err
		}
		return show(p, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "ID\tENVIRONMENT\tWORKFLOW\tCURRENT\tHEALTH\tUNRELEASED\tTARGETS")
			for _, wf := range p.Items {
				cur := "-"
				if wf.Current != nil {
					cur = wf.Current.Name
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%d\t%d\n", wf.ID, wf.Environment, wf.Name, cur, wf.Health, wf.Unreleased, len(wf.Targets))
			}
		})
	}

	switch sub {
	case "start":
		if *workflow == "" || *name == "" {
			return errors.New("release start: give --workflow and --name")
		}
		r, err := c.StartRelease(ctx, client.NewRelease{Workflow: *workflow, Environment: *env, Name: *name, Commit: *commit, URL: *link})
		if err != nil {
			return err
		}
		switch {
		case *quiet:
			fmt.Fprintln(stdout, r.ID) // so that ID=$(rewind release start ... -q) works
			return nil
		case *output == "json":
			return showRelease(r)
		}
		fmt.Fprintf(stdout, "Started release %s (#%d) of %s: ID %d\n", r.Name, r.Number, *workflow, r.ID)
		return nil
	case "finish", "fail":
		rid, err := release()
		if err != nil {
			return err
		}
		var r *client.Release
		if sub == "finish" {
			if *note != "" {
				return errors.New("release finish: --note is for fail")
			}
			r, err = c.FinishRelease(ctx, rid, items)
		} else {
			r, err = c.FailRelease(ctx, rid, *note, items)
		}
		if err != nil {
			return err
		}
		return showRelease(r)
	case "block", "unblock":
		rid, err := release()
		if err != nil {
			return err
		}
		r, err := c.BlockRelease(ctx, rid, sub == "block", *reason)
		if err != nil {
			return err
		}
		return showRelease(r)
	case "show":
		rid, err := release()
		if err != nil {
			return err
		}
		r, err := c.Release(ctx, rid)
		if err != nil {
			return err
		}
		return showRelease(r)
	case "list":
		if *workflow == "" {
			return errors.New("release list: give --workflow")
		}
		w, err := c.FindWorkflow(ctx, *workflow, *env)
		if err != nil {
			return err
		}
		p, err := c.Releases(ctx, w.ID, "", 1, 50)
		if err != nil {
			return err
		}
		return show(p, func(tw *tabwriter.Writer) {
			fmt.Fprintln(tw, "ID\tNUMBER\tNAME\tSTATUS\tSTARTED\tBY\tITEMS")
			for _, r := range p.Items {
				fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Number, r.Name, strings.Join(r.Labels, ", "),
					r.StartedAt.Local().Format("2006-01-02 15:04"), r.StartedBy, r.Counts.Text)
			}
		})
	case "rollback":
		rid, err := release()
		if err != nil {
			return err
		}
		p, err := c.ReleasePlan(ctx, rid, *to)
		if err != nil {
			return err
		}
		if *dryRun || *output == "json" {
			if err := show(p, func(w *tabwriter.Writer) { planTable(w, p) }); err != nil || *dryRun {
				return err
			}
		} else {
			w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			planTable(w, p)
			w.Flush()
		}
		r, err := c.RollbackRelease(ctx, rid, client.ReleaseRollback{Reason: *reason, Plan: p.Plan, ToReleaseID: *to, Confirm: confirm})
		if err != nil {
			return err
		}
		if *output == "json" {
			return show(r, nil)
		}
		fmt.Fprintf(stdout, "Rollback request #%d: %d steps, %s.\n", r.ID, len(r.Steps), r.State)
		return nil
	case "check":
		wf, rel := *workflow, *name
		if len(pos) == 3 {
			wf, rel = pos[1], pos[2]
		}
		if wf == "" || rel == "" {
			return errors.New("usage: rewind release check WORKFLOW NAME [--env E]")
		}
		res, err := c.CheckRelease(ctx, wf, *env, rel)
		if err != nil {
			return err
		}
		if *output == "json" {
			if err := show(res, nil); err != nil {
				return err
			}
		} else if !res.Blocked {
			fmt.Fprintln(stdout, res.Message)
		}
		if res.Blocked {
			return &exitError{code: exitBlocked, msg: res.Message}
		}
		return nil
	}
	return errors.New(releaseUsage)
}

func releaseTable(w *tabwriter.Writer, r *client.Release) {
	fmt.Fprintf(w, "RELEASE\t%s (#%d, ID %d)\nSTATUS\t%s\nSTARTED\t%s by %s\n", r.Name, r.Number, r.ID, strings.Join(r.Labels, ", "),
		r.StartedAt.Local().Format("2006-01-02 15:04:05"), r.StartedBy)
	if r.Commit != "" {
		fmt.Fprintf(w, "COMMIT\t%s\n", r.Commit)
	}
	if r.URL != "" {
		fmt.Fprintf(w, "URL\t%s\n", r.URL)
	}
	if r.Note != "" {
		fmt.Fprintf(w, "NOTE\t%s\n", r.Note)
	}
	if r.Blocked {
		fmt.Fprintf(w, "BLOCKED\tby %s: %s\n", r.BlockedBy, r.BlockReason)
	}
	fmt.Fprintf(w, "ITEMS\t%s\n", r.Counts.Text)
	for _, it := range r.Items {
		before := "new"
		if it.BeforeVersion != 0 {
			before = "from " + strconv.FormatInt(it.BeforeVersion, 10)
		}
		fmt.Fprintf(w, "  %s\t%s@%d (%s, %s, %s)\n", it.Kind, it.Target, it.Version, before, it.How, "target "+strconv.FormatInt(it.TargetID, 10))
	}
}

// planTable prints a release's rollback plan, a step a line.
func planTable(w *tabwriter.Writer, p *client.Plan) {
	fmt.Fprintln(w, "KEY\tKIND\tTARGET\tSTEP\tCHECKS")
	for _, st := range p.Steps {
		what := st.Detail
		switch {
		case st.AlreadyThere:
			what = "already there: skipped"
		case st.Blocked != "":
			what = "blocked: " + st.Blocked
		}
		var checks []string
		for _, ch := range st.Checks {
			mark := "ok"
			if !ch.OK {
				mark = "FAILED"
			}
			checks = append(checks, ch.Name+" "+mark)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", st.Key, st.Kind, st.Target, what, strings.Join(checks, ", "))
	}
	for _, warn := range p.Warnings {
		fmt.Fprintln(w, "warning:\t"+warn)
	}
}
