package notify

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/rewindhq/rewind/internal/i18n"
	"github.com/rewindhq/rewind/internal/rewind"
)

// SettingsStore is what the settings use cases need of the store.
type SettingsStore interface {
	SaveChannel(ctx context.Context, c *Channel) error
	Channel(ctx context.Context, id int64) (*Channel, error)
	Channels(ctx context.Context) ([]*Channel, error)
	SetChannelEnabled(ctx context.Context, id int64, on bool) error
	DeleteChannel(ctx context.Context, id int64) error
	AddRule(ctx context.Context, r *Rule) error
	Rule(ctx context.Context, id int64) (*Rule, error)
	DeleteRule(ctx context.Context, id int64) error
	Requeue(ctx context.Context, id int64) (*Delivery, error)
	SetEmail(ctx context.Context, username, email string) error
	Environment(ctx context.Context, id int64) (*rewind.Environment, error)
	Workflow(ctx context.Context, id int64) (*rewind.Workflow, error)
}

// Service holds the use cases of notification settings: channels, rules,
// sending again, a user's e-mail and subscriptions. Pages and API share it.
type Service struct {
	store     SettingsStore
	transport Sending
	// ExternalURL is put in test messages as the link to Rewind.
	ExternalURL string
}

// NewService returns the settings use cases over store, testing channels
// with t.
func NewService(store SettingsStore, t Sending, externalURL string) *Service {
	return &Service{store: store, transport: t, ExternalURL: externalURL}
}

// ChannelInput is a channel as a form gives it. Blank secret fields of an
// existing channel keep what it has.
type ChannelInput struct {
	Name          string
	Kind          ChannelKind
	Locale        string
	URL           string
	SigningSecret string
	SMTP          SMTP
	Password      string
	// To is the e-mail channel's recipients, separated by commas, spaces
	// or lines.
	To string
}

// mayAdmin refuses anyone but an admin.
func mayAdmin(u rewind.User) error {
	if u.Role != rewind.RoleAdmin {
		return rewind.Errorf(rewind.EFORBIDDEN, "This needs the %s role; you are %s.", rewind.RoleAdmin, u.Role)
	}
	return nil
}

// SaveChannel adds a channel (id 0) or changes one. It returns the
// channel and, for a new generic webhook given no secret, the secret
// Rewind made for it, to be shown this once.
func (s *Service) SaveChannel(ctx context.Context, actor rewind.User, id int64, in ChannelInput) (*Channel, string, error) {
	if err := mayAdmin(actor); err != nil {
		return nil, "", err
	}
	ch := &Channel{Enabled: true, CreatedBy: actor.Username}
	if id != 0 {
		old, err := s.store.Channel(ctx, id)
		if err != nil {
			return nil, "", err
		}
		ch = old
		in.Kind = old.Kind
	}
	made := ""
	if ch.ID == 0 && in.Kind == Webhook && strings.TrimSpace(in.SigningSecret) == "" {
		b := make([]byte, 24)
		rand.Read(b)
		in.SigningSecret = base64.RawURLEncoding.EncodeToString(b)
		made = in.SigningSecret
	}
	if err := in.apply(ch); err != nil {
		return nil, "", err
	}
	ch.Shown = Shown(ch)
	if err := s.store.SaveChannel(ctx, ch); err != nil {
		return nil, "", err
	}
	return ch, made, nil
}

// apply checks in and writes it into ch, keeping ch's secrets where in
// leaves them blank.
func (in ChannelInput) apply(ch *Channel) error {
	name := strings.TrimSpace(in.Name)
	if name == "" || utf8.RuneCountInString(name) > 100 || strings.ContainsAny(name, "\r\n\t") {
		return rewind.Errorf(rewind.EINVALID, "A channel name has 1 to 100 characters on one line.")
	}
	if !in.Kind.Valid() {
		return rewind.Errorf(rewind.EINVALID, "Choose the kind of channel.")
	}
	loc, ok := i18n.Parse(in.Locale)
	if !ok {
		return rewind.Errorf(rewind.EINVALID, "Choose the language of the messages.")
	}
	ch.Name, ch.Kind, ch.Locale = name, in.Kind, loc
	if u := strings.TrimSpace(in.URL); u != "" {
		if err := checkURL(in.Kind, u); err != nil {
			return err
		}
		ch.Secret.URL = u
	}
	if sec := strings.TrimSpace(in.SigningSecret); sec != "" {
		if !in.Kind.Signed() {
			return rewind.Errorf(rewind.EINVALID, "A %s channel has no signing secret.", in.Kind.Label())
		}
		if in.Kind == DingTalk && !strings.HasPrefix(sec, "SEC") {
			return rewind.Errorf(rewind.EINVALID, "A DingTalk signing secret starts with SEC, as the robot's security settings show it.")
		}
		if in.Kind == Webhook && len(sec) < 16 {
			return rewind.Errorf(rewind.EINVALID, "A webhook secret has at least 16 characters.")
		}
		ch.Secret.SigningSecret = sec
	}
	if in.Kind == Email {
		return in.applySMTP(ch)
	}
	if ch.Secret.URL == "" {
		return rewind.Errorf(rewind.EINVALID, "Give the webhook URL.")
	}
	if in.Kind == Webhook && ch.Secret.SigningSecret == "" {
		return rewind.Errorf(rewind.EINVALID, "Give the webhook a secret, so that receivers can verify its messages.")
	}
	return nil
}

// checkURL refuses a URL that cannot be the kind's webhook, with a hint at
// what it should look like.
func checkURL(kind ChannelKind, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return rewind.Errorf(rewind.EINVALID, "The webhook URL must be an http:// or https:// address.")
	}
	switch kind {
	case Slack:
		if !strings.HasPrefix(u.Path, "/services/") {
			return rewind.Errorf(rewind.EINVALID, "A Slack incoming webhook URL looks like https://hooks.slack.com/services/T…/B…/….")
		}
	case DingTalk:
		if u.Query().Get("access_token") == "" {
			return rewind.Errorf(rewind.EINVALID, "A DingTalk robot URL looks like https://oapi.dingtalk.com/robot/send?access_token=….")
		}
	case Feishu:
		if !strings.Contains(u.Path, "/bot/v2/hook/") {
			return rewind.Errorf(rewind.EINVALID, "A Feishu/Lark bot URL looks like https://open.feishu.cn/open-apis/bot/v2/hook/….")
		}
	case WeCom:
		if u.Query().Get("key") == "" {
			return rewind.Errorf(rewind.EINVALID, "A WeCom robot URL looks like https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=….")
		}
	}
	return nil
}

// applySMTP checks an e-mail channel's server and addresses.
func (in ChannelInput) applySMTP(ch *Channel) error {
	s := in.SMTP
	s.Host = strings.TrimSpace(s.Host)
	if s.Host == "" || strings.ContainsAny(s.Host, " /:") {
		return rewind.Errorf(rewind.EINVALID, "Give the SMTP server's host name, without port.")
	}
	switch s.Security {
	case SecuritySTARTTLS, SecurityTLS, SecurityNone:
	default:
		return rewind.Errorf(rewind.EINVALID, "Choose STARTTLS, TLS or no encryption.")
	}
	if s.Port == 0 {
		s.Port = map[string]int{SecuritySTARTTLS: 587, SecurityTLS: 465, SecurityNone: 25}[s.Security]
	}
	if s.Port < 1 || s.Port > 65535 {
		return rewind.Errorf(rewind.EINVALID, "The SMTP port is a number from 1 to 65535.")
	}
	s.Username = strings.TrimSpace(s.Username)
	password := in.Password
	if password == "" && s.Username == ch.SMTP.Username {
		password = ch.Secret.Password
	}
	if s.Username != "" && password == "" {
		return rewind.Errorf(rewind.EINVALID, "Give the SMTP password of %s.", s.Username)
	}
	if s.Username != "" && s.Security == SecurityNone {
		return rewind.Errorf(rewind.EINVALID, "A password is sent only over TLS: choose STARTTLS or TLS.")
	}
	if s.Username == "" {
		password = ""
	}
	from, err := mail.ParseAddress(strings.TrimSpace(s.From))
	if err != nil {
		return rewind.Errorf(rewind.EINVALID, "The sender %q is not an e-mail address.", s.From)
	}
	s.From = from.String()
	s.To = nil
	for _, a := range strings.FieldsFunc(in.To, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }) {
		addr, err := checkEmail(a)
		if err != nil {
			return err
		}
		s.To = append(s.To, addr)
	}
	if len(s.To) > 50 {
		return rewind.Errorf(rewind.EINVALID, "An e-mail channel writes to at most 50 addresses; use a mailing list.")
	}
	if s.CAPEM = strings.TrimSpace(s.CAPEM); s.CAPEM != "" {
		if b, _ := pem.Decode([]byte(s.CAPEM)); b == nil || b.Type != "CERTIFICATE" {
			return rewind.Errorf(rewind.EINVALID, "The CA certificate must be PEM (-----BEGIN CERTIFICATE-----).")
		}
	}
	ch.SMTP, ch.Secret.Password = s, password
	return nil
}

// checkEmail checks one bare e-mail address.
func checkEmail(a string) (string, error) {
	a = strings.TrimSpace(a)
	addr, err := mail.ParseAddress(a)
	if err != nil || addr.Address != a || len(a) > 254 {
		return "", rewind.Errorf(rewind.EINVALID, "%q is not an e-mail address.", a)
	}
	return a, nil
}

// SetEnabled turns channel id on or off.
func (s *Service) SetEnabled(ctx context.Context, actor rewind.User, id int64, on bool) (*Channel, error) {
	if err := mayAdmin(actor); err != nil {
		return nil, err
	}
	if err := s.store.SetChannelEnabled(ctx, id, on); err != nil {
		return nil, err
	}
	return s.store.Channel(ctx, id)
}

// DeleteChannel removes channel id and its rules.
func (s *Service) DeleteChannel(ctx context.Context, actor rewind.User, id int64) (*Channel, error) {
	if err := mayAdmin(actor); err != nil {
		return nil, err
	}
	ch, err := s.store.Channel(ctx, id)
	if err != nil {
		return nil, err
	}
	return ch, s.store.DeleteChannel(ctx, id)
}

// Test sends a test message on channel id now and says what happened: nil
// when the receiver took it.
func (s *Service) Test(ctx context.Context, actor rewind.User, id int64, to string) (*Channel, error) {
	if err := mayAdmin(actor); err != nil {
		return nil, err
	}
	ch, err := s.store.Channel(ctx, id)
	if err != nil {
		return nil, err
	}
	env := Envelope{}
	if ch.Kind == Email && strings.TrimSpace(to) != "" {
		addr, err := checkEmail(to)
		if err != nil {
			return ch, err
		}
		env.Recipients = []string{addr}
	}
	if err := s.transport.Send(ctx, ch, TestMessage(ch, actor.Username, s.ExternalURL), env); err != nil {
		return ch, rewind.Errorf(rewind.EUNAVAILABLE, "The test message was not sent: %s", rewind.ErrorMessage(asRewind(err)))
	}
	return ch, nil
}

// asRewind gives a send error a message that may be shown.
func asRewind(err error) error {
	if se, ok := err.(*SendError); ok {
		return &rewind.Error{Code: rewind.EUNAVAILABLE, Message: se.Msg}
	}
	return err
}

// RuleInput is a rule as a form gives it.
type RuleInput struct {
	ChannelID     int64
	EnvironmentID int64 // 0: any
	WorkflowID    int64 // 0: any
	Events        []string
}

// AddRule routes events to a channel.
func (s *Service) AddRule(ctx context.Context, actor rewind.User, in RuleInput) (*Rule, *Channel, error) {
	if err := mayAdmin(actor); err != nil {
		return nil, nil, err
	}
	ch, err := s.store.Channel(ctx, in.ChannelID)
	if err != nil {
		return nil, nil, rewind.Errorf(rewind.EINVALID, "Choose a channel.")
	}
	r := &Rule{ChannelID: ch.ID, CreatedBy: actor.Username}
	if err := s.scope(ctx, r, in.EnvironmentID, in.WorkflowID, in.Events); err != nil {
		return nil, nil, err
	}
	if ch.Kind == Email && len(ch.SMTP.To) == 0 {
		return nil, nil, rewind.Errorf(rewind.EINVALID, "Channel %s has no recipients of its own: give it some, or let users subscribe on their profile.", ch.Name)
	}
	return r, ch, s.store.AddRule(ctx, r)
}

// scope fills r's environment, workflow and events, checking each.
func (s *Service) scope(ctx context.Context, r *Rule, env, wf int64, events []string) error {
	if env != 0 {
		if _, err := s.store.Environment(ctx, env); err != nil {
			return rewind.Errorf(rewind.EINVALID, "Choose an existing environment.")
		}
	}
	if wf != 0 {
		w, err := s.store.Workflow(ctx, wf)
		if err != nil {
			return rewind.Errorf(rewind.EINVALID, "Choose an existing workflow.")
		}
		if env != 0 && w.EnvironmentID != env {
			return rewind.Errorf(rewind.EINVALID, "Workflow %s is not in that environment.", w.Name)
		}
	}
	r.EnvironmentID, r.WorkflowID, r.Events = env, wf, nil
	for _, e := range events {
		k := EventKind(e)
		if !k.Valid() {
			return rewind.Errorf(rewind.EINVALID, "Unknown event %q.", e)
		}
		if !r.Routes(k) {
			r.Events = append(r.Events, k)
		}
	}
	if len(r.Events) == 0 {
		return rewind.Errorf(rewind.EINVALID, "Tick at least one event.")
	}
	return nil
}

// DeleteRule removes a channel's rule (not a user's subscription).
func (s *Service) DeleteRule(ctx context.Context, actor rewind.User, id int64) error {
	if err := mayAdmin(actor); err != nil {
		return err
	}
	r, err := s.store.Rule(ctx, id)
	if err != nil {
		return err
	}
	if r.UserID != 0 {
		return rewind.Errorf(rewind.EINVALID, "This is a user's subscription; they change it on their profile.")
	}
	return s.store.DeleteRule(ctx, id)
}

// SendAgain queues a failed delivery again at once.
func (s *Service) SendAgain(ctx context.Context, actor rewind.User, id int64) (*Delivery, error) {
	if err := mayAdmin(actor); err != nil {
		return nil, err
	}
	return s.store.Requeue(ctx, id)
}

// SetEmail sets the acting user's own e-mail address ("" removes it).
func (s *Service) SetEmail(ctx context.Context, actor rewind.User, email string) (string, error) {
	email = strings.TrimSpace(email)
	if email != "" {
		var err error
		if email, err = checkEmail(email); err != nil {
			return "", err
		}
	}
	return email, s.store.SetEmail(ctx, actor.Username, email)
}

// SubscriptionInput is a subscription as the profile's form gives it.
type SubscriptionInput struct {
	ChannelID     int64
	EnvironmentID int64
	WorkflowID    int64
	Events        []string
	Locale        string
	MineOnly      bool
}

// Subscribe sends the acting user, by an e-mail channel, the events they
// choose, of the environments they may read. They need an e-mail address
// first.
func (s *Service) Subscribe(ctx context.Context, actor rewind.User, in SubscriptionInput) (*Rule, error) {
	if actor.Email == "" {
		return nil, rewind.Errorf(rewind.EINVALID, "Add your e-mail address first.")
	}
	ch, err := s.store.Channel(ctx, in.ChannelID)
	if err != nil || ch.Kind != Email || !ch.Enabled {
		return nil, rewind.Errorf(rewind.EINVALID, "Choose an e-mail channel that is on.")
	}
	loc, ok := i18n.Parse(in.Locale)
	if !ok {
		return nil, rewind.Errorf(rewind.EINVALID, "Choose the language of the messages.")
	}
	r := &Rule{ChannelID: ch.ID, UserID: actor.ID, Locale: loc, MineOnly: in.MineOnly, CreatedBy: actor.Username}
	if err := s.scope(ctx, r, in.EnvironmentID, in.WorkflowID, in.Events); err != nil {
		return nil, err
	}
	env := in.EnvironmentID
	if in.WorkflowID != 0 {
		if w, err := s.store.Workflow(ctx, in.WorkflowID); err == nil {
			env = w.EnvironmentID
		}
	}
	if env != 0 && !actor.RoleIn(env).Allows(rewind.RoleViewer) {
		return nil, rewind.Errorf(rewind.EINVALID, "Choose an existing environment.")
	}
	return r, s.store.AddRule(ctx, r)
}

// Unsubscribe removes one of the acting user's subscriptions.
func (s *Service) Unsubscribe(ctx context.Context, actor rewind.User, id int64) error {
	r, err := s.store.Rule(ctx, id)
	if err != nil {
		return err
	}
	if r.UserID != actor.ID {
		return rewind.Errorf(rewind.ENOTFOUND, "Subscription not found.")
	}
	return s.store.DeleteRule(ctx, id)
}

// ParseID reads a form's ID field; "" and "0" are 0 (any).
func ParseID(s string) (int64, error) {
	if s = strings.TrimSpace(s); s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, rewind.Errorf(rewind.EINVALID, "%q is not a valid choice.", s)
	}
	return n, nil
}

// Describe says in words what a rule sends where, for the audit trail.
func Describe(r *Rule, ch *Channel) string {
	return fmt.Sprintf("%s → %s (%s)", JoinEvents(r.Events), ch.Name, ch.Kind)
}
