package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rewindhq/rewind/internal/testenv"
	"github.com/rewindhq/rewind/internal/testenv/idp"
)

// A team lead who is approver in prod only, through her directory groups,
// signs in through Dex's login page (Dex checks her against the LDAP
// directory) and approves a rollback of a prod service that a local
// operator requested; the rollback runs. A developer without a role in prod
// signs in the same way and does not see the request.
func TestBrowserSignInWithOIDCAndApprove(t *testing.T) {
	cluster := testenv.Shared(t)
	ns := cluster.NewNamespace(t)
	cs := kubernetes.NewForConfigOrDie(cluster.RestConfig())
	ctx := context.Background()
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, deployment(ns, "checkout", "registry.example.com/shop/checkout:1.4.1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRollout(t, cs, ns, "checkout", "registry.example.com/shop/checkout:1.4.1")
	d, _ := cs.AppsV1().Deployments(ns).Get(ctx, "checkout", metav1.GetOptions{})
	d.Spec.Template.Spec.Containers[0].Image = "registry.example.com/shop/checkout:1.4.2"
	if _, err := cs.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{FieldManager: "kubectl-set"}); err != nil {
		t.Fatal(err)
	}
	waitRollout(t, cs, ns, "checkout", "registry.example.com/shop/checkout:1.4.2")

	ca := idp.NewCA(t)
	dir := idp.StartLDAP(t, ca,
		idp.Person{Name: "lena", Password: "lena-password-1", Mail: "lena@example.com", Groups: []string{"shop-devs", "shop-leads"}},
		idp.Person{Name: "dora", Password: "dora-password-1", Mail: "dora@example.com", Groups: []string{"shop-devs"}})
	addr := freeAddr(t)
	callback := "http://" + addr + "/auth/oidc/callback"
	dex := idp.StartDex(t, ca, dir, 0, idp.Client{ID: "rewind", Secret: "rewind-client-secret", RedirectURI: callback})
	config := fmt.Sprintf(`environments:
  - name: dev
    required_approvals: 0
  - name: prod
    required_approvals: 1
clusters:
  - name: test
    environment: prod
    kubeconfig: %s
    context: %s
    namespaces: [%s]
signin:
  oidc:
    name: Dex
    issuer: %s
    client_id: rewind
    client_secret: rewind-client-secret
    redirect_url: %s
    ca_file: %s
  groups:
    - group: shop-leads
      role: operator
      environments:
        prod: approver
    - group: shop-devs
      environments:
        dev: operator
`, cluster.KubeconfigPath, cluster.Context, ns, dex.Issuer, callback, ca.File)
	rw := startRewindAt(t, addr, config, map[string]string{"otto": "operator", "adam": "admin"})
	// Chromium does not know the test CA that Dex's certificate comes from;
	// Rewind itself verifies Dex against it.
	b := newBrowser(t, chromedp.Flag("ignore-certificate-errors", true))

	var requestURL string
	browse(t, b, "a local operator requests a rollback in prod",
		login(rw.URL, "otto"),
		chromedp.Navigate(rw.URL+"/services?env=prod"),
		chromedp.WaitVisible(`[data-testid=service-row] a`, chromedp.ByQuery),
		chromedp.Click(`[data-testid=service-row] a`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=version-row][data-number="2"]`, chromedp.ByQuery),
		chromedp.Click(`[data-testid=version-row][data-number="1"] [data-testid=compare-current]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=rollback-link]`, chromedp.ByQuery),
		chromedp.Click(`[data-testid=rollback-link]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=rollback-form]`, chromedp.ByQuery),
		chromedp.SendKeys(`#reason`, "1.4.2 支付回调超时, checkout fails for every order paid by WeChat Pay", chromedp.ByQuery),
		chromedp.Click(`[data-testid=rollback-submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=state-badge][data-state=pending]`, chromedp.ByQuery),
		chromedp.Location(&requestURL),
	)
	browse(t, b, "the operator logs out", logout())

	signInWithDex := func(user, pw string) chromedp.Tasks {
		return chromedp.Tasks{
			chromedp.Navigate(rw.URL + "/approvals"),
			chromedp.WaitVisible(`[data-testid=login-oidc]`, chromedp.ByQuery),
			chromedp.Click(`[data-testid=login-oidc]`, chromedp.ByQuery),
			chromedp.WaitVisible(`#login`, chromedp.ByQuery), // Dex's login page
			chromedp.SendKeys(`#login`, user, chromedp.ByQuery),
			chromedp.SendKeys(`#password`, pw, chromedp.ByQuery),
			chromedp.Click(`#submit-login`, chromedp.ByQuery),
			chromedp.WaitVisible(`[data-testid=nav-username]`, chromedp.ByQuery),
		}
	}
	var dexURL, who, here string
	browse(t, b, "the team lead signs in through Dex",
		chromedp.Navigate(rw.URL+"/approvals"),
		chromedp.WaitVisible(`[data-testid=login-oidc]`, chromedp.ByQuery),
		chromedp.Click(`[data-testid=login-oidc]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#login`, chromedp.ByQuery),
		chromedp.Location(&dexURL),
		chromedp.SendKeys(`#login`, "lena", chromedp.ByQuery),
		chromedp.SendKeys(`#password`, "lena-password-1", chromedp.ByQuery),
		chromedp.Click(`#submit-login`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=nav-username]`, chromedp.ByQuery),
		chromedp.Text(`[data-testid=nav-username]`, &who, chromedp.ByQuery),
		chromedp.Location(&here),
	)
	if !strings.HasPrefix(dexURL, dex.Issuer) || !strings.Contains(who, "lena") || !strings.HasPrefix(here, rw.URL+"/approvals") {
		t.Fatalf("sign-in went through %q, shows %q, lands on %q", dexURL, who, here)
	}
	timings := watchRollback(t, cs, ns, "checkout", "registry.example.com/shop/checkout:1.4.1", rw, requestURL)
	browse(t, b, "the approver in prod approves from her inbox",
		chromedp.WaitVisible(`[data-testid=awaiting] [data-testid=approve]`, chromedp.ByQuery),
		chromedp.SendKeys(`[data-testid=awaiting] textarea[name=comment]`, "同意回滚 — lena", chromedp.ByQuery),
		chromedp.Click(`[data-testid=awaiting] [data-testid=approve]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=request-live]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=state-badge][data-state=succeeded]`, chromedp.ByQuery),
	)
	<-timings
	waitRollout(t, cs, ns, "checkout", "registry.example.com/shop/checkout:1.4.1")
	var auditText string
	browse(t, b, "the audit trail says how she signed in",
		chromedp.Navigate(rw.URL+"/audit"),
		chromedp.WaitVisible(`[data-testid=audit-table]`, chromedp.ByQuery),
		chromedp.Text(`[data-testid=audit-table]`, &auditText, chromedp.ByQuery),
	)
	if !strings.Contains(auditText, "via OIDC (Dex)") || !strings.Contains(auditText, "rollback.approve") {
		t.Errorf("the audit trail lacks the sign-in through Dex or the approval:\n%s", auditText)
	}
	browse(t, b, "she logs out", logout())

	var requests int
	browse(t, b, "a developer without a role in prod signs in through Dex",
		signInWithDex("dora", "dora-password-1"),
		chromedp.Navigate(rw.URL+"/approvals"),
		chromedp.WaitVisible(`[data-testid=nav-username]`, chromedp.ByQuery),
		chromedp.Evaluate(fmt.Sprintf(`document.querySelectorAll('a[href=%q]').length`, strings.TrimPrefix(requestURL, rw.URL)), &requests),
	)
	if requests != 0 {
		t.Errorf("dora, without a role in prod, sees the prod request %d times", requests)
	}
	browse(t, b, "she logs out", logout())

	var mapping, lenaRow string
	browse(t, b, "an admin reads how people sign in",
		login(rw.URL, "adam"),
		chromedp.Navigate(rw.URL+"/settings/signin"),
		chromedp.WaitVisible(`[data-testid=group-mapping]`, chromedp.ByQuery),
		chromedp.Text(`[data-testid=group-mapping]`, &mapping, chromedp.ByQuery),
		chromedp.Navigate(rw.URL+"/settings#users"),
		chromedp.WaitVisible(`[data-testid=user-lena]`, chromedp.ByQuery),
		chromedp.ScrollIntoView(`[data-testid=user-lena]`, chromedp.ByQuery),
		chromedp.Text(`[data-testid=user-lena]`, &lenaRow, chromedp.ByQuery),
	)
	if !strings.Contains(mapping, "shop-leads") || !strings.Contains(mapping, "approver in prod") {
		t.Errorf("Settings → Sign-in does not show the mapping:\n%s", mapping)
	}
	if !strings.Contains(lenaRow, "OIDC") || !strings.Contains(lenaRow, "approver in prod") || !strings.Contains(lenaRow, "shop-leads") {
		t.Errorf("lena's row in Settings → Users: %q", lenaRow)
	}
}
