package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/notify"
	"github.com/rewindhq/rewind/internal/notify/notifytest"
	"github.com/rewindhq/rewind/internal/requests"
	"github.com/rewindhq/rewind/internal/rewind"
)

var madeSecretRe = regexp.MustCompile(`data-testid="made-secret">.*?<code>([^<]+)</code>`)

// TestNotificationSettings walks an admin through a webhook channel: added
// with a secret Rewind makes, tested, given a rule; a request's message
// reaches the receiver; a refused one is listed and sent again; no page
// shows a secret.
func TestNotificationSettings(t *testing.T) {
	_, ts, store := newTestServerWith(t, Options{ExternalURL: "https://rewind.example.com"})
	ctx := context.Background()
	adam := newClient(t, ts.URL)
	adam.login("adam")
	tok := adam.csrf("/settings/notifications")
	rcv := notifytest.NewReceiver(t, "webhook", "")

	code, body := adam.post("/settings/notifications/channels", url.Values{"csrf_token": {tok}, "kind": {"webhook"}, "name": {"ops webhook"},
		"locale": {"zh-CN"}, "url": {rcv.URL()}})
	m := madeSecretRe.FindStringSubmatch(strings.ReplaceAll(body, "\n", " "))
	if code != http.StatusOK || m == nil {
		t.Fatalf("add webhook: %d, no secret shown:\n%s", code, body)
	}
	rcv.Secret = strings.TrimSpace(m[1])

	secrets := []string{notifytest.WebhookPath, rcv.Secret}
	noSecret := func(where, page string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(page, s) {
				t.Errorf("%s shows the secret %q", where, s)
			}
		}
	}
	_, page := adam.get("/settings/notifications")
	noSecret("settings page", page)
	if !strings.Contains(page, `data-name="ops webhook"`) || !strings.Contains(page, "Messages link to https://rewind.example.com") {
		t.Errorf("settings page lacks the channel or the external URL:\n%s", page)
	}
	chs, err := store.Channels(ctx)
	if err != nil || len(chs) != 1 {
		t.Fatalf("channels %v, %v", chs, err)
	}
	ch := chs[0]
	_, edit := adam.get("/settings/notifications/channels/" + itoa(ch.ID))
	noSecret("edit page", edit)

	// A test message, as htmx sends it.
	code, body = adam.send(http.MethodPost, "/settings/notifications/channels/"+itoa(ch.ID)+"/test", "application/x-www-form-urlencoded",
		[]byte(url.Values{"csrf_token": {tok}}.Encode()), map[string]string{"HX-Request": "true"})
	if code != http.StatusOK || !strings.Contains(body, `data-ok="true"`) {
		t.Fatalf("test message: %d %s (receiver: %v)", code, body, rcv.Problems())
	}
	if got := rcv.Messages(); len(got) != 1 || got[0].JSON["event"] != "test" || !strings.Contains(got[0].Text, "来自 Rewind 的测试消息") {
		t.Fatalf("receiver got %+v", got)
	}

	// A wrong URL is refused with a hint, the form kept without secrets.
	code, body = adam.post("/settings/notifications/channels", url.Values{"csrf_token": {tok}, "kind": {"dingtalk"}, "name": {"钉钉 审批群"},
		"locale": {"zh-CN"}, "url": {"https://oapi.dingtalk.com/robot/send?token=oops-secret"}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "A DingTalk robot URL looks like") || !strings.Contains(body, `value="钉钉 审批群"`) ||
		strings.Contains(body, "oops-secret") {
		t.Fatalf("wrong DingTalk URL: %d\n%s", code, body)
	}

	// A rule, then a request: its message reaches the receiver.
	code, _ = adam.post("/settings/notifications/rules", url.Values{"csrf_token": {tok}, "channel_id": {itoa(ch.ID)}, "environment_id": {"0"},
		"workflow_id": {"0"}, "event": {"request.pending", "request.approved"}})
	if code != http.StatusSeeOther {
		t.Fatalf("add rule: %d", code)
	}
	env := &rewind.Environment{Name: "prod", RequiredApprovals: 1}
	must(t, store.SaveEnvironment(ctx, env))
	tg := &rewind.Target{Kind: rewind.KindService, EnvironmentID: env.ID, OwnerID: 1, Namespace: "shop", Workload: "Deployment", Name: "web"}
	_, err = store.EnsureTarget(ctx, tg)
	must(t, err)
	v, _, err := store.RecordVersion(ctx, &rewind.Version{TargetID: tg.ID, Content: "a", Hash: "a", Source: rewind.SourceObserved})
	must(t, err)
	otto := requests.Actor{User: rewind.User{Username: "otto", Role: rewind.RoleOperator}}
	r, err := requests.New(store, &wakeCounter{}).Create(ctx, otto, requests.NewRequest{Reason: "5xx after 1.4.2", Steps: []requests.NewStep{{Target: tg, To: v, Base: v}}})
	must(t, err)
	sender := notify.NewSender(store, &notify.Composer{Facts: store, ExternalURL: "https://rewind.example.com"}, notify.NewTransport("test"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	sender.Round(ctx)
	if got := rcv.Messages(); len(got) != 2 || !strings.Contains(got[1].Text, "等待审批") || !strings.Contains(got[1].Text, "https://rewind.example.com/requests/"+itoa(r.ID)) {
		t.Fatalf("after the request the receiver has %d messages: %+v", len(got), got)
	}

	// Refused for good, listed as failed, sent again.
	rcv.Fail(http.StatusGone)
	_, err = requests.New(store, &wakeCounter{}).Decide(ctx, requests.Actor{User: rewind.User{Username: "anna", Role: rewind.RoleApprover}}, r.ID, true, "")
	must(t, err)
	sender.Round(ctx)
	_, page = adam.get("/settings/notifications")
	if !strings.Contains(page, `data-testid="failed-deliveries"`) || !strings.Contains(page, "HTTP 410") {
		t.Fatalf("the failed message is not listed:\n%s", page)
	}
	failed, err := store.Deliveries(ctx, []notify.DeliveryState{notify.DeliveryFailed}, 10)
	must(t, err)
	rcv.Fail(0)
	if code, _ := adam.post("/settings/notifications/deliveries/"+itoa(failed[0].ID)+"/retry", url.Values{"csrf_token": {tok}}); code != http.StatusSeeOther {
		t.Fatalf("send again: %d", code)
	}
	sender.Round(ctx)
	if got := rcv.Messages(); len(got) != 3 || got[2].JSON["event"] != "request.approved" {
		t.Fatalf("after send again the receiver has %d messages", len(got))
	}

	// Off, then removed.
	if code, _ := adam.post("/settings/notifications/channels/"+itoa(ch.ID)+"/disable", url.Values{"csrf_token": {tok}}); code != http.StatusSeeOther {
		t.Fatalf("turn off: %d", code)
	}
	if c, _ := store.Channel(ctx, ch.ID); c.Enabled {
		t.Error("the channel is still on")
	}
	if code, _ := adam.post("/settings/notifications/channels/"+itoa(ch.ID)+"/delete", url.Values{"csrf_token": {tok}}); code != http.StatusSeeOther {
		t.Fatalf("remove: %d", code)
	}
	if chs, _ := store.Channels(ctx); len(chs) != 0 {
		t.Errorf("channels after removal: %v", chs)
	}
	evs, _, err := store.Audit(ctx, rewind.AuditFilter{Actor: "adam"})
	must(t, err)
	var all strings.Builder
	for _, e := range evs {
		all.WriteString(e.Detail + "\n")
	}
	noSecret("audit trail", all.String())
	if !strings.Contains(all.String(), "Notification channel ops webhook") {
		t.Errorf("audit lacks the channel:\n%s", all.String())
	}
}

// TestProfileSubscriptions: a user adds an e-mail address (a bad one is
// refused and kept), subscribes through an e-mail channel, and unsubscribes.
func TestProfileSubscriptions(t *testing.T) {
	_, ts, store := newTestServerWith(t, Options{})
	ctx := context.Background()
	srv := notifytest.NewSMTPServer(t, notifytest.SMTPOptions{Username: "rewind", Password: "smtp-password-1"})
	ch := &notify.Channel{Name: "team mail", Kind: notify.Email, Locale: "en", Enabled: true, CreatedBy: "adam",
		SMTP:   notify.SMTP{Host: srv.Host, Port: srv.Port, Security: notify.SecuritySTARTTLS, Username: "rewind", From: "rewind@example.com", CAPEM: srv.CAPEM},
		Secret: notify.Secret{Password: "smtp-password-1"}}
	must(t, store.SaveChannel(ctx, ch))
	vera := newClient(t, ts.URL)
	vera.login("vera")
	tok := vera.csrf("/profile")
	_, page := vera.get("/profile")
	if !strings.Contains(page, "Add your e-mail address to subscribe") {
		t.Fatalf("profile lacks the e-mail part:\n%s", page)
	}
	code, body := vera.post("/profile/email", url.Values{"csrf_token": {tok}, "email": {"vera at example"}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, `value="vera at example"`) || !strings.Contains(body, "is not an e-mail address") {
		t.Fatalf("bad address: %d\n%s", code, body)
	}
	if code, _ := vera.post("/profile/email", url.Values{"csrf_token": {tok}, "email": {"vera@example.com"}}); code != http.StatusSeeOther {
		t.Fatalf("good address: %d", code)
	}
	code, body = vera.post("/profile/subscriptions", url.Values{"csrf_token": {tok}, "channel_id": {itoa(ch.ID)}, "locale": {"zh-CN"}, "environment_id": {"0"}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "Tick at least one event") {
		t.Fatalf("subscription without events: %d", code)
	}
	if code, _ := vera.post("/profile/subscriptions", url.Values{"csrf_token": {tok}, "channel_id": {itoa(ch.ID)}, "locale": {"zh-CN"},
		"environment_id": {"0"}, "event": {"request.failed"}, "mine_only": {"1"}}); code != http.StatusSeeOther {
		t.Fatalf("subscribe: %d", code)
	}
	u, err := store.UserByName(ctx, "vera")
	must(t, err)
	subs, err := store.Rules(ctx, u.ID)
	must(t, err)
	if len(subs) != 1 || !subs[0].MineOnly || subs[0].Locale != "zh-CN" || subs[0].Events[0] != notify.EventFailed {
		t.Fatalf("subscriptions %+v", subs)
	}
	// Another user cannot remove it; its owner can.
	otto := newClient(t, ts.URL)
	otto.login("otto")
	if code, _ := otto.post("/profile/subscriptions/"+itoa(subs[0].ID)+"/delete", url.Values{"csrf_token": {otto.csrf("/profile")}}); code != http.StatusNotFound {
		t.Errorf("otto removing vera's subscription: %d, want 404", code)
	}
	if code, _ := vera.post("/profile/subscriptions/"+itoa(subs[0].ID)+"/delete", url.Values{"csrf_token": {tok}}); code != http.StatusSeeOther {
		t.Fatalf("unsubscribe: %d", code)
	}
	if subs, _ := store.Rules(ctx, u.ID); len(subs) != 0 {
		t.Errorf("subscriptions after removal: %+v", subs)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
