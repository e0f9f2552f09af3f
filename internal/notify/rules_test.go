package notify_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/i18n"
	"github.com/rewindhq/rewind/internal/notify"
	"github.com/rewindhq/rewind/internal/notify/notifytest"
	"github.com/rewindhq/rewind/internal/releases"
	"github.com/rewindhq/rewind/internal/requests"
	"github.com/rewindhq/rewind/internal/rewind"
)

// TestRulesPerWorkflow: a rule of one workflow gets its releases' and its
// targets' events, and nothing of another workflow's; a blocked release
// is reported with who blocked it and why.
func TestRulesPerWorkflow(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	rel := releases.New(w.store)
	adam := requests.Actor{User: rewind.User{Username: "adam", Role: rewind.RoleAdmin}}
	checkout, err := rel.SaveWorkflow(ctx, adam, releases.WorkflowInput{Name: "checkout", EnvironmentID: w.env.ID, TargetIDs: []int64{w.svc.ID}})
	must(t, err)
	_, err = rel.SaveWorkflow(ctx, adam, releases.WorkflowInput{Name: "billing", EnvironmentID: w.env.ID, TargetIDs: []int64{w.cfg.ID}})
	must(t, err)
	mine := notifytest.NewReceiver(t, "slack", "")
	ch := &notify.Channel{Name: "checkout-team", Kind: notify.Slack, Locale: i18n.English, Enabled: true, Secret: notify.Secret{URL: mine.URL()}, CreatedBy: "adam"}
	must(t, w.store.SaveChannel(ctx, ch))
	must(t, w.store.AddRule(ctx, &notify.Rule{ChannelID: ch.ID, EnvironmentID: w.env.ID, WorkflowID: checkout.ID, Events: notify.EventKinds, CreatedBy: "adam"}))

	// A request on billing's config: not checkout's business.
	_, err = w.reqs.Create(ctx, requests.Actor{User: w.otto}, requests.NewRequest{Reason: reason, Steps: []requests.NewStep{{Target: w.cfg, To: w.cfgTo, Base: w.cfgFrom}}})
	must(t, err)
	// A request on checkout's service, and a blocked checkout release.
	r := w.rollback(reason)
	started, err := rel.Start(ctx, adam, releases.NewRelease{Ref: releases.Ref{WorkflowID: checkout.ID}, Name: "1.4.2", Commit: "9f8e7d6c5b4a3f2e1d0c"})
	must(t, err)
	_, err = rel.Block(ctx, adam, started.ID, "支付回调签名校验错误，禁止再次发布 1.4.2")
	must(t, err)
	w.sender(nil).Round(ctx)
	got := mine.Messages()
	if len(got) != 2 {
		t.Fatalf("checkout's channel got %d messages, want its request and its blocked release: %+v", len(got), got)
	}
	if strings.Contains(got[0].Text, "blocked") { // sent side by side: either may come first
		got[0], got[1] = got[1], got[0]
	}
	if !strings.Contains(got[0].Text, "Rollback #"+strconv.FormatInt(r.ID, 10)) {
		t.Errorf("first message is not checkout's request:\n%s", got[0].Text)
	}
	for _, want := range []string{"[prod] Release 1.4.2 of checkout blocked", "adam", "支付回调签名校验错误", "9f8e7d6c5b4a3f2e1d0c",
		"https://rewind.example.com/releases/" + strconv.FormatInt(started.ID, 10)} {
		if !strings.Contains(got[1].Text, want) {
			t.Errorf("blocked release message lacks %q:\n%s", want, got[1].Text)
		}
	}
}

// TestLongPlanFitsAChatMessage: a plan of sixty steps is cut to its first
// steps (the failed one kept) and fits WeCom's 4096 bytes.
func TestLongPlanFitsAChatMessage(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	rcv := notifytest.NewReceiver(t, "wecom", "")
	w.channel(rcv)
	var steps []requests.NewStep
	for i := range 60 {
		tg := &rewind.Target{Kind: rewind.KindService, EnvironmentID: w.env.ID, OwnerID: 1, Namespace: "payments", Workload: "Deployment", Name: "svc-" + strconv.Itoa(i)}
		_, err := w.store.EnsureTarget(ctx, tg)
		must(t, err)
		to := w.version(tg, "a", []rewind.Image{{Container: "app", Image: strings.Replace(longImage, "%s", "1.4.1", 1)}})
		from := w.version(tg, "b", []rewind.Image{{Container: "app", Image: strings.Replace(longImage, "%s", "1.4.2", 1)}})
		steps = append(steps, requests.NewStep{Target: tg, To: to, Base: from})
	}
	r, err := w.reqs.Create(ctx, requests.Actor{User: w.otto}, requests.NewRequest{Reason: strings.Repeat("原因很长。", 400), Steps: steps})
	must(t, err)
	w.sender(nil).Round(ctx)
	got := rcv.Messages()
	if len(got) != 1 || len(rcv.Problems()) > 0 {
		t.Fatalf("got %d messages, problems %v", len(got), rcv.Problems())
	}
	if !strings.Contains(got[0].Text, "plan of 60 steps") || len(got[0].Text) > 4096 {
		t.Errorf("message of %d bytes:\n%s", len(got[0].Text), got[0].Text)
	}
	// The webhook gets all of it that fits a message: ten steps and the rest counted.
	hook := notifytest.NewReceiver(t, "webhook", "a-shared-secret-of-the-receiver")
	ch := &notify.Channel{Name: "hook", Kind: notify.Webhook, Locale: i18n.English, Enabled: true, Secret: notify.Secret{URL: hook.URL(), SigningSecret: hook.Secret}}
	m, err := (&notify.Composer{Facts: w.store}).Compose(ctx, notify.Event{Kind: notify.EventPending, RequestID: r.ID, EnvironmentID: w.env.ID}, i18n.English)
	must(t, err)
	must(t, notify.NewTransport("x").Send(ctx, ch, m, notify.Envelope{DeliveryID: 1}))
	if text := hook.Messages()[0].Text; !strings.Contains(text, "10. payments/deployment/svc-9") || strings.Contains(text, "svc-10 ") || !strings.Contains(text, "and 50 more steps") {
		t.Errorf("webhook text:\n%s", text)
	}
}

// TestStartTakesOverClaimsOfAStoppedRewind: a sender that takes over
// (as rewind serve's does) sends at once what a stopped one had claimed.
func TestStartTakesOverClaimsOfAStoppedRewind(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	rcv := notifytest.NewReceiver(t, "webhook", "a-shared-secret-of-the-receiver")
	w.channel(rcv)
	w.rollback(reason)
	if claims := claimAfterRouting(t, w); len(claims) != 1 {
		t.Fatalf("claimed %d", len(claims))
	}
	patient := w.sender(nil)
	patient.Round(ctx)
	if n := len(rcv.Messages()); n != 0 {
		t.Fatalf("a sender that does not take over sent %d while the claim held", n)
	}
	w.advance(time.Second) // the new start comes after the claim
	s := w.sender(nil)
	s.TakeOver = true
	s.Round(ctx)
	if got := rcv.Messages(); len(got) != 1 || !strings.Contains(got[0].Text, "you may have received it already") {
		t.Fatalf("after the takeover the receiver has %+v", got)
	}
}

// TestOutboxIsPruned: events older than Keep whose deliveries ended go;
// one still waiting stays, however old.
func TestOutboxIsPruned(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	rcv := notifytest.NewReceiver(t, "slack", "")
	w.channel(rcv)
	r := w.rollback(reason)
	s := w.sender(nil)
	s.Round(ctx)
	rcv.Fail(503)
	_, err := w.reqs.Decide(ctx, requests.Actor{User: w.anna}, r.ID, true, "")
	must(t, err)
	s.Round(ctx) // the approval's delivery waits for a retry
	w.advance(31 * 24 * time.Hour)
	s.Backoff.MaxAttempts = 100
	n, err := w.store.PruneOutbox(ctx, w.clock().Add(-s.Keep))
	must(t, err)
	if n != 1 {
		t.Fatalf("pruned %d events, want the sent one", n)
	}
	if got := w.events(); got[notify.EventPending] != 0 || got[notify.EventApproved] != 1 {
		t.Errorf("outbox after pruning: %v", got)
	}
	rcv.Fail(0)
	s.Round(ctx)
	if got := rcv.Messages(); len(got) != 2 {
		t.Errorf("the waiting delivery was lost: %d messages", len(got))
	}
}
