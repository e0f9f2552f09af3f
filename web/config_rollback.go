package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/requests"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/templates"
)

// configRestore is a restore being confirmed: the version, what to do, and
// what Nacos holds now.
type configRestore struct {
	view   templates.RollbackView
	extra  templates.ConfigRestoreExtra
	action string
	live   *rewind.ConfigState // nil when Nacos cannot be read
}

// configRollbackView builds the confirmation of restoring config t to the
// version named by the "version" form or query value; "action" delete asks
// for the state without the config (before an I row, or a deleted version).
func (s *Server) configRollbackView(c echo.Context, t *rewind.Target, be ConfigBackend) (*configRestore, error) {
	ctx := c.Request().Context()
	n, err := strconv.ParseInt(c.FormValue("version"), 10, 64)
	if err != nil || n < 1 {
		return nil, rewind.Errorf(rewind.EINVALID, "Choose the version to restore.")
	}
	to, err := s.store.VersionByNumber(ctx, t.ID, n)
	if err != nil {
		return nil, err
	}
	env, err := s.store.Environment(ctx, t.EnvironmentID)
	if err != nil {
		return nil, err
	}
	server := ""
	if srv, err := s.store.NacosServer(ctx, t.OwnerID); err == nil {
		server = srv.Name
	}
	r := &configRestore{action: rewind.ConfigPublish}
	if c.FormValue("action") == rewind.ConfigDelete {
		r.action = rewind.ConfigDelete
	}
	deleting := r.action == rewind.ConfigDelete
	r.view = templates.RollbackView{CSRF: csrfToken(c), Target: t, BasePath: configPath(t), To: to, Env: env.Name, Approvals: env.RequiredApprovals,
		Title: "Restore " + t.Name + " to version " + strconv.FormatInt(to.Number, 10), SubmitLabel: "Request restore"}
	if deleting {
		r.view.Title, r.view.SubmitLabel = "Delete "+t.Name, "Request deletion"
	}
	r.extra = templates.ConfigRestoreExtra{Action: r.action, DataID: t.Name, Mask: templates.MaskNote{Masked: true}}

	live, err := be.Current(ctx, t)
	if err != nil {
		if rewind.ErrorCode(err) == rewind.EINTERNAL {
			return nil, err
		}
		r.view.Blocked = rewind.ErrorMessage(err)
		r.view.Current = to
		if base, err := s.store.LiveConfigVersion(ctx, t.ID); err == nil {
			r.view.Current = base
		}
		r.view.Subtitle = "Rewind cannot read what Nacos server " + server + " holds now, so it cannot show what the restore would change."
		return r, nil
	}
	r.live = live
	r.extra.Seen = stateShown(be, t, live.Exists, live.Content, live.MD5)
	// Current recorded what Nacos holds as the newest live version.
	if r.view.Current, err = s.store.LiveConfigVersion(ctx, t.ID); err != nil {
		r.view.Current = to
	}
	target := to.Content
	if deleting {
		target = ""
	}
	now := r.extra.Seen
	switch {
	case deleting:
		r.view.Subtitle = fmt.Sprintf("Deletes %s (now %s) from Nacos server %s in %s, as it was %s.", t.Label(), now, server, env.Name, deletedAs(to))
	default:
		r.view.Subtitle = fmt.Sprintf("Publishes the content of version %d (md5 %s, %s) to %s on Nacos server %s in %s, which now holds %s.",
			to.Number, md5Shown(be, t, to.Content, to.Hash, false), to.CreatedAt.Local().Format("2006-01-02 15:04:05"), t.Label(), server, env.Name, now)
	}
	if err := be.Preflight(ctx, t); err != nil {
		r.view.Blocked = rewind.ErrorMessage(err)
	}
	switch {
	case r.view.Blocked != "":
	case !deleting && to.Content == "":
		r.view.Blocked = fmt.Sprintf("Version %d is the config deleted: its content is empty, and Nacos cannot publish empty content. "+
			"To remove the config, request its deletion instead.", to.Number)
	case !deleting && live.Exists && live.MD5 == to.Hash:
		r.view.Blocked = fmt.Sprintf("Nacos already holds the content of version %d; there is nothing to restore.", to.Number)
	case deleting && !live.Exists:
		r.view.Blocked = "The config does not exist in Nacos now; there is nothing to delete."
	}
	r.view.Diff, r.view.KeyChanges, r.view.ShowKeys = configDiff(be, t, live.Content, target, false)
	r.extra.Mask.SecretsDiffer = secretsDiffer(be, t, live.Content, target, false)
	r.view.Extra = templates.ConfigRestoreFields(r.extra)
	return r, nil
}

// deletedAs says which state without the config a deletion restores.
func deletedAs(to *rewind.Version) string {
	if to.Hash == "" {
		return "when version " + strconv.FormatInt(to.Number, 10) + " recorded it deleted"
	}
	return "before version " + strconv.FormatInt(to.Number, 10) + " created it"
}

// configRollbackForm shows what a restore will change and asks for a reason.
func (s *Server) configRollbackForm(c echo.Context) error {
	t, err := s.configTarget(c)
	if err != nil {
		return err
	}
	be, err := s.configBackend()
	if err != nil {
		return err
	}
	r, err := s.configRollbackView(c, t, be)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, s.meta(c, r.view.Title, "configs"), templates.RollbackPage(r.view))
}

// configRollbackCreate makes a rollback request for a config. The form names
// the version the requester saw as current (base); the request carries that
// version's md5, which never leaves the server, and execution writes only if
// Nacos still holds it.
func (s *Server) configRollbackCreate(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := s.configTarget(c)
	if err != nil {
		return err
	}
	be, err := s.configBackend()
	if err != nil {
		return err
	}
	r, err := s.configRollbackView(c, t, be)
	if err != nil {
		return err
	}
	v := r.view
	v.Reason = c.FormValue("reason")
	fail := func(msg string) error {
		v.Error = msg
		return s.render(c, http.StatusUnprocessableEntity, s.meta(c, v.Title, "configs"), templates.RollbackPage(v))
	}
	if v.Blocked != "" {
		return s.render(c, http.StatusConflict, s.meta(c, v.Title, "configs"), templates.RollbackPage(v))
	}
	reason, err := rewind.ValidateReason(v.Reason)
	if err != nil {
		return fail(rewind.ErrorMessage(err))
	}
	if !seenCurrent(c.FormValue("base"), v.Current, r.live) {
		return fail("The config changed while you were looking: Nacos now holds " + r.extra.Seen + ". Check the diff below again, then submit.")
	}
	if r.action == rewind.ConfigDelete && strings.TrimSpace(c.FormValue("confirm")) != t.Name {
		return fail("Type the data ID " + t.Name + " to confirm the deletion.")
	}
	payload, err := rewind.ConfigRestore{Action: r.action}.Encode()
	if err != nil {
		return err
	}
	what := "restore version " + strconv.FormatInt(v.To.Number, 10) + " (md5 " + md5Shown(be, t, v.To.Content, v.To.Hash, false) + ")"
	if r.action == rewind.ConfigDelete {
		what = "delete the config (" + deletedAs(v.To) + ")"
	}
	req, err := s.requests().Create(ctx, actor(c), requests.NewRequest{Reason: reason, Steps: []requests.NewStep{{Target: t, To: v.To, Base: v.Current,
		Expected: r.live.MD5, Payload: payload, Detail: what + ", seen as " + r.extra.Seen}}})
	if err != nil {
		if rewind.ErrorCode(err) == rewind.ECONFLICT {
			return fail(rewind.ErrorMessage(err))
		}
		return err
	}
	flash(c, 's', "Rollback request #"+strconv.FormatInt(req.ID, 10)+" created.")
	return redirect(c, "/requests/"+strconv.FormatInt(req.ID, 10))
}

// seenCurrent says whether base, the number of the version the requester saw
// as current, is the recorded version of what Nacos holds now (live).
func seenCurrent(base string, current *rewind.Version, live *rewind.ConfigState) bool {
	if current == nil || base != strconv.FormatInt(current.Number, 10) {
		return false
	}
	if !live.Exists {
		return current.Hash == ""
	}
	return current.Hash == live.MD5
}
