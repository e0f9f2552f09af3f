package notify_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewindhq/rewind/db"
	"github.com/rewindhq/rewind/internal/i18n"
	"github.com/rewindhq/rewind/internal/notify"
	"github.com/rewindhq/rewind/internal/notify/notifytest"
	"github.com/rewindhq/rewind/internal/postgres/pgtest"
	"github.com/rewindhq/rewind/internal/requests"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/secret"
	"github.com/rewindhq/rewind/internal/sqlite"
)

type noRunner struct{}

func (noRunner) Wake() {}

// world is a real store with an environment prod that needs one approval,
// a service and a config target with two versions each, users otto
// (operator) and anna (approver), and a clock the senders share.
type world struct {
	t       *testing.T
	path    string
	store   *sqlite.Store
	env     *rewind.Environment
	svc     *rewind.Target
	svcFrom *rewind.Version // the live version the requester saw
	svcTo   *rewind.Version
	cfg     *rewind.Target
	cfgFrom *rewind.Version
	cfgTo   *rewind.Version
	reqs    *requests.Service
	otto    rewind.User
	anna    rewind.User

	mu  sync.Mutex
	now time.Time
}

const longImage = "registry.cn-hangzhou.aliyuncs.com/checkout-team/payment-gateway-service:%s-20260301-9f8e7d6c5b4a3"

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	// The senders' clock runs an hour ahead of the store's, so that what the
	// store queues "now" (send again) is due for them at once.
	w := &world{t: t, path: filepath.Join(t.TempDir(), "rewind.db"), now: time.Now().UTC().Add(time.Hour)}
	if testEngine == db.Postgres {
		w.path = pgtest.NewStore(t)
	}
	w.store = w.open()
	w.env = &rewind.Environment{Name: "prod", RequiredApprovals: 1}
	must(t, w.store.SaveEnvironment(ctx, w.env))
	for _, u := range []*rewind.User{{Username: "otto", Role: rewind.RoleOperator}, {Username: "anna", Role: rewind.RoleApprover}} {
		u.PasswordHash = "x"
		must(t, w.store.CreateUser(ctx, u))
	}
	w.otto, w.anna = w.user("otto"), w.user("anna")
	w.svc = &rewind.Target{Kind: rewind.KindService, EnvironmentID: w.env.ID, OwnerID: 1, Namespace: "payments", Workload: "Deployment", Name: "gateway"}
	w.cfg = &rewind.Target{Kind: rewind.KindConfig, EnvironmentID: w.env.ID, OwnerID: 1, Namespace: "prod", Group: "DEFAULT_GROUP", Name: "gateway.yaml"}
	for _, tg := range []*rewind.Target{w.svc, w.cfg} {
		if _, err := w.store.EnsureTarget(ctx, tg); err != nil {
			t.Fatal(err)
		}
	}
	w.svcTo = w.version(w.svc, "a", []rewind.Image{{Container: "gateway", Image: strings.Replace(longImage, "%s", "1.4.1", 1)}})
	w.svcFrom = w.version(w.svc, "b", []rewind.Image{{Container: "gateway", Image: strings.Replace(longImage, "%s", "1.4.2", 1)}})
	w.cfgTo = w.version(w.cfg, "spring:\n  datasource:\n    url: jdbc:mysql://db/pay\n    password: old-hunter2-secret\n", nil)
	w.cfgFrom = w.version(w.cfg, "spring:\n  datasource:\n    url: jdbc:mysql://db2/pay\n    password: new-hunter2-secret\nfeature:\n  fastpay: true\n", nil)
	w.reqs = requests.New(w.store, noRunner{})
	return w
}

func (w *world) open() *sqlite.Store {
	box, err := secret.NewBox(make([]byte, 32))
	must(w.t, err)
	s, err := sqlite.Open(context.Background(), w.path, box)
	must(w.t, err)
	w.t.Cleanup(func() { s.Close() })
	return s
}

func (w *world) user(name string) rewind.User {
	u, err := w.store.UserByName(context.Background(), name)
	must(w.t, err)
	return *u
}

func (w *world) version(t *rewind.Target, content string, images []rewind.Image) *rewind.Version {
	v, _, err := w.store.RecordVersion(context.Background(), &rewind.Version{TargetID: t.ID, Content: content, Hash: content, Source: rewind.SourceObserved, Images: images})
	must(w.t, err)
	return v
}

// clock is the senders' time; advance moves it on.
func (w *world) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

func (w *world) advance(d time.Duration) {
	w.mu.Lock()
	w.now = w.now.Add(d)
	w.mu.Unlock()
}

// sender returns a sender over store (the world's when nil) on the
// world's clock.
func (w *world) sender(store *sqlite.Store) *notify.Sender {
	if store == nil {
		store = w.store
	}
	s := notify.NewSender(store, &notify.Composer{Facts: store, ExternalURL: "https://rewind.example.com"},
		notify.NewTransport("rewind.test"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.Now = w.clock
	return s
}

// channel adds a channel sending to rcv and a rule routing events to it.
func (w *world) channel(rcv *notifytest.Receiver, events ...notify.EventKind) *notify.Channel {
	ch := &notify.Channel{Name: rcv.Kind + "-" + strconv.Itoa(len(w.channels())), Kind: notify.ChannelKind(rcv.Kind), Locale: i18n.English, Enabled: true,
		Secret: notify.Secret{URL: rcv.URL(), SigningSecret: rcv.Secret}, CreatedBy: "adam"}
	must(w.t, w.store.SaveChannel(context.Background(), ch))
	if len(events) == 0 {
		events = notify.EventKinds
	}
	must(w.t, w.store.AddRule(context.Background(), &notify.Rule{ChannelID: ch.ID, Events: events, CreatedBy: "adam"}))
	return ch
}

func (w *world) channels() []*notify.Channel {
	chs, err := w.store.Channels(context.Background())
	must(w.t, err)
	return chs
}

// rollback asks otto's rollback of the service to its earlier version.
func (w *world) rollback(reason string) *rewind.Request {
	r, err := w.reqs.Create(context.Background(), requests.Actor{User: w.otto}, requests.NewRequest{Reason: reason,
		Steps: []requests.NewStep{{Target: w.svc, To: w.svcTo, Base: w.svcFrom}}})
	must(w.t, err)
	return r
}

// events counts the outbox's events by kind.
func (w *world) events() map[notify.EventKind]int {
	rows, err := w.store.DB().Query(`SELECT kind, COUNT(*) FROM notify_events GROUP BY kind`)
	must(w.t, err)
	defer rows.Close()
	out := map[notify.EventKind]int{}
	for rows.Next() {
		var k notify.EventKind
		var n int
		must(w.t, rows.Scan(&k, &n))
		out[k] = n
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

const reason = "支付网关在 1.4.2 发布后 5xx 激增（p99 从 120ms 升到 4s），回滚到 1.4.1 以止血；事故单 INC-20260301-042。"

// TestOutboxIsWrittenWithTheChange: every state change of a request
// writes its event in its own transaction, and a refused change writes none.
func TestOutboxIsWrittenWithTheChange(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	r := w.rollback(reason)
	if _, err := w.reqs.Create(ctx, requests.Actor{User: w.otto}, requests.NewRequest{Reason: "again",
		Steps: []requests.NewStep{{Target: w.svc, To: w.svcTo, Base: w.svcFrom}}}); rewind.ErrorCode(err) != rewind.ECONFLICT {
		t.Fatalf("second request on the same target: %v, want a conflict", err)
	}
	if _, err := w.reqs.Decide(ctx, requests.Actor{User: w.anna}, r.ID, false, ""); rewind.ErrorCode(err) != rewind.EINVALID {
		t.Fatalf("rejection without comment: %v", err)
	}
	if _, err := w.reqs.Decide(ctx, requests.Actor{User: w.anna}, r.ID, true, "看过 diff，可以回滚"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.store.Move(ctx, r.ID, []rewind.State{rewind.StateApproved}, rewind.StateRunning, "Started.", nil); err != nil {
		t.Fatal(err)
	}
	st := w.reqsStep(r.ID)
	if _, err := w.store.MoveStep(ctx, st.ID, []rewind.StepState{rewind.StepWaiting}, rewind.StepRunning, "Started.", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := w.store.MoveStep(ctx, st.ID, []rewind.StepState{rewind.StepRunning}, rewind.StepFailed, "The rollout did not finish in 10m.", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := w.store.Move(ctx, r.ID, []rewind.State{rewind.StateRunning}, rewind.StateFailed, "The rollout did not finish in 10m.", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := w.store.Move(ctx, r.ID, []rewind.State{rewind.StateRunning}, rewind.StateSucceeded, "done", nil); err == nil {
		t.Fatal("a failed request became succeeded")
	}
	want := map[notify.EventKind]int{notify.EventPending: 1, notify.EventApproved: 1, notify.EventStarted: 1, notify.EventStepFailed: 1, notify.EventFailed: 1}
	if got := w.events(); !equalCounts(got, want) {
		t.Errorf("outbox holds %v, want %v", got, want)
	}
}

func (w *world) reqsStep(id int64) rewind.Step {
	r, err := w.store.Request(context.Background(), id)
	must(w.t, err)
	return r.Steps[0]
}

func equalCounts(a, b map[notify.EventKind]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, n := range a {
		if b[k] != n {
			return false
		}
	}
	return true
}

// TestApproverHearsAtOnce: a request waiting for approval reaches the
// approvers' channel with what they need to decide, and no secret.
func TestApproverHearsAtOnce(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	rcv := notifytest.NewReceiver(t, "webhook", "a-shared-secret-of-the-receiver")
	w.channel(rcv, notify.EventPending, notify.EventApproved)
	other := &rewind.Environment{Name: "staging"}
	must(t, w.store.SaveEnvironment(ctx, other))
	quiet := notifytest.NewReceiver(t, "slack", "")
	qch := &notify.Channel{Name: "staging-only", Kind: notify.Slack, Locale: i18n.English, Enabled: true, Secret: notify.Secret{URL: quiet.URL()}, CreatedBy: "adam"}
	must(t, w.store.SaveChannel(ctx, qch))
	must(t, w.store.AddRule(ctx, &notify.Rule{ChannelID: qch.ID, EnvironmentID: other.ID, Events: notify.EventKinds, CreatedBy: "adam"}))

	r, err := w.reqs.Create(ctx, requests.Actor{User: w.otto}, requests.NewRequest{Reason: reason, Steps: []requests.NewStep{
		{Target: w.svc, To: w.svcTo, Base: w.svcFrom}, {Target: w.cfg, To: w.cfgTo, Base: w.cfgFrom}}})
	must(t, err)
	w.sender(nil).Round(ctx)
	got := rcv.Messages()
	if len(got) != 1 || len(rcv.Problems()) > 0 {
		t.Fatalf("approvers' channel got %d messages, problems %v", len(got), rcv.Problems())
	}
	text := got[0].Text
	for _, want := range []string{"[prod] Rollback #" + strconv.FormatInt(r.ID, 10) + " waits for approval: plan of 2 steps", "otto", reason,
		"payments/deployment/gateway", "image gateway: " + strings.Replace(longImage, "%s", "1.4.2", 1) + " → " + strings.Replace(longImage, "%s", "1.4.1", 1),
		"~spring.datasource.password", "~spring.datasource.url", "-feature.fastpay", "0 of 1 given",
		"https://rewind.example.com/requests/" + strconv.FormatInt(r.ID, 10)} {
		if !strings.Contains(text, want) {
			t.Errorf("message lacks %q:\n%s", want, text)
		}
	}
	for _, secret := range []string{"hunter2", "db2/pay"} {
		if strings.Contains(string(got[0].Body), secret) {
			t.Errorf("message shows the config value %q:\n%s", secret, got[0].Body)
		}
	}
	if len(quiet.Messages()) != 0 {
		t.Errorf("a staging channel got a prod request")
	}
	// Sending again changes nothing: the delivery was sent.
	w.sender(nil).Round(ctx)
	if n := len(rcv.Messages()); n != 1 {
		t.Errorf("after a second round the receiver has %d messages, want 1", n)
	}
}

// TestChineseChannel speaks Chinese.
func TestChineseChannel(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	rcv := notifytest.NewReceiver(t, "dingtalk", "SEC0123456789abcdef0123456789abcdef")
	ch := w.channel(rcv)
	ch.Locale = i18n.Chinese
	must(t, w.store.SaveChannel(ctx, ch))
	r := w.rollback(reason)
	w.sender(nil).Round(ctx)
	got := rcv.Messages()
	if len(got) != 1 {
		t.Fatalf("got %d messages, problems %v", len(got), rcv.Problems())
	}
	want := "[prod] 回滚 #" + strconv.FormatInt(r.ID, 10) + " 等待审批：payments/deployment/gateway"
	if !strings.Contains(got[0].Text, want) || !strings.Contains(got[0].Text, "申请人") {
		t.Errorf("message is not in Chinese:\n%s", got[0].Text)
	}
}

// TestReceiverDownThenUp: a receiver that is down gets the message once
// it is up again, after the backoff; every attempt is recorded.
func TestReceiverDownThenUp(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	rcv := notifytest.NewReceiver(t, "feishu", "feishu-signing-secret")
	w.channel(rcv)
	rcv.Fail(http.StatusServiceUnavailable)
	w.rollback(reason)
	s := w.sender(nil)
	s.Round(ctx)
	ds, err := w.store.Deliveries(ctx, nil, 10)
	must(t, err)
	if len(ds) != 1 || ds[0].State != notify.DeliveryQueued || ds[0].Attempts != 1 || !ds[0].NextAt.After(w.clock()) {
		t.Fatalf("after a failed attempt: %+v, want one queued for later", ds)
	}
	s.Round(ctx) // not yet due
	if ds, _ := w.store.Deliveries(ctx, nil, 10); ds[0].Attempts != 1 {
		t.Fatalf("tried again before its time: %+v", ds[0])
	}
	rcv.Fail(0)
	w.advance(notify.DefaultBackoff.Base)
	s.Round(ctx)
	if got := rcv.Messages(); len(got) != 1 {
		t.Fatalf("after the receiver came back it has %d messages", len(got))
	}
	atts, err := w.store.Attempts(ctx, ds[0].ID)
	must(t, err)
	if len(atts) != 2 || atts[0].Outcome != notify.AttemptFailed || !strings.Contains(atts[0].Error, "503") || atts[1].Outcome != notify.AttemptSent {
		t.Errorf("attempts %+v, want failed (503) then sent", atts)
	}
}

// TestGiveUpAndSendAgain: a permanent refusal gives up at once, a
// transient one after the bound; "send again" queues it anew.
func TestGiveUpAndSendAgain(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	rcv := notifytest.NewReceiver(t, "wecom", "")
	w.channel(rcv)
	rcv.Fail(http.StatusNotFound)
	w.rollback(reason)
	s := w.sender(nil)
	s.Round(ctx)
	ds, _ := w.store.Deliveries(ctx, nil, 10)
	if ds[0].State != notify.DeliveryFailed || ds[0].Attempts != 1 {
		t.Fatalf("after a 404: %+v, want given up after one attempt", ds[0])
	}
	rcv.Fail(http.StatusBadGateway)
	if _, err := w.store.Requeue(ctx, ds[0].ID); err != nil {
		t.Fatal(err)
	}
	s.Backoff = notify.Backoff{Base: time.Second, Max: time.Second, MaxAttempts: 3}
	for range 5 {
		s.Round(ctx)
		w.advance(time.Second)
	}
	ds, _ = w.store.Deliveries(ctx, nil, 10)
	if ds[0].State != notify.DeliveryFailed || ds[0].Attempts != 4 || !strings.Contains(ds[0].LastError, "502") {
		t.Fatalf("after the bound: %+v, want failed after 1+3 attempts", ds[0])
	}
	rcv.Fail(0)
	if _, err := w.store.Requeue(ctx, ds[0].ID); err != nil {
		t.Fatal(err)
	}
	s.Round(ctx)
	if got := rcv.Messages(); len(got) != 1 {
		t.Fatalf("sent again: receiver has %d messages", len(got))
	}
	if _, err := w.store.Requeue(ctx, ds[0].ID); rewind.ErrorCode(err) != rewind.ECONFLICT {
		t.Errorf("requeue of a sent delivery: %v, want a conflict", err)
	}
}

// TestNoDuplicates: two senders on one store (two handles, as two
// processes would) send each message once; a claim whose sender stopped
// is taken up after its lease, marked as a possible repeat, with the same
// delivery ID, so that the receiver can drop it.
func TestNoDuplicates(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	rcv := notifytest.NewReceiver(t, "webhook", "a-shared-secret-of-the-receiver")
	w.channel(rcv)
	// Twenty requests on twenty targets: forty events with approvals.
	for i := range 20 {
		tg := &rewind.Target{Kind: rewind.KindService, EnvironmentID: w.env.ID, OwnerID: 1, Namespace: "payments", Workload: "Deployment", Name: "svc-" + strconv.Itoa(i)}
		_, err := w.store.EnsureTarget(ctx, tg)
		must(t, err)
		v := w.version(tg, "x", nil)
		r, err := w.reqs.Create(ctx, requests.Actor{User: w.otto}, requests.NewRequest{Reason: reason, Steps: []requests.NewStep{{Target: tg, To: v, Base: v}}})
		must(t, err)
		_, err = w.reqs.Decide(ctx, requests.Actor{User: w.anna}, r.ID, true, "ok")
		must(t, err)
	}
	a, b := w.sender(nil), w.sender(w.open())
	var wg sync.WaitGroup
	for _, s := range []*notify.Sender{a, b, a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); s.Round(ctx) }()
	}
	wg.Wait()
	got := rcv.Messages()
	seen := map[string]bool{}
	for _, m := range got {
		id := m.Header.Get(notify.HeaderDelivery)
		if seen[id] {
			t.Errorf("delivery %s arrived twice", id)
		}
		seen[id] = true
	}
	if len(got) != 40 {
		t.Fatalf("receiver has %d messages, want 40", len(got))
	}

	// The crash window: a sender claims, sends, and stops before it records.
	w.rollback(reason)
	claims := claimAfterRouting(t, w)
	if len(claims) != 1 {
		t.Fatalf("claimed %d, want the new request's delivery", len(claims))
	}
	ch := w.channels()[0]
	m := &notify.Message{Event: notify.EventPending, Title: "sent, then Rewind died", Locale: i18n.English, Data: notify.EventData{Event: notify.EventPending}}
	must(t, notify.NewTransport("x").Send(ctx, ch, m, notify.Envelope{DeliveryID: claims[0].Delivery.ID, Attempt: claims[0].Attempt}))
	a.Round(ctx) // the claim holds: nothing is sent again yet
	if n := len(rcv.Messages()); n != 41 {
		t.Fatalf("while the claim holds the receiver has %d messages, want 41", n)
	}
	w.advance(time.Minute + time.Second)
	a.Round(ctx)
	got = rcv.Messages()
	if len(got) != 42 || !got[41].Repeat || got[41].Header.Get(notify.HeaderDelivery) != strconv.FormatInt(claims[0].Delivery.ID, 10) {
		t.Fatalf("after the lease: %d messages, last repeat %v", len(got), got[len(got)-1].Repeat)
	}
	if !strings.Contains(got[41].Text, "you may have received it already") {
		t.Errorf("the repeat does not say it may be one:\n%s", got[41].Text)
	}
	atts, err := w.store.Attempts(ctx, claims[0].Delivery.ID)
	must(t, err)
	if len(atts) != 2 || atts[0].Outcome != notify.AttemptUnknown || atts[1].Outcome != notify.AttemptSent {
		t.Errorf("attempts %+v, want unknown then sent", atts)
	}
}

// claimAfterRouting routes the outbox with rules, then claims what is due
// without sending, as a sender that stops at once would.
func claimAfterRouting(t *testing.T, w *world) []notify.Claim {
	t.Helper()
	ctx := context.Background()
	evs, err := w.store.UnroutedEvents(ctx, 10)
	must(t, err)
	chs := w.channels()
	for _, ev := range evs {
		must(t, w.store.Route(ctx, ev.ID, []notify.Delivery{{ChannelID: chs[0].ID, NextAt: w.clock()}}))
	}
	claims, err := w.store.Claim(ctx, w.clock(), w.clock().Add(time.Minute), time.Time{}, 10)
	must(t, err)
	return claims
}

// TestSubscriptions: a user's subscription mails them, in their
// language; their own request waiting for approval does not.
func TestSubscriptions(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	srv := notifytest.NewSMTPServer(t, notifytest.SMTPOptions{Username: "rewind", Password: "smtp-password-1"})
	ch := &notify.Channel{Name: "mail", Kind: notify.Email, Locale: i18n.English, Enabled: true, CreatedBy: "adam",
		SMTP:   notify.SMTP{Host: srv.Host, Port: srv.Port, Security: notify.SecuritySTARTTLS, Username: "rewind", From: "rewind@example.com", CAPEM: srv.CAPEM},
		Secret: notify.Secret{Password: "smtp-password-1"}}
	must(t, w.store.SaveChannel(ctx, ch))
	must(t, w.store.SetEmail(ctx, "anna", "anna@example.com"))
	must(t, w.store.SetEmail(ctx, "otto", "otto@example.com"))
	must(t, w.store.AddRule(ctx, &notify.Rule{ChannelID: ch.ID, UserID: w.anna.ID, Locale: i18n.Chinese, Events: []notify.EventKind{notify.EventPending}, CreatedBy: "anna"}))
	must(t, w.store.AddRule(ctx, &notify.Rule{ChannelID: ch.ID, UserID: w.otto.ID, Locale: i18n.English, MineOnly: true,
		Events: []notify.EventKind{notify.EventPending, notify.EventApproved}, CreatedBy: "otto"}))
	// Sam reads staging only: prod's requests are not his to hear of.
	staging := &rewind.Environment{Name: "staging"}
	must(t, w.store.SaveEnvironment(ctx, staging))
	sam := &rewind.User{Username: "sam", Role: rewind.RoleNone, EnvRoles: rewind.EnvRoles{staging.ID: rewind.RoleApprover}, PasswordHash: "x"}
	must(t, w.store.CreateUser(ctx, sam))
	must(t, w.store.SetRoles(ctx, "sam", rewind.RoleNone, rewind.EnvRoles{staging.ID: rewind.RoleApprover}))
	must(t, w.store.SetEmail(ctx, "sam", "sam@example.com"))
	must(t, w.store.AddRule(ctx, &notify.Rule{ChannelID: ch.ID, UserID: w.user("sam").ID, Locale: i18n.English, Events: notify.EventKinds, CreatedBy: "sam"}))
	svc := notify.NewService(w.store, notify.NewTransport("x"), "")
	if _, err := svc.Subscribe(ctx, w.user("sam"), notify.SubscriptionInput{ChannelID: ch.ID, EnvironmentID: w.env.ID, Locale: "en", Events: []string{"request.pending"}}); rewind.ErrorCode(err) != rewind.EINVALID {
		t.Errorf("sam subscribing to prod: %v", err)
	}
	r := w.rollback(reason)
	_, err := w.reqs.Decide(ctx, requests.Actor{User: w.anna}, r.ID, true, "")
	must(t, err)
	w.sender(nil).Round(ctx)
	mails := srv.Mails()
	slices.SortFunc(mails, func(a, b notifytest.Mail) int { return strings.Compare(a.To[0], b.To[0]) })
	if len(mails) != 2 {
		t.Fatalf("%d mails, want anna's request and otto's approval", len(mails))
	}
	if mails[0].To[0] != "anna@example.com" || !strings.Contains(mails[0].Subject, "等待审批") {
		t.Errorf("first mail to %v: %q", mails[0].To, mails[0].Subject)
	}
	if mails[1].To[0] != "otto@example.com" || !strings.Contains(mails[1].Subject, "approved") {
		t.Errorf("second mail to %v: %q", mails[1].To, mails[1].Subject)
	}
}
