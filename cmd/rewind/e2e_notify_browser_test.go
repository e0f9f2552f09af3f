package main

import (
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rewindhq/rewind/internal/notify/notifytest"
)

// TestBrowserNotifications drives Settings → Notifications and the profile
// in Chromium: an admin adds a DingTalk robot with its signing secret and
// an SMTP server, sends a test message to each, routes requests to the
// robot; a request's message arrives; a message the robot refused is sent
// again from the page; an approver adds an e-mail address and subscribes.
func TestBrowserNotifications(t *testing.T) {
	ding := notifytest.NewReceiver(t, "dingtalk", "SEC7d2a9c4e1b0f8a3d6c5e4b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1")
	mail := notifytest.NewSMTPServer(t, notifytest.SMTPOptions{Username: "rewind@example.com", Password: "smtp-p4ssword-for-rewind"})
	dbPath := filepath.Join(t.TempDir(), "ledger.db")
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT, balance INTEGER)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	rw := startRewind(t, fmt.Sprintf(`external_url: https://rewind.example.com
environments:
  - name: prod
    required_approvals: 1
databases:
  - name: ledger
    environment: prod
    engine: sqlite
    dsn: %s
`, dbPath), map[string]string{"otto": "operator", "anna": "approver", "adam": "admin"})
	ctx := newBrowser(t)
	browse(t, ctx, "login", login(rw.URL, "adam"))
	browse(t, ctx, "add dingtalk",
		chromedp.Navigate(rw.URL+"/settings/notifications?kind=dingtalk"),
		chromedp.WaitVisible(`[data-testid=channel-form]`, chromedp.ByQuery),
		chromedp.SendKeys(`#ch-name`, "生产环境审批群", chromedp.ByQuery),
		chromedp.SetValue(`#ch-locale`, "zh-CN", chromedp.ByQuery),
		chromedp.SendKeys(`#ch-url`, ding.URL(), chromedp.ByQuery),
		chromedp.SendKeys(`#ch-secret`, ding.Secret, chromedp.ByQuery),
		chromedp.Click(`[data-testid=add-channel]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=channel-row][data-kind=dingtalk]`, chromedp.ByQuery),
	)
	browse(t, ctx, "test dingtalk",
		chromedp.Click(`[data-testid=channel-row][data-kind=dingtalk] [data-testid=test-channel]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=test-result][data-ok=true]`, chromedp.ByQuery),
	)
	if got := ding.Messages(); len(got) != 1 || !strings.Contains(got[0].Text, "来自 Rewind 的测试消息") {
		t.Fatalf("the robot got %d messages; problems %v", len(got), ding.Problems())
	}
	browse(t, ctx, "add smtp",
		chromedp.Navigate(rw.URL+"/settings/notifications?kind=email"),
		chromedp.WaitVisible(`#ch-host`, chromedp.ByQuery),
		chromedp.SendKeys(`#ch-name`, "release managers", chromedp.ByQuery),
		chromedp.SendKeys(`#ch-host`, mail.Host, chromedp.ByQuery),
		chromedp.SendKeys(`#ch-port`, strconv.Itoa(mail.Port), chromedp.ByQuery),
		chromedp.SendKeys(`#ch-from`, "Rewind <rewind@example.com>", chromedp.ByQuery),
		chromedp.SendKeys(`#ch-user`, "rewind@example.com", chromedp.ByQuery),
		chromedp.SendKeys(`#ch-password`, "smtp-p4ssword-for-rewind", chromedp.ByQuery),
		chromedp.SendKeys(`#ch-to`, "release-managers@example.com\nops-oncall@example.com", chromedp.ByQuery),
		chromedp.SetValue(`#ch-ca`, mail.CAPEM, chromedp.ByQuery),
		chromedp.Click(`[data-testid=add-channel]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=channel-row][data-kind=email]`, chromedp.ByQuery),
		chromedp.Click(`[data-testid=channel-row][data-kind=email] [data-testid=test-channel]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=channel-row][data-kind=email] [data-testid=test-result][data-ok=true]`, chromedp.ByQuery),
	)
	if got := mail.Mails(); len(got) != 1 || len(got[0].To) != 2 {
		t.Fatalf("the SMTP server got %+v", got)
	}
	var html string
	browse(t, ctx, "add rule",
		chromedp.SetValue(`#rule-channel`, "1", chromedp.ByQuery),
		chromedp.Click(`[data-testid=add-rule]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=rule-row]`, chromedp.ByQuery),
		chromedp.OuterHTML("html", &html, chromedp.ByQuery),
	)
	for _, secret := range []string{notifytest.DingTalkTok, ding.Secret, "smtp-p4ssword-for-rewind"} {
		if strings.Contains(html, secret) {
			t.Errorf("the settings page shows the secret %q", secret)
		}
	}

	// A request reaches the robot; one it refuses is sent again from the page.
	otto := loginSession(t, rw.URL, "otto").apiToken("browser")
	var dbs struct{ Items []apiTargetRow }
	apiCall(t, rw.URL, otto, http.MethodGet, "/databases", nil, http.StatusOK, &dbs)
	ding.Fail(http.StatusNotFound)
	var r apiRequestView
	apiCall(t, rw.URL, otto, http.MethodPost, "/databases/"+strconv.FormatInt(dbs.Items[0].ID, 10)+"/changes",
		map[string]any{"sql": "INSERT INTO accounts (id, owner, balance) VALUES (1, '张三', 100)", "reason": "补录 11 月 7 日漏记的开户，工单 FIN-2031"}, http.StatusCreated, &r)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var n int
		browse(t, ctx, "failed delivery listed", chromedp.Navigate(rw.URL+"/settings/notifications"),
			chromedp.Evaluate(`document.querySelectorAll('[data-testid=failed-deliveries] [data-testid=send-again]').length`, &n))
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the refused message is not listed as failed")
		}
		time.Sleep(300 * time.Millisecond)
	}
	ding.Fail(0)
	browse(t, ctx, "send again",
		chromedp.Click(`[data-testid=failed-deliveries] [data-testid=send-again]`, chromedp.ByQuery),
		chromedp.WaitVisible(`.flash-success`, chromedp.ByQuery),
	)
	got := ding.Wait(2, 15*time.Second)
	if len(got) != 2 || !strings.Contains(got[1].Text, "SQL 变更 #"+strconv.FormatInt(r.ID, 10)+" 等待审批：ledger") || !strings.Contains(got[1].Text, "补录 11 月 7 日漏记的开户") {
		t.Fatalf("after send again the robot has %d messages; problems %v", len(got), ding.Problems())
	}
	browse(t, ctx, "sent listed", chromedp.Navigate(rw.URL+"/settings/notifications"),
		chromedp.WaitVisible(`[data-testid=sent-deliveries] [data-testid=delivery-row]`, chromedp.ByQuery))

	// An approver subscribes by e-mail.
	browse(t, ctx, "logout", logout())
	browse(t, ctx, "anna", login(rw.URL, "anna"),
		chromedp.Navigate(rw.URL+"/profile"),
		chromedp.SendKeys(`#my-email`, "anna@example.com", chromedp.ByQuery),
		chromedp.Click(`[data-testid=save-email]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=subscription-form]`, chromedp.ByQuery),
		chromedp.Click(`[data-testid=subscribe]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=subscription-row]`, chromedp.ByQuery),
	)
}
