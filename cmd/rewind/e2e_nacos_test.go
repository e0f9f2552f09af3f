package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rewindhq/rewind/internal/nacos/nacostest"
)

// TestBrowserConfigRestore drives a config restore in Chromium against the
// stand-in Nacos: an operator compares two versions of a config and requests
// the older one back, an approver approves, the page shows it succeed, and
// Nacos holds the restored content.
func TestBrowserConfigRestore(t *testing.T) {
	srv := nacostest.Start(t, nacostest.Options{Mode: nacostest.Mode2})
	key := nacostest.Key{Group: "DEFAULT_GROUP", DataID: "checkout.yaml"}
	const v1 = "# owner: <b>payments</b>\nserver:\n  port: 8080\ndb:\n  password: s3cret-one\n"
	const v2 = "# owner: <b>payments</b>\nserver:\n  port: 9090\n  timeout: 5s\ndb:\n  password: s3cret-two\n"
	srv.Seed(key, "yaml", v1)
	srv.Publish(key, v2)

	config := fmt.Sprintf(`environments:
  - name: prod
    required_approvals: 1
nacos_servers:
  - name: nacos-prod
    environment: prod
    addr: %s
    namespaces: [public]
    username: %s
    password: %s
`, srv.Addr(), srv.Username(), srv.Password())
	rw := startRewind(t, config, map[string]string{"otto": "operator", "anna": "approver"})
	b := newBrowser(t)

	var configURL string
	browse(t, b, "operator logs in and opens the config",
		login(rw.URL, "otto"),
		chromedp.Navigate(rw.URL+"/configs?env=prod"),
		chromedp.WaitVisible(`[data-testid=config-row][data-data-id="checkout.yaml"] a`, chromedp.ByQuery),
		chromedp.Click(`[data-testid=config-row][data-data-id="checkout.yaml"] a`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=config-content]`, chromedp.ByQuery),
		chromedp.Location(&configURL),
	)
	// Rewind imports Nacos' history in the background; reload until both versions show it.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var rows, imported int
		browse(t, b, "count the versions",
			chromedp.Navigate(configURL),
			chromedp.WaitVisible(`[data-testid=config-versions]`, chromedp.ByQuery),
			chromedp.Evaluate(`document.querySelectorAll('[data-testid=config-version]').length`, &rows),
			chromedp.Evaluate(`document.querySelectorAll('[data-testid=config-version] [data-source=imported]').length`, &imported),
		)
		if rows == 2 && imported == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the config page shows %d versions, %d from Nacos history; want 2 and 2", rows, imported)
		}
		time.Sleep(300 * time.Millisecond)
	}
	var content string
	browse(t, b, "read the current content", chromedp.Text(`[data-testid=config-content]`, &content, chromedp.ByQuery))
	if !strings.Contains(content, "# owner: <b>payments</b>") || !strings.Contains(content, "9090") || strings.Contains(content, "s3cret") {
		t.Errorf("current content shown as %q: want it escaped, current, and its password masked", content)
	}

	var added int
	var keys string
	browse(t, b, "compare the first version with the current one, side by side",
		chromedp.Click(`[data-testid=config-version][data-op=I] [data-testid=compare-current]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=diff]`, chromedp.ByQuery),
		chromedp.SetValue(`#cmp-mode`, "split", chromedp.ByQuery),
		chromedp.Click(`[data-testid=compare-submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=diff][data-mode=split]`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('[data-testid=diff-line-added]').length`, &added),
		chromedp.Text(`[data-testid=key-changes]`, &keys, chromedp.ByQuery),
	)
	if added == 0 || !strings.Contains(keys, "server.timeout") || !strings.Contains(keys, "db.password") || strings.Contains(keys, "s3cret") {
		t.Errorf("compare: %d added lines, keys %q; want server.timeout and a masked db.password", added, keys)
	}

	var requestURL string
	browse(t, b, "request the restore of the first version",
		chromedp.Click(`[data-testid=rollback-link]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=rollback-form]`, chromedp.ByQuery),
		chromedp.SendKeys(`#reason`, "9090 breaks the load balancer", chromedp.ByQuery),
		chromedp.Click(`[data-testid=rollback-submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=state-badge][data-state=pending]`, chromedp.ByQuery),
		chromedp.Location(&requestURL),
	)
	if got, _, _ := srv.Config(key); got != v2 {
		t.Fatalf("Nacos changed before the approval: %q", got)
	}
	browse(t, b, "operator logs out", logout())

	browse(t, b, "approver opens the inbox",
		login(rw.URL, "anna"),
		chromedp.Navigate(rw.URL+"/approvals"),
		chromedp.WaitVisible(`[data-testid=awaiting] [data-testid=approve]`, chromedp.ByQuery),
		chromedp.SendKeys(`[data-testid=awaiting] textarea[name=comment]`, "go ahead", chromedp.ByQuery),
	)
	approved := time.Now()
	browse(t, b, "approver approves", chromedp.Click(`[data-testid=awaiting] [data-testid=approve]`, chromedp.ByQuery))
	for {
		if got, _, _ := srv.Config(key); got == v1 {
			t.Logf("time from approval to the content published in Nacos: %s", time.Since(approved).Round(time.Millisecond))
			break
		}
		if time.Since(approved) > 60*time.Second {
			t.Fatalf("Nacos does not hold the restored content")
		}
		time.Sleep(5 * time.Millisecond)
	}
	var outcome string
	browse(t, b, "the request page shows the restore succeed",
		chromedp.WaitVisible(`[data-testid=state-badge][data-state=succeeded]`, chromedp.ByQuery),
		chromedp.Text(`[data-testid=outcome]`, &outcome, chromedp.ByQuery),
	)
	t.Logf("time from approval to the page showing the restore verified: %s (the page polls every 2s)", time.Since(approved).Round(time.Millisecond))
	t.Logf("outcome: %s", outcome)
	if !strings.Contains(outcome, "read it back") {
		t.Errorf("outcome %q does not say the content was read back", outcome)
	}
	if got, typ, _ := srv.Config(key); got != v1 || typ != "yaml" {
		t.Errorf("Nacos holds %q (%s), want the first version as yaml", got, typ)
	}

	var newest string
	browse(t, b, "the config page lists the restore as the current version",
		chromedp.Navigate(configURL),
		chromedp.WaitVisible(`[data-testid=config-versions]`, chromedp.ByQuery),
		chromedp.Text(`[data-testid=config-version]:first-child`, &newest, chromedp.ByQuery),
	)
	if !strings.Contains(newest, "current") || !strings.Contains(newest, "rollback") {
		t.Errorf("newest version row %q, want the current rollback", newest)
	}
	var auditText string
	browse(t, b, "audit shows the story",
		chromedp.Navigate(rw.URL+"/audit"),
		chromedp.WaitVisible(`[data-testid=audit-table]`, chromedp.ByQuery),
		chromedp.Text(`[data-testid=audit-table]`, &auditText, chromedp.ByQuery),
	)
	for _, want := range []string{"rollback.request", "rollback.approve", "rollback.execute", "rollback.result", "public/DEFAULT_GROUP/checkout.yaml"} {
		if !strings.Contains(auditText, want) {
			t.Errorf("audit lacks %s", want)
		}
	}
	if strings.Contains(auditText, "s3cret") {
		t.Errorf("audit shows a secret")
	}
}
