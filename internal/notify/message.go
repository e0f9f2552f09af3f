package notify

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/rewindhq/rewind/internal/diff"
	"github.com/rewindhq/rewind/internal/i18n"
	"github.com/rewindhq/rewind/internal/nacos"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/sqlchange"
)

// Facts is what composing a message reads of the store.
type Facts interface {
	Request(ctx context.Context, id int64) (*rewind.Request, error)
	Target(ctx context.Context, id int64) (*rewind.Target, error)
	Version(ctx context.Context, id int64) (*rewind.Version, error)
	Environment(ctx context.Context, id int64) (*rewind.Environment, error)
	Release(ctx context.Context, id int64) (*rewind.Release, error)
	Workflow(ctx context.Context, id int64) (*rewind.Workflow, error)
	Database(ctx context.Context, id int64) (*rewind.Database, error)
	SQLExecutionByStep(ctx context.Context, stepID int64) (*rewind.SQLExecution, error)
}

// ConfigFormats tells the format of a config's content ("yaml", "json",
// "properties", …), as the config pages read it; nil guesses from the
// content alone.
type ConfigFormats interface {
	Format(t *rewind.Target, content string) string
}

// Message is what a channel sends: a title, facts as label and value,
// the plan's steps with what each changes, and a link to the page. Every
// text is in one language already; none holds a secret.
type Message struct {
	Event  EventKind
	Title  string
	Facts  []Fact
	Steps  []StepLine
	More   string // "and 12 more steps", when the plan is cut short
	Link   string // the page, "" when no external URL is set
	Note   string // a warning: this may repeat a message sent before a stop
	Locale i18n.Locale
	// Data is the event in plain fields, for the generic webhook.
	Data EventData
}

// Fact is one labelled line of a message.
type Fact struct{ Label, Value string }

// StepLine is one step of a plan in a message: what it acts on, what it
// does, and its changes (images from → to, changed keys, statements and rows).
type StepLine struct {
	Position int
	Target   string
	Detail   string
	State    string
	Changes  []string
}

// EventData is the event as the generic webhook sends it, in English
// field names and values that code can read.
type EventData struct {
	Event       EventKind      `json:"event"`
	EventID     int64          `json:"event_id,omitempty"`
	OccurredAt  string         `json:"occurred_at,omitempty"`
	Environment string         `json:"environment,omitempty"`
	Actor       string         `json:"actor,omitempty"`
	Detail      string         `json:"detail,omitempty"`
	Request     *RequestData   `json:"request,omitempty"`
	Release     *ReleaseData   `json:"release,omitempty"`
	Step        int            `json:"failed_step,omitempty"`
	URL         string         `json:"url,omitempty"`
	Extra       map[string]any `json:"extra,omitempty"`
}

// RequestData is a request in the generic webhook's body.
type RequestData struct {
	ID        int64      `json:"id"`
	Kind      string     `json:"kind"`
	State     string     `json:"state"`
	Requester string     `json:"requester"`
	Reason    string     `json:"reason"`
	Steps     []StepData `json:"steps"`
}

// StepData is a step in the generic webhook's body.
type StepData struct {
	Position int      `json:"position"`
	Kind     string   `json:"target_kind"`
	Target   string   `json:"target"`
	Detail   string   `json:"detail,omitempty"`
	State    string   `json:"state"`
	Changes  []string `json:"changes,omitempty"`
}

// ReleaseData is a release in the generic webhook's body.
type ReleaseData struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Workflow    string `json:"workflow"`
	Blocked     bool   `json:"blocked"`
	BlockedBy   string `json:"blocked_by,omitempty"`
	BlockReason string `json:"block_reason,omitempty"`
}

// Limits of a message, so that a plan of hundreds of steps or a config
// with thousands of changed keys still fits a chat message.
const (
	maxSteps       = 10
	maxChanges     = 6
	maxReasonRunes = 600
)

// Composer builds messages from outbox events.
type Composer struct {
	Facts Facts
	// Formats reads config formats; nil guesses from the content.
	Formats ConfigFormats
	// ExternalURL is where people open Rewind ("https://rewind.example.com"),
	// for links; "" leaves messages without one.
	ExternalURL string
}

// Compose builds the message of ev in locale l.
func (c *Composer) Compose(ctx context.Context, ev Event, l i18n.Locale) (*Message, error) {
	p := i18n.For(l)
	m := &Message{Event: ev.Kind, Locale: p.Locale(), Data: EventData{Event: ev.Kind, EventID: ev.ID, Actor: ev.Actor, Detail: ev.Detail, Step: ev.Step}}
	if !ev.At.IsZero() {
		m.Data.OccurredAt = ev.At.UTC().Format("2006-01-02T15:04:05Z")
	}
	env := "?"
	if e, err := c.Facts.Environment(ctx, ev.EnvironmentID); err == nil {
		env = e.Name
	}
	m.Data.Environment = env
	if ev.RequestID != 0 {
		if err := c.request(ctx, p, ev, env, m); err != nil {
			return nil, err
		}
	} else if ev.ReleaseID != 0 {
		if err := c.release(ctx, p, ev, env, m); err != nil {
			return nil, err
		}
	}
	m.Data.URL = m.Link
	return m, nil
}

// request fills m for an event of a request.
func (c *Composer) request(ctx context.Context, p i18n.Printer, ev Event, env string, m *Message) error {
	r, err := c.Facts.Request(ctx, ev.RequestID)
	if err != nil {
		return fmt.Errorf("message of event %d: %w", ev.ID, err)
	}
	kind := p.T("Rollback")
	if r.Kind == rewind.RequestChange {
		kind = p.T("SQL change")
	}
	what, steps := c.plan(ctx, p, r, m)
	m.Title = title(p, ev, env, kind, r, what)
	m.Facts = append(m.Facts, Fact{p.T("Environment"), env}, Fact{p.T("Requester"), r.Requester}, Fact{p.T("Reason"), cut(r.Reason, maxReasonRunes)})
	switch ev.Kind {
	case EventPending:
		m.Facts = append(m.Facts, Fact{p.T("Approvals"), p.T("%d of %d given", approvals(r), r.RequiredApprovals)})
	case EventApproved, EventRejected:
		m.Facts = append(m.Facts, Fact{p.T("By"), ev.Actor})
		if ev.Detail != "" {
			m.Facts = append(m.Facts, Fact{p.T("Comment"), cut(ev.Detail, maxReasonRunes)})
		}
	case EventCancelled:
		m.Facts = append(m.Facts, Fact{p.T("By"), ev.Actor})
	case EventSucceeded, EventFailed, EventStepFailed:
		if ev.Detail != "" {
			m.Facts = append(m.Facts, Fact{p.T("Outcome"), cut(ev.Detail, maxReasonRunes)})
		}
	}
	if now := string(r.State); now != eventState(ev.Kind) && eventState(ev.Kind) != "" {
		m.Facts = append(m.Facts, Fact{p.T("Now"), p.T(stateWord(r.State))})
	}
	for _, st := range steps {
		m.Steps = append(m.Steps, st.StepLine)
	}
	if n := len(r.Steps) - len(steps); n > 0 {
		m.More = p.N(n, "and %d more step", n)
	}
	if c.ExternalURL != "" {
		m.Link = c.ExternalURL + "/requests/" + strconv.FormatInt(r.ID, 10)
	}
	m.Data.Request = &RequestData{ID: r.ID, Kind: string(r.Kind), State: string(r.State), Requester: r.Requester, Reason: r.Reason}
	for _, st := range steps {
		m.Data.Request.Steps = append(m.Data.Request.Steps, StepData{Position: st.Position, Kind: st.kind, Target: st.Target, Detail: st.Detail, State: st.state, Changes: st.Changes})
	}
	return nil
}

// approvals counts the yes votes on r's plan as it is now.
func approvals(r *rewind.Request) int {
	n := 0
	for _, a := range r.Approvals {
		if a.Approve && a.PlanHash == r.PlanHash {
			n++
		}
	}
	return n
}

// title is a message's first line: where, what, and what happened.
func title(p i18n.Printer, ev Event, env, kind string, r *rewind.Request, what string) string {
	switch ev.Kind {
	case EventPending:
		return p.T("[%s] %s #%d waits for approval: %s", env, kind, r.ID, what)
	case EventApproved:
		return p.T("[%s] %s #%d approved: %s", env, kind, r.ID, what)
	case EventRejected:
		return p.T("[%s] %s #%d rejected: %s", env, kind, r.ID, what)
	case EventCancelled:
		return p.T("[%s] %s #%d cancelled: %s", env, kind, r.ID, what)
	case EventStarted:
		return p.T("[%s] %s #%d started: %s", env, kind, r.ID, what)
	case EventSucceeded:
		return p.T("[%s] %s #%d succeeded: %s", env, kind, r.ID, what)
	case EventFailed:
		return p.T("[%s] %s #%d failed: %s", env, kind, r.ID, what)
	case EventStepFailed:
		return p.T("[%s] %s #%d: step %d of %d failed: %s", env, kind, r.ID, ev.Step, len(r.Steps), what)
	}
	return p.T("[%s] %s #%d: %s", env, kind, r.ID, what)
}

// eventState is the state a request is in right after an event of kind k.
func eventState(k EventKind) string {
	switch k {
	case EventPending, EventApproved, EventRejected, EventCancelled, EventSucceeded, EventFailed:
		return strings.TrimPrefix(string(k), "request.")
	case EventStarted:
		return string(rewind.StateRunning)
	}
	return ""
}

// stateWord is a request's state as a message says it (a message ID).
func stateWord(s rewind.State) string {
	switch s {
	case rewind.StatePending:
		return i18n.M("waiting for approval")
	case rewind.StateApproved:
		return i18n.M("approved")
	case rewind.StateRunning:
		return i18n.M("running")
	case rewind.StateSucceeded:
		return i18n.M("succeeded")
	case rewind.StateFailed:
		return i18n.M("failed")
	case rewind.StateRejected:
		return i18n.M("rejected")
	case rewind.StateCancelled:
		return i18n.M("cancelled")
	}
	return string(s)
}

// stepWord is a step's state as a message says it (a message ID).
func stepWord(s rewind.StepState) string {
	switch s {
	case rewind.StepWaiting:
		return i18n.M("waiting")
	case rewind.StepRunning:
		return i18n.M("running")
	case rewind.StepSucceeded:
		return i18n.M("succeeded")
	case rewind.StepFailed:
		return i18n.M("failed")
	case rewind.StepSkipped:
		return i18n.M("skipped")
	}
	return string(s)
}

// stepLine is a StepLine with the plain values the webhook sends.
type stepLine struct {
	StepLine
	kind, state string
}

// plan names what request r acts on (its target, its release, or its
// plan) and describes its first steps, the one that failed always among them.
func (c *Composer) plan(ctx context.Context, p i18n.Printer, r *rewind.Request, m *Message) (string, []stepLine) {
	var lines []stepLine
	what := ""
	for i, st := range r.Steps {
		if i >= maxSteps && st.State != rewind.StepFailed {
			continue
		}
		t, err := c.Facts.Target(ctx, st.TargetID)
		if err != nil {
			continue
		}
		if len(r.Steps) == 1 {
			what = t.Label()
		}
		line := stepLine{StepLine: StepLine{Position: st.Position, Target: t.Label(), Detail: st.Detail, State: p.T(stepWord(st.State))},
			kind: string(t.Kind), state: string(st.State)}
		line.Changes = c.changes(ctx, p, r, st, t)
		lines = append(lines, line)
	}
	if r.ReleaseID != 0 {
		if rel, err := c.Facts.Release(ctx, r.ReleaseID); err == nil {
			wf := ""
			if w, err := c.Facts.Workflow(ctx, rel.WorkflowID); err == nil {
				wf = w.Name
			}
			m.Data.Release = &ReleaseData{ID: rel.ID, Name: rel.Name, Workflow: wf, Blocked: rel.BlockedAt != nil}
			m.Facts = append(m.Facts, Fact{p.T("Release"), p.T("%s of %s", rel.Name, wf)})
			if r.Kind == rewind.RequestRollback {
				what = p.T("release %s of %s", rel.Name, wf)
			}
		}
	}
	if what == "" {
		what = p.N(len(r.Steps), "plan of %d step", len(r.Steps))
	}
	return what, lines
}

// changes sums up what step st changes: images from → to for a service,
// the changed keys (names only: values may be secret) for a config, the
// statements and rows for SQL.
func (c *Composer) changes(ctx context.Context, p i18n.Printer, r *rewind.Request, st rewind.Step, t *rewind.Target) []string {
	var out []string
	switch t.Kind {
	case rewind.KindService, rewind.KindConfig:
		if st.VersionID == 0 || st.BaseVersionID == 0 {
			return nil
		}
		to, err1 := c.Facts.Version(ctx, st.VersionID)
		base, err2 := c.Facts.Version(ctx, st.BaseVersionID)
		if err1 != nil || err2 != nil {
			return nil
		}
		out = append(out, p.T("version %d → %d", base.Number, to.Number))
		if t.Kind == rewind.KindService {
			for _, ic := range rewind.ImageChanges(base.Images, to.Images) {
				out = append(out, p.T("image %s: %s → %s", ic.Container, orNone(p, ic.Old), orNone(p, ic.New)))
			}
			return capLines(p, out)
		}
		keys := c.keyChanges(t, base.Content, to.Content)
		if len(keys) > 0 {
			names := make([]string, 0, len(keys))
			for _, k := range keys {
				names = append(names, keyMark(k.Kind)+k.Key)
			}
			out = append(out, p.N(len(keys), "%d changed key: %s", len(keys), strings.Join(capList(p, names, maxChanges), ", ")))
		}
		return out
	case rewind.KindDatabase:
		req, err := rewind.ParseSQLRequest(st.Payload)
		if err != nil {
			return nil
		}
		if d, err := c.Facts.Database(ctx, t.OwnerID); err == nil {
			if stmts, err := sqlchange.Split(sqlchange.Engine(d.Engine), req.SQL); err == nil {
				out = append(out, p.N(len(stmts), "%d statement", len(stmts)))
			}
		}
		if ex, err := c.Facts.SQLExecutionByStep(ctx, st.ID); err == nil && ex != nil {
			out = append(out, p.N(int(ex.RowsAffected), "%d row changed", int(ex.RowsAffected)))
			if ex.SavedRows > 0 {
				out = append(out, p.N(ex.SavedRows, "%d row saved for its rollback", ex.SavedRows))
			}
		}
		if req.PreviewFailed {
			out = append(out, p.T("Submitted although its preview failed."))
		}
	}
	return out
}

// keyChanges lists the keys that differ between two contents of config t.
func (c *Composer) keyChanges(t *rewind.Target, from, to string) []diff.KeyChange {
	format := ""
	if c.Formats != nil {
		format = c.Formats.Format(t, to)
	} else {
		format = nacos.DetectFormat("", to)
	}
	keys, err := diff.KeyChanges(format, from, to)
	if err != nil {
		return nil
	}
	return keys
}

func keyMark(k diff.Kind) string {
	switch k {
	case diff.KindAdded:
		return "+"
	case diff.KindRemoved:
		return "-"
	}
	return "~"
}

func orNone(p i18n.Printer, s string) string {
	if s == "" {
		return p.T("(none)")
	}
	return s
}

// capLines keeps the first maxChanges lines and says how many are left out.
func capLines(p i18n.Printer, lines []string) []string {
	if len(lines) <= maxChanges {
		return lines
	}
	n := len(lines) - maxChanges
	return append(lines[:maxChanges:maxChanges], p.N(n, "and %d more", n))
}

// capList keeps the first n items and says how many are left out.
func capList(p i18n.Printer, items []string, n int) []string {
	if len(items) <= n {
		return items
	}
	more := len(items) - n
	return append(items[:n:n], p.N(more, "and %d more", more))
}

// release fills m for an event of a release.
func (c *Composer) release(ctx context.Context, p i18n.Printer, ev Event, env string, m *Message) error {
	rel, err := c.Facts.Release(ctx, ev.ReleaseID)
	if err != nil {
		return fmt.Errorf("message of event %d: %w", ev.ID, err)
	}
	wf := "?"
	if w, err := c.Facts.Workflow(ctx, rel.WorkflowID); err == nil {
		wf = w.Name
	}
	m.Title = p.T("[%s] Release %s of %s blocked", env, rel.Name, wf)
	m.Facts = append(m.Facts, Fact{p.T("Environment"), env}, Fact{p.T("Workflow"), wf}, Fact{p.T("Release"), rel.Name},
		Fact{p.T("By"), ev.Actor}, Fact{p.T("Reason"), cut(ev.Detail, maxReasonRunes)})
	if rel.Commit != "" {
		m.Facts = append(m.Facts, Fact{p.T("Commit"), rel.Commit})
	}
	if rel.BlockedAt == nil {
		m.Facts = append(m.Facts, Fact{p.T("Now"), p.T("unblocked")})
	}
	if c.ExternalURL != "" {
		m.Link = c.ExternalURL + "/releases/" + strconv.FormatInt(rel.ID, 10)
	}
	m.Data.Release = &ReleaseData{ID: rel.ID, Name: rel.Name, Workflow: wf, Blocked: rel.BlockedAt != nil, BlockedBy: rel.BlockedBy, BlockReason: rel.BlockReason}
	return nil
}

// TestMessage is the message "send a test message" sends on channel ch.
func TestMessage(ch *Channel, actor, externalURL string) *Message {
	p := i18n.For(ch.Locale)
	m := &Message{Event: "test", Locale: p.Locale(), Title: p.T("Test message from Rewind"),
		Facts: []Fact{{p.T("Channel"), ch.Name}, {p.T("Sent by"), actor}}, Link: externalURL,
		Data: EventData{Event: "test", Actor: actor, URL: externalURL}}
	if externalURL == "" {
		m.Facts = append(m.Facts, Fact{p.T("Note"), p.T("No external URL is set, so messages carry no link to Rewind's pages.")})
	}
	return m
}

// cut shortens s to n characters, marking the cut.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
