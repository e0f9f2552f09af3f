package web

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/i18n"
	"github.com/rewindhq/rewind/internal/notify"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/templates"
)

// profileNotify is the profile's part about notifications: the user's
// e-mail address, subscriptions, and the e-mail channels to subscribe by.
func (s *Server) profileNotify(c echo.Context) (*templates.ProfileNotifyView, error) {
	ctx := c.Request().Context()
	u, err := s.store.UserByName(ctx, currentUser(c).Username)
	if err != nil {
		return nil, err
	}
	v := &templates.ProfileNotifyView{Email: u.Email, Locale: string(i18n.FromContext(ctx))}
	names, err := s.scopeNames(c, &v.Environments, &v.Workflows)
	if err != nil {
		return nil, err
	}
	v.Environments, v.Workflows = seenScopes(u, v.Environments, v.Workflows)
	channels, err := s.store.Channels(ctx)
	if err != nil {
		return nil, err
	}
	chName := map[int64]string{}
	for _, ch := range channels {
		chName[ch.ID] = ch.Name
		if ch.Kind == notify.Email && ch.Enabled {
			v.Channels = append(v.Channels, ch)
		}
	}
	rules, err := s.store.Rules(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		v.Subscriptions = append(v.Subscriptions, names.row(r, chName))
	}
	return v, nil
}

// seenScopes keeps the environments, and their workflows, that u may read.
func seenScopes(u *rewind.User, envs []*rewind.Environment, wfs []templates.WorkflowChoice) ([]*rewind.Environment, []templates.WorkflowChoice) {
	var keptEnvs []*rewind.Environment
	seen := map[string]bool{}
	for _, e := range envs {
		if u.RoleIn(e.ID).Allows(rewind.RoleViewer) {
			keptEnvs = append(keptEnvs, e)
			seen[e.Name] = true
		}
	}
	var keptWfs []templates.WorkflowChoice
	for _, w := range wfs {
		if seen[w.Env] {
			keptWfs = append(keptWfs, w)
		}
	}
	return keptEnvs, keptWfs
}

// profileAgain shows the profile again with msg; edit changes what its
// notification part shows (the values as typed).
func (s *Server) profileAgain(c echo.Context, status int, msg string, edit func(*templates.ProfileNotifyView)) error {
	v, err := s.tokensView(c, false)
	if err != nil {
		return err
	}
	v.Error = msg
	if edit != nil {
		edit(v.Notify)
	}
	return s.renderTokens(c, status, v)
}

// profileDone audits a change of the user's notifications, flashes done
// and goes back to the profile; a refused change shows the form again.
func (s *Server) profileDone(c echo.Context, err error, audit string, edit func(*templates.ProfileNotifyView), done string, args ...any) error {
	ctx := c.Request().Context()
	if err != nil {
		if rewind.ErrorCode(err) == rewind.EINTERNAL {
			return err
		}
		return s.profileAgain(c, http.StatusUnprocessableEntity, i18n.Error(ctx, err), edit)
	}
	if err := s.store.AddAudit(ctx, rewind.AuditEvent{Actor: currentUser(c).Username, Action: rewind.ActionUserChange, Outcome: "ok", Detail: audit}); err != nil {
		return err
	}
	flash(c, 's', i18n.T(ctx, done, args...))
	return redirect(c, "/profile")
}

// emailSave sets the user's own e-mail address.
func (s *Server) emailSave(c echo.Context) error {
	typed := c.FormValue("email")
	keep := func(v *templates.ProfileNotifyView) { v.Email = typed }
	if err := checkFields(c, FieldLimit{"email", "An e-mail address", 254}); err != nil {
		return s.profileAgain(c, http.StatusUnprocessableEntity, i18n.Error(c.Request().Context(), err), keep)
	}
	email, err := s.notify().SetEmail(c.Request().Context(), *currentUser(c), typed)
	if email == "" && err == nil {
		return s.profileDone(c, nil, "E-mail address removed.", keep, i18n.M("Your e-mail address is removed."))
	}
	return s.profileDone(c, err, "E-mail address set to "+email+".", keep, i18n.M("Your e-mail address is %s."), email)
}

// subscriptionCreate subscribes the user to events by e-mail.
func (s *Server) subscriptionCreate(c echo.Context) error {
	ctx := c.Request().Context()
	env, wf, events, form, err := ruleInput(c)
	keep := func(v *templates.ProfileNotifyView) { v.Form = form }
	if err != nil {
		return s.profileAgain(c, http.StatusUnprocessableEntity, i18n.Error(ctx, err), keep)
	}
	channel, err := notify.ParseID(c.FormValue("channel_id"))
	if err != nil {
		return s.profileAgain(c, http.StatusUnprocessableEntity, i18n.Error(ctx, err), keep)
	}
	u, err := s.store.UserByName(ctx, currentUser(c).Username)
	if err != nil {
		return err
	}
	r, err := s.notify().Subscribe(ctx, *u, notify.SubscriptionInput{ChannelID: channel, EnvironmentID: env, WorkflowID: wf, Events: events,
		Locale: c.FormValue("locale"), MineOnly: c.FormValue("mine_only") == "1"})
	audit := ""
	if err == nil {
		audit = "Subscribed to " + notify.JoinEvents(r.Events) + " by e-mail."
	}
	return s.profileDone(c, err, audit, keep, i18n.M("Subscribed: the messages go to %s."), u.Email)
}

// subscriptionDelete removes one of the user's subscriptions.
func (s *Server) subscriptionDelete(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	u, err := s.store.UserByName(c.Request().Context(), currentUser(c).Username)
	if err != nil {
		return err
	}
	if err := s.notify().Unsubscribe(c.Request().Context(), *u, id); err != nil {
		return err
	}
	return s.profileDone(c, nil, "Subscription "+strconv.FormatInt(id, 10)+" removed.", nil, i18n.M("Subscription removed."))
}
