package web

import (
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/i18n"
	"github.com/rewindhq/rewind/internal/notify"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/templates"
)

// notify returns the notification settings use cases.
func (s *Server) notify() *notify.Service {
	return notify.NewService(s.store, s.notifyTransport(), s.opt.ExternalURL)
}

// notifyTransport sends test messages: the configured one, or the real one.
func (s *Server) notifyTransport() notify.Sending {
	if s.opt.NotifyTransport != nil {
		return s.opt.NotifyTransport
	}
	host, _ := os.Hostname()
	return notify.NewTransport(host)
}

// notifySettings is the admin's page of channels, rules and deliveries;
// ?kind= picks the kind of channel the add form is for.
func (s *Server) notifySettings(c echo.Context) error {
	kind := notify.ChannelKind(c.QueryParam("kind"))
	if !kind.Valid() {
		kind = notify.DingTalk
	}
	return s.renderNotifySettings(c, http.StatusOK, templates.NotifySettingsView{Form: templates.ChannelForm{Kind: kind, Locale: string(i18n.FromContext(c.Request().Context()))}})
}

// renderNotifySettings fills v with the channels, rules and deliveries
// and shows the page.
func (s *Server) renderNotifySettings(c echo.Context, status int, v templates.NotifySettingsView) error {
	ctx := c.Request().Context()
	v.CSRF, v.ExternalURL = csrfToken(c), s.opt.ExternalURL
	channels, err := s.store.Channels(ctx)
	if err != nil {
		return err
	}
	rules, err := s.store.Rules(ctx, 0)
	if err != nil {
		return err
	}
	names, err := s.scopeNames(c, &v.Environments, &v.Workflows)
	if err != nil {
		return err
	}
	chName := map[int64]string{}
	for _, ch := range channels {
		row := templates.ChannelRow{C: ch}
		for _, r := range rules {
			if r.ChannelID == ch.ID && r.UserID == 0 {
				row.Rules++
			} else if r.ChannelID == ch.ID {
				row.Subscribers++
			}
		}
		v.Channels = append(v.Channels, row)
		chName[ch.ID] = ch.Name
	}
	for _, r := range rules {
		if r.UserID == 0 {
			v.Rules = append(v.Rules, names.row(r, chName))
		}
	}
	lists := []struct {
		dst    *[]templates.DeliveryRow
		states []notify.DeliveryState
		limit  int
	}{
		{&v.Failed, []notify.DeliveryState{notify.DeliveryFailed}, 50},
		{&v.Waiting, []notify.DeliveryState{notify.DeliveryQueued, notify.DeliverySending}, 50},
		{&v.Recent, []notify.DeliveryState{notify.DeliverySent}, 20},
	}
	for _, l := range lists {
		ds, err := s.store.Deliveries(ctx, l.states, l.limit)
		if err != nil {
			return err
		}
		for _, d := range ds {
			row := templates.DeliveryRow{D: d, Channel: chName[d.ChannelID]}
			if row.Channel == "" {
				if ch, err := s.store.Channel(ctx, d.ChannelID); err == nil {
					row.Channel = ch.Name
				}
			}
			row.Event, _ = s.store.Event(ctx, d.EventID)
			if row.Attempts, err = s.store.Attempts(ctx, d.ID); err != nil {
				return err
			}
			*l.dst = append(*l.dst, row)
		}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return s.render(c, status, s.meta(c, i18n.T(ctx, "Notifications · Settings"), "settings"), templates.NotifySettingsPage(v))
}

// scopes names environments and workflows by ID.
type scopes struct{ env, wf map[int64]string }

// row is rule r as a list shows it.
func (n scopes) row(r notify.Rule, channels map[int64]string) templates.RuleRow {
	return templates.RuleRow{R: r, Channel: channels[r.ChannelID], Env: n.env[r.EnvironmentID], Workflow: n.wf[r.WorkflowID]}
}

// scopeNames loads the environments and workflows a rule can name.
func (s *Server) scopeNames(c echo.Context, envs *[]*rewind.Environment, wfs *[]templates.WorkflowChoice) (scopes, error) {
	ctx := c.Request().Context()
	n := scopes{env: map[int64]string{}, wf: map[int64]string{}}
	var err error
	if *envs, err = s.store.Environments(ctx); err != nil {
		return n, err
	}
	for _, e := range *envs {
		n.env[e.ID] = e.Name
		ws, err := s.store.Workflows(ctx, e.ID)
		if err != nil {
			return n, err
		}
		for _, w := range ws {
			n.wf[w.ID] = w.Name
			*wfs = append(*wfs, templates.WorkflowChoice{ID: w.ID, Name: w.Name, Env: e.Name})
		}
	}
	return n, nil
}

// channelInput reads the channel form. Secrets are read but never put
// back into a refused form.
func channelInput(c echo.Context) (notify.ChannelInput, templates.ChannelForm) {
	port, _ := strconv.Atoi(strings.TrimSpace(c.FormValue("port")))
	in := notify.ChannelInput{Name: c.FormValue("name"), Kind: notify.ChannelKind(c.FormValue("kind")), Locale: c.FormValue("locale"),
		URL: c.FormValue("url"), SigningSecret: c.FormValue("signing_secret"), Password: c.FormValue("password"), To: c.FormValue("to"),
		SMTP: notify.SMTP{Host: c.FormValue("host"), Port: port, Security: c.FormValue("security"), Username: c.FormValue("username"),
			From: c.FormValue("from"), CAPEM: c.FormValue("ca_pem")}}
	form := templates.ChannelForm{Kind: in.Kind, Name: in.Name, Locale: in.Locale, SMTP: in.SMTP, To: in.To}
	if !form.Kind.Valid() {
		form.Kind = notify.DingTalk
	}
	return in, form
}

// channelFields bounds the channel form's fields.
var channelFields = []FieldLimit{{"name", "A channel name", 400}, {"url", "A webhook URL", 2048}, {"signing_secret", "A signing secret", 512},
	{"host", "A host name", 253}, {"username", "A username", 256}, {"password", "A password", 512}, {"from", "A sender", 320},
	{"to", "The recipients", 20000}, {"ca_pem", "A CA certificate", 20000}}

// notifyDone audits a change of the notification settings, flashes
// done (in the reader's language) and goes back to the settings page; a
// refused change shows the page again through again.
func (s *Server) notifyDone(c echo.Context, err error, audit string, again func(status int, msg string) error, done string, args ...any) error {
	if err != nil {
		if rewind.ErrorCode(err) == rewind.EINTERNAL {
			return err
		}
		return again(http.StatusUnprocessableEntity, i18n.Error(c.Request().Context(), err))
	}
	if err := s.store.AddAudit(c.Request().Context(), rewind.AuditEvent{Actor: currentUser(c).Username, Action: rewind.ActionSettingsChange,
		Outcome: "ok", Detail: audit}); err != nil {
		return err
	}
	flash(c, 's', i18n.T(c.Request().Context(), done, args...))
	return redirect(c, "/settings/notifications")
}

// againSettings shows the settings page again with msg.
func (s *Server) againSettings(c echo.Context, v templates.NotifySettingsView) func(int, string) error {
	return func(status int, msg string) error {
		v.Error = msg
		return s.renderNotifySettings(c, status, v)
	}
}

// channelCreate adds a channel. A generic webhook given no secret gets
// one, shown on this response only.
func (s *Server) channelCreate(c echo.Context) error {
	in, form := channelInput(c)
	again := s.againSettings(c, templates.NotifySettingsView{Form: form})
	if err := checkFields(c, channelFields...); err != nil {
		return again(http.StatusUnprocessableEntity, i18n.Error(c.Request().Context(), err))
	}
	ch, made, err := s.notify().SaveChannel(c.Request().Context(), *currentUser(c), 0, in)
	if err != nil || made == "" {
		audit := ""
		if ch != nil {
			audit = "Notification channel " + ch.Name + " (" + string(ch.Kind) + ", " + ch.Shown + ") added."
		}
		return s.notifyDone(c, err, audit, again, i18n.M("Channel %s added; add a rule to send it events."), in.Name)
	}
	if err := s.store.AddAudit(c.Request().Context(), rewind.AuditEvent{Actor: currentUser(c).Username, Action: rewind.ActionSettingsChange,
		Outcome: "ok", Detail: "Notification channel " + ch.Name + " (webhook, " + ch.Shown + ") added with a secret made by Rewind."}); err != nil {
		return err
	}
	return s.renderNotifySettings(c, http.StatusOK, templates.NotifySettingsView{Made: made,
		Form: templates.ChannelForm{Kind: notify.Webhook, Locale: string(i18n.FromContext(c.Request().Context()))}})
}

// channelForm is the form of a stored channel, secrets left out.
func channelForm(ch *notify.Channel) templates.ChannelForm {
	return templates.ChannelForm{ID: ch.ID, Kind: ch.Kind, Name: ch.Name, Locale: string(ch.Locale), SMTP: ch.SMTP,
		To: strings.Join(ch.SMTP.To, "\n"), HasURL: ch.Secret.URL != "", HasSecret: ch.Secret.SigningSecret != "",
		HasPassword: ch.Secret.Password != "", Shown: ch.Shown}
}

// channelEdit shows a channel's form.
func (s *Server) channelEdit(c echo.Context) error {
	ch, err := s.storedChannel(c)
	if err != nil {
		return err
	}
	return s.renderChannelEdit(c, http.StatusOK, "", channelForm(ch))
}

func (s *Server) renderChannelEdit(c echo.Context, status int, msg string, f templates.ChannelForm) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return s.render(c, status, s.meta(c, f.Name+" · "+i18n.T(c.Request().Context(), "Notifications"), "settings"), templates.ChannelEditPage(csrfToken(c), msg, f))
}

// channelUpdate changes a channel; blank secret fields keep the stored ones.
func (s *Server) channelUpdate(c echo.Context) error {
	ch, err := s.storedChannel(c)
	if err != nil {
		return err
	}
	in, form := channelInput(c)
	stored := channelForm(ch)
	form.ID, form.Kind, form.HasURL, form.HasSecret, form.HasPassword, form.Shown = ch.ID, ch.Kind, stored.HasURL, stored.HasSecret, stored.HasPassword, stored.Shown
	again := func(status int, msg string) error { return s.renderChannelEdit(c, status, msg, form) }
	if err := checkFields(c, channelFields...); err != nil {
		return again(http.StatusUnprocessableEntity, i18n.Error(c.Request().Context(), err))
	}
	saved, _, err := s.notify().SaveChannel(c.Request().Context(), *currentUser(c), ch.ID, in)
	audit := ""
	if saved != nil {
		audit = "Notification channel " + saved.Name + " (" + string(saved.Kind) + ", " + saved.Shown + ") changed."
	}
	return s.notifyDone(c, err, audit, again, i18n.M("Channel %s saved."), strings.TrimSpace(in.Name))
}

// storedChannel loads the channel named by the :id parameter.
func (s *Server) storedChannel(c echo.Context) (*notify.Channel, error) {
	id, err := idParam(c, "id")
	if err != nil {
		return nil, err
	}
	ch, err := s.store.Channel(c.Request().Context(), id)
	if err != nil {
		return nil, err
	}
	return ch, nil
}

// channelTest sends a test message now and says how it went. An e-mail
// channel without recipients of its own writes to the admin's address.
func (s *Server) channelTest(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	to := ""
	if u, err := s.store.UserByName(ctx, currentUser(c).Username); err == nil {
		to = u.Email
	}
	msg := ""
	ch, err := s.notify().Test(ctx, *currentUser(c), id, to)
	switch {
	case ch == nil && err != nil:
		return err
	case err != nil:
		msg = i18n.Error(ctx, err)
	}
	outcome := "ok"
	if msg != "" {
		outcome = "failed"
	}
	if err := s.store.AddAudit(ctx, rewind.AuditEvent{Actor: currentUser(c).Username, Action: rewind.ActionSettingsChange, Outcome: outcome,
		Detail: "Test message sent on notification channel " + ch.Name + "."}); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, s.meta(c, i18n.T(ctx, "Send a test message"), "settings"), templates.TestResult(msg))
}

func (s *Server) channelEnable(c echo.Context) error  { return s.channelSwitch(c, true) }
func (s *Server) channelDisable(c echo.Context) error { return s.channelSwitch(c, false) }

// channelSwitch turns a channel on or off.
func (s *Server) channelSwitch(c echo.Context, on bool) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	ch, err := s.notify().SetEnabled(c.Request().Context(), *currentUser(c), id, on)
	if err != nil {
		return err
	}
	if on {
		return s.notifyDone(c, nil, "Notification channel "+ch.Name+" turned on.", nil, i18n.M("Channel %s is on."), ch.Name)
	}
	return s.notifyDone(c, nil, "Notification channel "+ch.Name+" turned off.", nil, i18n.M("Channel %s is off; messages waiting for it were given up."), ch.Name)
}

// channelDelete removes a channel and its rules.
func (s *Server) channelDelete(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	ch, err := s.notify().DeleteChannel(c.Request().Context(), *currentUser(c), id)
	if err != nil {
		return err
	}
	return s.notifyDone(c, nil, "Notification channel "+ch.Name+" removed.", nil, i18n.M("Channel %s removed."), ch.Name)
}

// ruleInput reads a rule's scope and events.
func ruleInput(c echo.Context) (env, wf int64, events []string, form templates.RuleForm, err error) {
	if env, err = notify.ParseID(c.FormValue("environment_id")); err != nil {
		return
	}
	if wf, err = notify.ParseID(c.FormValue("workflow_id")); err != nil {
		return
	}
	values, _ := c.FormParams()
	events = values["event"]
	form = templates.RuleForm{EnvironmentID: env, WorkflowID: wf, Events: []notify.EventKind{}}
	for _, e := range events {
		form.Events = append(form.Events, notify.EventKind(e))
	}
	return
}

// ruleCreate routes events to a channel.
func (s *Server) ruleCreate(c echo.Context) error {
	env, wf, events, form, err := ruleInput(c)
	channel, cerr := notify.ParseID(c.FormValue("channel_id"))
	form.ChannelID = channel
	again := s.againSettings(c, templates.NotifySettingsView{RuleForm: form, Form: templates.ChannelForm{Kind: notify.DingTalk}})
	if err == nil {
		err = cerr
	}
	if err != nil {
		return again(http.StatusUnprocessableEntity, i18n.Error(c.Request().Context(), err))
	}
	r, ch, err := s.notify().AddRule(c.Request().Context(), *currentUser(c), notify.RuleInput{ChannelID: channel, EnvironmentID: env, WorkflowID: wf, Events: events})
	audit := ""
	if err == nil {
		audit = "Notification rule added: " + notify.Describe(r, ch) + "."
	}
	return s.notifyDone(c, err, audit, again, i18n.M("Rule added."))
}

// ruleDelete removes a rule.
func (s *Server) ruleDelete(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.notify().DeleteRule(c.Request().Context(), *currentUser(c), id); err != nil {
		return err
	}
	return s.notifyDone(c, nil, "Notification rule "+strconv.FormatInt(id, 10)+" removed.", nil, i18n.M("Rule removed."))
}

// deliveryRetry sends a failed message again.
func (s *Server) deliveryRetry(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if _, err := s.notify().SendAgain(c.Request().Context(), *currentUser(c), id); err != nil {
		return err
	}
	return s.notifyDone(c, nil, "Notification "+strconv.FormatInt(id, 10)+" queued to be sent again.", nil, i18n.M("The message is queued to be sent again."))
}
