package main

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/notify/notifytest"
)

// notifyRig is `rewind serve` as a process with a SQLite database in prod
// (one approval), a webhook channel to a local receiver, and a rule that
// sends it the events of requests.
type notifyRig struct {
	p              *osRewind
	rcv            *notifytest.Receiver
	otto, anna     string // API tokens
	database       int64
	receiverSecret string
}

func newNotifyRig(t testing.TB, events ...string) *notifyRig {
	t.Helper()
	rig := &notifyRig{receiverSecret: "e2e-shared-secret-0123456789"}
	rig.rcv = notifytest.NewReceiver(t, "webhook", rig.receiverSecret)
	dbPath := filepath.Join(t.TempDir(), "shop.db")
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price INTEGER NOT NULL)`,
		`INSERT INTO items (id, name, price) VALUES (1, '支付网关月费', 1200), (2, 'gateway fee', 800)`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	config := fmt.Sprintf(`external_url: https://rewind.example.com/
environments:
  - name: prod
    required_approvals: 1
databases:
  - name: shop
    environment: prod
    engine: sqlite
    dsn: %s
`, dbPath)
	rig.p = newOSRewind(t, config, map[string]string{"otto": "operator", "anna": "approver", "adam": "admin"})
	rig.p.start(t)

	adam := loginSession(t, rig.p.URL, "adam")
	adam.get("/settings/notifications?kind=webhook")
	adam.post("/settings/notifications/channels", url.Values{"kind": {"webhook"}, "name": {"approvers"}, "locale": {"en"},
		"url": {rig.rcv.URL()}, "signing_secret": {rig.receiverSecret}})
	store := openStoreRO(t, rig.p.dataDir)
	var channel int64
	if err := store.QueryRow(`SELECT id FROM notify_channels WHERE name = 'approvers'`).Scan(&channel); err != nil {
		t.Fatalf("the channel was not stored: %v", err)
	}
	adam.post("/settings/notifications/rules", url.Values{"channel_id": {strconv.FormatInt(channel, 10)}, "environment_id": {"0"},
		"workflow_id": {"0"}, "event": events})
	rig.otto = loginSession(t, rig.p.URL, "otto").apiToken("notify-e2e")
	rig.anna = loginSession(t, rig.p.URL, "anna").apiToken("notify-e2e")
	var dbs struct{ Items []apiTargetRow }
	apiCall(t, rig.p.URL, rig.otto, http.MethodGet, "/databases", nil, http.StatusOK, &dbs)
	if len(dbs.Items) != 1 {
		t.Fatalf("databases %+v", dbs)
	}
	rig.database = dbs.Items[0].ID
	return rig
}

// change submits a SQL change as otto and returns its request's ID.
func (rig *notifyRig) change(t testing.TB, reason string) int64 {
	t.Helper()
	var r apiRequestView
	apiCall(t, rig.p.URL, rig.otto, http.MethodPost, "/databases/"+strconv.FormatInt(rig.database, 10)+"/changes",
		map[string]any{"sql": "UPDATE items SET price = price + 100 WHERE id = 1", "reason": reason}, http.StatusCreated, &r)
	return r.ID
}

// drain forgets the arrivals signalled so far.
func (rig *notifyRig) drain() {
	for {
		select {
		case <-rig.rcv.Arrived():
		default:
			return
		}
	}
}

// arrival waits until a request reaches the receiver.
func (rig *notifyRig) arrival(t testing.TB) {
	t.Helper()
	select {
	case <-rig.rcv.Arrived():
	case <-time.After(30 * time.Second):
		t.Fatal("nothing reached the receiver within 30s")
	}
}

// waitAttempt waits until the store records an attempt with outcome.
func (rig *notifyRig) waitAttempt(t testing.TB, outcome string) {
	t.Helper()
	store := openStoreRO(t, rig.p.dataDir)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := store.QueryRow(`SELECT COUNT(*) FROM notify_attempts WHERE outcome = ?`, outcome).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s attempt recorded within 30s", outcome)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNotifyEndToEnd runs `rewind serve` as a process: a request reaches
// the approvers' channel at once; Rewind killed with SIGKILL while sending
// sends the message after its restart, saying it may repeat; a receiver
// that is down gets the message once it is back, across another kill; no
// message arrives twice.
func TestNotifyEndToEnd(t *testing.T) {
	rig := newNotifyRig(t, "request.pending", "request.approved")
	reason := "双十一前把网关月费上调 100；工单 OPS-20261107-311，已与财务确认"
	submitted := time.Now()
	req := rig.change(t, reason)
	got := rig.rcv.Wait(1, 15*time.Second)
	if len(got) != 1 {
		t.Fatalf("the approvers' channel got %d messages within 15s; problems %v", len(got), rig.rcv.Problems())
	}
	t.Logf("request created → approvers' channel received it: %v", got[0].At.Sub(submitted))
	for _, want := range []string{"[prod] SQL change #" + strconv.FormatInt(req, 10) + " waits for approval: shop", reason, "otto", "1 statement",
		"https://rewind.example.com/requests/" + strconv.FormatInt(req, 10)} {
		if !strings.Contains(got[0].Text, want) {
			t.Errorf("message lacks %q:\n%s", want, got[0].Text)
		}
	}

	// The crash window: the receiver takes the approval's message but holds
	// its answer, and Rewind is killed before it hears it. After the
	// restart Rewind cannot know whether it arrived: it sends it again with
	// the same delivery ID (the receiver drops it) and says it may repeat.
	rig.drain()
	rig.rcv.Hang()
	apiCall(t, rig.p.URL, rig.anna, http.MethodPost, "/requests/"+strconv.FormatInt(req, 10)+"/approve", map[string]any{"comment": "ok"}, http.StatusOK, nil)
	rig.arrival(t)
	rig.p.kill(t)
	rig.rcv.Release()
	rig.p.start(t)
	got = rig.rcv.Wait(3, 30*time.Second)
	if len(got) != 3 || got[1].JSON["event"] != "request.approved" || got[2].JSON["event"] != "request.approved" {
		t.Fatalf("after the restart the receiver has %d messages; problems %v", len(got), rig.rcv.Problems())
	}
	if !got[2].Repeat || got[2].Header.Get("X-Rewind-Delivery") != got[1].Header.Get("X-Rewind-Delivery") {
		t.Errorf("the message sent again after the kill has another delivery ID: %s, first %s", got[2].Header.Get("X-Rewind-Delivery"), got[1].Header.Get("X-Rewind-Delivery"))
	}
	if !strings.Contains(got[2].Text, "you may have received it already") {
		t.Errorf("the message sent again after the kill does not say it may repeat:\n%s", got[2].Text)
	}
	waitRequest(t, rig.p.URL, rig.otto, req, time.Minute)

	// Receiver down, Rewind killed after a failed attempt, receiver up.
	rig.drain()
	rig.rcv.Fail(http.StatusServiceUnavailable)
	req2 := rig.change(t, "second change, while the receiver is down")
	rig.arrival(t)
	rig.waitAttempt(t, "failed") // recorded, so that the kill comes after it
	rig.p.kill(t)
	rig.rcv.Fail(0)
	rig.p.start(t)
	got = rig.rcv.Wait(4, 60*time.Second)
	if len(got) != 4 || !strings.Contains(got[3].Text, "#"+strconv.FormatInt(req2, 10)+" waits for approval") {
		t.Fatalf("after the receiver came back it has %d messages; problems %v", len(got), rig.rcv.Problems())
	}
	// Nothing but the one message of the crash window came twice.
	for i, m := range got {
		if m.Repeat != (i == 2) {
			t.Errorf("message %d (delivery %s): repeat %v", i, m.Header.Get("X-Rewind-Delivery"), m.Repeat)
		}
	}
	// Every attempt is recorded: the crash window's as unknown.
	store := openStoreRO(t, rig.p.dataDir)
	want := "sent;unknown,sent;failed,sent"
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got string
		err := store.QueryRow(`SELECT group_concat(o, ';') FROM (SELECT delivery_id, group_concat(outcome, ',') AS o
			FROM (SELECT delivery_id, outcome FROM notify_attempts ORDER BY delivery_id, number) GROUP BY delivery_id ORDER BY delivery_id)`).Scan(&got)
		if err != nil {
			t.Fatal(err)
		}
		if got == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("attempts per delivery %q, want %q", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// BenchmarkRequestToChannel measures the time from a request's creation
// (the API call that submits a SQL change) to its message reaching the
// approvers' webhook, through `rewind serve` as a process.
func BenchmarkRequestToChannel(b *testing.B) {
	rig := newNotifyRig(b, "request.pending")
	var took []time.Duration
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		req := rig.change(b, "benchmark "+strconv.Itoa(i))
		got := rig.rcv.Wait(i+1, 15*time.Second)
		if len(got) != i+1 {
			b.Fatalf("message %d did not arrive; problems %v", i+1, rig.rcv.Problems())
		}
		took = append(took, got[i].At.Sub(start))
		b.StopTimer()
		apiCall(b, rig.p.URL, rig.otto, http.MethodPost, "/requests/"+strconv.FormatInt(req, 10)+"/cancel", nil, http.StatusOK, nil)
		b.StartTimer()
	}
	slices.Sort(took)
	var total time.Duration
	for _, d := range took {
		total += d
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(total)/float64(len(took)), "ms/message")
	b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
	b.ReportMetric(ms(took[len(took)*95/100]), "p95-ms")
}
