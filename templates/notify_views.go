package templates

import (
	"context"
	"strconv"
	"strings"

	"github.com/a-h/templ"

	"github.com/rewindhq/rewind/internal/i18n"
	"github.com/rewindhq/rewind/internal/notify"
	"github.com/rewindhq/rewind/internal/rewind"
)

// NotifySettingsView is the admin's page of notifications: channels, the
// rules that route events to them, and the deliveries with their attempts.
type NotifySettingsView struct {
	CSRF  string
	Error string
	// ExternalURL is where messages link to; "" when it is not set.
	ExternalURL  string
	Channels     []ChannelRow
	Rules        []RuleRow
	Failed       []DeliveryRow // given up: "send again"
	Waiting      []DeliveryRow // queued or being sent
	Recent       []DeliveryRow // sent lately
	Environments []*rewind.Environment
	Workflows    []WorkflowChoice
	// Form is the channel form: a new channel of Form.Kind, or the channel
	// being changed; it keeps what was typed when refused (never secrets).
	Form ChannelForm
	// Made is the secret Rewind made for a new webhook, shown this once.
	Made string
	// RuleForm keeps the rule form's choices when it was refused.
	RuleForm RuleForm
}

// ChannelRow is one channel in the list.
type ChannelRow struct {
	C *notify.Channel
	// Rules counts the rules that route to it; Subscribers the users'
	// subscriptions.
	Rules, Subscribers int
}

// RuleRow is one rule in the list.
type RuleRow struct {
	R                      notify.Rule
	Channel, Env, Workflow string
}

// WorkflowChoice is a workflow to pick in a rule, with its environment.
type WorkflowChoice struct {
	ID        int64
	Name, Env string
}

// DeliveryRow is one delivery: its event, channel, and attempts.
type DeliveryRow struct {
	D        notify.Delivery
	Event    *notify.Event
	Channel  string
	Attempts []notify.Attempt
}

// ChannelForm is the form of a channel. ID is 0 for a new one.
type ChannelForm struct {
	ID     int64
	Kind   notify.ChannelKind
	Name   string
	Locale string
	SMTP   notify.SMTP
	To     string
	// HasURL, HasSecret and HasPassword say that a secret is stored (and
	// kept when its field is left blank).
	HasURL, HasSecret, HasPassword bool
	Shown                          string
}

// RuleForm is the rule form's choices.
type RuleForm struct {
	ChannelID, EnvironmentID, WorkflowID int64
	Events                               []notify.EventKind
}

// Ticked reports whether the form ticks event k (the defaults when new).
func (f RuleForm) Ticked(k notify.EventKind) bool {
	evs := f.Events
	if evs == nil {
		evs = notify.DefaultEvents
	}
	for _, e := range evs {
		if e == k {
			return true
		}
	}
	return false
}

// ProfileNotifyView is the profile's part about notifications: the user's
// e-mail address and subscriptions.
type ProfileNotifyView struct {
	Email         string
	Subscriptions []RuleRow
	// Channels are the e-mail channels a user may subscribe through.
	Channels     []*notify.Channel
	Environments []*rewind.Environment
	Workflows    []WorkflowChoice
	Form         RuleForm
	Locale       string
}

// eventLabels names the events of a rule.
func eventLabels(ctx context.Context, ks []notify.EventKind) string {
	var out []string
	for _, k := range ks {
		out = append(out, i18n.T(ctx, k.Label()))
	}
	return strings.Join(out, i18n.T(ctx, ", "))
}

// deliveryBadge is the badge class of a delivery state.
func deliveryBadge(s notify.DeliveryState) string {
	switch s {
	case notify.DeliverySent:
		return "badge badge-succeeded"
	case notify.DeliveryFailed:
		return "badge badge-failed"
	case notify.DeliverySending:
		return "badge badge-running"
	}
	return "badge badge-pending"
}

// deliveryState names a delivery state for people (a message ID).
func deliveryState(s notify.DeliveryState) string {
	switch s {
	case notify.DeliverySent:
		return i18n.M("sent")
	case notify.DeliveryFailed:
		return i18n.M("failed")
	case notify.DeliverySending:
		return i18n.M("sending")
	}
	return i18n.M("queued")
}

// attemptOutcome names an attempt's outcome for people (a message ID).
func attemptOutcome(o notify.AttemptOutcome) string {
	switch o {
	case notify.AttemptSent:
		return i18n.M("sent")
	case notify.AttemptFailed:
		return i18n.M("failed")
	case notify.AttemptUnknown:
		return i18n.M("unknown")
	}
	return i18n.M("sending")
}

// eventLink is the page an event is about.
func eventLink(e *notify.Event) string {
	switch {
	case e == nil:
		return ""
	case e.RequestID != 0:
		return "/requests/" + itoa(e.RequestID)
	case e.ReleaseID != 0:
		return "/releases/" + itoa(e.ReleaseID)
	}
	return ""
}

// eventSubject names what an event is about: a request or a release.
func eventSubject(ctx context.Context, e *notify.Event) string {
	switch {
	case e == nil:
		return ""
	case e.RequestID != 0:
		return i18n.T(ctx, "request #%d", e.RequestID)
	case e.ReleaseID != 0:
		return i18n.T(ctx, "release #%d", e.ReleaseID)
	}
	return ""
}

// localeName names a channel's language.
func localeName(l i18n.Locale) string {
	if l == "" {
		return i18n.English.Name()
	}
	return l.Name()
}

// anyOr is name, or "any" when it is empty.
func anyOr(ctx context.Context, name string) string {
	if name == "" {
		return i18n.T(ctx, "any")
	}
	return name
}

// kindHint says where to find a channel kind's webhook.
func kindHint(ctx context.Context, k notify.ChannelKind) string {
	switch k {
	case notify.Slack:
		return i18n.T(ctx, "In Slack: Apps → Incoming Webhooks → Add New Webhook to Workspace; copy the Webhook URL.")
	case notify.DingTalk:
		return i18n.T(ctx, "In the DingTalk group: Settings → Bots → Add Robot → Custom; under Security Settings tick Additional Signature (加签) and copy the SEC… secret, then copy the Webhook. If you use keywords instead, add the keyword Rewind.")
	case notify.Feishu:
		return i18n.T(ctx, "In the Feishu/Lark group: Settings → Bots → Add Bot → Custom Bot; turn on Signature Verification (签名校验) and copy its secret with the webhook address.")
	case notify.WeCom:
		return i18n.T(ctx, "In the WeCom group: ⋯ → Group Robots → Add; copy its Webhook address.")
	case notify.Webhook:
		return i18n.T(ctx, "Rewind POSTs JSON, signed in X-Rewind-Signature with this secret; docs/notifications.md shows receivers how to check it. Leave the secret blank and Rewind makes one, shown once.")
	case notify.Email:
		return i18n.T(ctx, "Port 587 with STARTTLS, or 465 with TLS. The password is sent only over TLS and stored encrypted.")
	}
	return ""
}

// channelFormAction is where the channel form posts.
func channelFormAction(f ChannelForm) templ.SafeURL {
	if f.ID == 0 {
		return "/settings/notifications/channels"
	}
	return urlf("/settings/notifications/channels/%d", f.ID)
}

// portValue shows a port, blank when not set.
func portValue(p int) string {
	if p == 0 {
		return ""
	}
	return strconv.Itoa(p)
}

// secretLabel says of a secret field that blank keeps what is stored.
func secretLabel(ctx context.Context, label string, stored bool) string {
	if stored {
		return i18n.T(ctx, "%s (stored; leave blank to keep it)", label)
	}
	return label
}
