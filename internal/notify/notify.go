// Package notify tells people what happened to requests and releases: an
// approver hears of a request at once, everyone of its outcome. Events are
// written to an outbox in the store in the same transaction as the change
// they report; the Sender routes them by the rules into deliveries, one per
// channel, and sends each with retries, recording every attempt. Channels
// are Slack, DingTalk, Feishu/Lark and WeCom robots, a generic signed
// webhook, and e-mail over SMTP; messages speak the channel's language.
package notify

import (
	"slices"
	"strings"
	"time"

	"github.com/rewindhq/rewind/internal/i18n"
	"github.com/rewindhq/rewind/internal/rewind"
)

// EventKind is what happened that a message reports.
type EventKind string

// The events a rule can route.
const (
	EventPending        EventKind = "request.pending"   // waiting for approval
	EventApproved       EventKind = "request.approved"  // every approval given
	EventRejected       EventKind = "request.rejected"  // an approver said no
	EventCancelled      EventKind = "request.cancelled" // withdrawn before it ran
	EventStarted        EventKind = "request.started"   // its plan began to run
	EventSucceeded      EventKind = "request.succeeded" // every step done
	EventFailed         EventKind = "request.failed"    // the plan stopped at a failed step
	EventStepFailed     EventKind = "step.failed"       // one step of a plan failed
	EventReleaseBlocked EventKind = "release.blocked"   // CI refuses the release's name
)

// EventKinds lists every event kind, in the order of a request's life.
var EventKinds = []EventKind{EventPending, EventApproved, EventRejected, EventCancelled, EventStarted,
	EventSucceeded, EventFailed, EventStepFailed, EventReleaseBlocked}

// DefaultEvents are the events a new rule routes unless told otherwise:
// all but a plan's start and its step failures, which the plan's own
// failure reports too.
var DefaultEvents = []EventKind{EventPending, EventApproved, EventRejected, EventCancelled, EventSucceeded, EventFailed, EventReleaseBlocked}

// Label names the event kind for people, in English (a message ID).
func (k EventKind) Label() string {
	switch k {
	case EventPending:
		return i18n.M("Waiting for approval")
	case EventApproved:
		return i18n.M("Approved")
	case EventRejected:
		return i18n.M("Rejected")
	case EventCancelled:
		return i18n.M("Cancelled")
	case EventStarted:
		return i18n.M("Started")
	case EventSucceeded:
		return i18n.M("Succeeded")
	case EventFailed:
		return i18n.M("Failed")
	case EventStepFailed:
		return i18n.M("A plan step failed")
	case EventReleaseBlocked:
		return i18n.M("Release blocked")
	}
	return string(k)
}

// Valid reports whether k is a known event kind.
func (k EventKind) Valid() bool { return slices.Contains(EventKinds, k) }

// RequestEvent is the event that a request's move from one state to next
// reports, "" when the move reports none (a failed plan resumed goes back
// to approved without a new approval).
func RequestEvent(from, next rewind.State) EventKind {
	switch next {
	case rewind.StatePending:
		return EventPending
	case rewind.StateApproved:
		if from == rewind.StatePending {
			return EventApproved
		}
	case rewind.StateRejected:
		return EventRejected
	case rewind.StateCancelled:
		return EventCancelled
	case rewind.StateRunning:
		return EventStarted
	case rewind.StateSucceeded:
		return EventSucceeded
	case rewind.StateFailed:
		return EventFailed
	}
	return ""
}

// Event is one entry of the outbox: something that happened, written in
// the transaction that made it happen.
type Event struct {
	ID            int64
	Kind          EventKind
	EnvironmentID int64
	RequestID     int64 // 0 for a release's event
	ReleaseID     int64
	Step          int    // the position of the failed step of EventStepFailed
	Actor         string // who did it: a username, a token, or "rewind"
	// Detail is what the pages show of it: an approver's comment, an
	// outcome, a block's reason. It holds no secret.
	Detail string
	At     time.Time
}

// ChannelKind says what a channel sends to.
type ChannelKind string

// The kinds of channel.
const (
	Slack    ChannelKind = "slack"
	DingTalk ChannelKind = "dingtalk"
	Feishu   ChannelKind = "feishu"
	WeCom    ChannelKind = "wecom"
	Webhook  ChannelKind = "webhook"
	Email    ChannelKind = "email"
)

// ChannelKinds lists the kinds of channel, in the order Settings offers them.
var ChannelKinds = []ChannelKind{Slack, DingTalk, Feishu, WeCom, Webhook, Email}

// Label names the kind for people.
func (k ChannelKind) Label() string {
	switch k {
	case Slack:
		return "Slack"
	case DingTalk:
		return i18n.M("DingTalk")
	case Feishu:
		return i18n.M("Feishu/Lark")
	case WeCom:
		return i18n.M("WeCom")
	case Webhook:
		return i18n.M("Webhook")
	case Email:
		return i18n.M("E-mail")
	}
	return string(k)
}

// Valid reports whether k is a known kind of channel.
func (k ChannelKind) Valid() bool { return slices.Contains(ChannelKinds, k) }

// Signed reports whether channels of kind k may carry a signing secret.
func (k ChannelKind) Signed() bool { return k == DingTalk || k == Feishu || k == Webhook }

// Channel is where messages go: a chat robot, a webhook, or an SMTP server.
type Channel struct {
	ID      int64
	Name    string
	Kind    ChannelKind
	Locale  i18n.Locale // the language of its messages
	Enabled bool
	SMTP    SMTP // for e-mail; not secret
	// Secret is what must not be shown again: a webhook's URL (its token
	// is in it), a signing secret, an SMTP password. The store keeps it
	// sealed.
	Secret Secret
	// Shown is what pages show of where messages go, without secrets.
	Shown     string
	CreatedBy string
	CreatedAt time.Time
}

// SMTP is how an e-mail channel reaches its server and whom it writes to.
type SMTP struct {
	Host     string   `json:"host,omitempty"`
	Port     int      `json:"port,omitempty"`
	Security string   `json:"security,omitempty"` // SecuritySTARTTLS, SecurityTLS or SecurityNone
	Username string   `json:"username,omitempty"`
	From     string   `json:"from,omitempty"`
	To       []string `json:"to,omitempty"` // the channel's own recipients; subscribers come on top
	// CAPEM holds authorities trusted, besides the system's, for the
	// server's certificate (an internal mail server's own CA).
	CAPEM string `json:"ca_pem,omitempty"`
}

// The ways to reach an SMTP server.
const (
	SecuritySTARTTLS = "starttls" // plain connection upgraded by STARTTLS, which must succeed
	SecurityTLS      = "tls"      // implicit TLS from the first byte (port 465)
	SecurityNone     = "none"     // no TLS: only without a password, for a relay on a trusted network
)

// Secret is the secret part of a channel.
type Secret struct {
	URL           string `json:"url,omitempty"`
	SigningSecret string `json:"signing_secret,omitempty"`
	Password      string `json:"password,omitempty"`
}

// Rule routes events of some kinds, in one environment (0: any) and of one
// workflow (0: any), to a channel. A rule with a UserID is that user's
// subscription: its messages go by the e-mail channel to the user's own
// address, in Locale.
type Rule struct {
	ID            int64
	ChannelID     int64
	EnvironmentID int64
	WorkflowID    int64
	Events        []EventKind
	UserID        int64
	Locale        i18n.Locale
	// MineOnly keeps, for a subscription, the requests the user made.
	MineOnly  bool
	CreatedBy string
	CreatedAt time.Time
}

// Routes reports whether the rule sends an event of kind k.
func (r Rule) Routes(k EventKind) bool { return slices.Contains(r.Events, k) }

// JoinEvents writes event kinds as the store keeps them.
func JoinEvents(ks []EventKind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ",")
}

// SplitEvents reads event kinds as the store keeps them, dropping unknown ones.
func SplitEvents(s string) []EventKind {
	var out []EventKind
	for _, p := range strings.Split(s, ",") {
		if k := EventKind(strings.TrimSpace(p)); k.Valid() {
			out = append(out, k)
		}
	}
	return out
}

// DeliveryState is where a delivery is.
type DeliveryState string

// The states of a delivery: queued → sending → sent, or back to queued
// for a retry, or failed when given up.
const (
	DeliveryQueued  DeliveryState = "queued"
	DeliverySending DeliveryState = "sending"
	DeliverySent    DeliveryState = "sent"
	DeliveryFailed  DeliveryState = "failed"
)

// Delivery is one message of one event to one channel (and, for a
// subscription, one recipient).
type Delivery struct {
	ID        int64
	EventID   int64
	ChannelID int64
	// Recipient is a subscriber's e-mail address; "" sends to the channel's own.
	Recipient string
	Locale    i18n.Locale // "" speaks the channel's language
	State     DeliveryState
	Attempts  int
	// AttemptsBefore counts the attempts made before the last "send
	// again"; the bound on attempts counts from there.
	AttemptsBefore int
	NextAt         time.Time
	LastError      string
	SentAt         *time.Time
	CreatedAt      time.Time
}

// Claim is a delivery taken by one sender for one attempt.
type Claim struct {
	Delivery Delivery
	Attempt  int // the number of the attempt it starts
	// Repeat says the attempt before ended unknown: Rewind stopped during
	// it, so the receiver may have the message already.
	Repeat bool
}

// UnknownOutcome is what an attempt cut short by a stop says.
const UnknownOutcome = "Rewind stopped during this attempt: whether the message arrived is not known."

// AttemptOutcome is how one attempt ended.
type AttemptOutcome string

// The outcomes of an attempt.
const (
	AttemptSending AttemptOutcome = "sending" // not ended yet
	AttemptSent    AttemptOutcome = "sent"
	AttemptFailed  AttemptOutcome = "failed"
	// AttemptUnknown: Rewind stopped during the attempt; whether the
	// receiver got the message cannot be known.
	AttemptUnknown AttemptOutcome = "unknown"
)

// Attempt is one try at a delivery.
type Attempt struct {
	DeliveryID int64
	Number     int
	StartedAt  time.Time
	FinishedAt *time.Time
	Outcome    AttemptOutcome
	Error      string
}
