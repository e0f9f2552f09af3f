package templates

import (
	"bytes"
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"

	"github.com/rewindhq/rewind/static"
)

const hostile = `"><script>alert('x')</script><img src=x onerror=alert(1)>`

// renderHTML renders c, with children when given, and parses the result.
func renderHTML(t *testing.T, c templ.Component, children templ.Component) (*goquery.Document, string) {
	t.Helper()
	ctx := context.Background()
	if children != nil {
		ctx = templ.WithChildren(ctx, children)
	}
	var buf bytes.Buffer
	if err := c.Render(ctx, &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatalf("parse rendered HTML: %v", err)
	}
	return doc, buf.String()
}

func testIDs(doc *goquery.Document, selector string) []string {
	var ids []string
	doc.Find(selector).Each(func(_ int, s *goquery.Selection) {
		ids = append(ids, s.AttrOr("data-testid", ""))
	})
	return ids
}

func TestLayoutNav(t *testing.T) {
	all := []string{"nav-workflows", "nav-services", "nav-configs", "nav-databases", "nav-approvals", "nav-audit", "nav-settings"}
	tests := []struct {
		name        string
		user        *UserView
		active      string
		wantLinks   []string
		wantCurrent string
	}{
		{name: "admin sees settings", user: &UserView{Username: "alice", Role: "admin"}, active: "settings",
			wantLinks: all, wantCurrent: "nav-settings"},
		{name: "approver", user: &UserView{Username: "bob", Role: "approver"}, active: "approvals",
			wantLinks: all[:6], wantCurrent: "nav-approvals"},
		{name: "viewer without active section", user: &UserView{Username: "carol", Role: "viewer"},
			wantLinks: all[:6]},
		{name: "logged out", user: nil, wantLinks: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := PageMeta{Title: "Services", User: tt.user, CSRF: "tok", Active: tt.active}
			doc, _ := renderHTML(t, Layout(m), nil)

			if doc.Find(`[data-testid="nav"]`).Length() != 1 {
				t.Fatal("no element with data-testid=nav")
			}
			got := testIDs(doc, `[data-testid="nav"] .topnav-links a`)
			if strings.Join(got, ",") != strings.Join(tt.wantLinks, ",") {
				t.Errorf("nav links = %v, want %v", got, tt.wantLinks)
			}
			current := testIDs(doc, `[data-testid="nav"] a[aria-current="page"]`)
			var wantCurrent []string
			if tt.wantCurrent != "" {
				wantCurrent = []string{tt.wantCurrent}
			}
			if strings.Join(current, ",") != strings.Join(wantCurrent, ",") {
				t.Errorf("aria-current links = %v, want %v", current, wantCurrent)
			}

			user := doc.Find(`[data-testid="nav-user"]`)
			if tt.user == nil {
				if user.Length() != 0 || doc.Find(`[data-testid="logout-form"]`).Length() != 0 {
					t.Error("logged-out page shows the user area")
				}
				return
			}
			if got := user.Find(`[data-testid="nav-username"]`).Text(); got != tt.user.Username {
				t.Errorf("username = %q, want %q", got, tt.user.Username)
			}
			if got := user.Find(`[data-testid="role-badge"]`).Text(); got != tt.user.Role {
				t.Errorf("role badge = %q, want %q", got, tt.user.Role)
			}
			form := user.Find(`form[data-testid="logout-form"]`)
			if got := form.AttrOr("method", "") + " " + form.AttrOr("action", ""); got != "post /logout" {
				t.Errorf("logout form = %q, want %q", got, "post /logout")
			}
		})
	}
}

func TestLayoutDocument(t *testing.T) {
	m := PageMeta{Title: "Audit", User: &UserView{Username: "alice", Role: "admin"}, CSRF: "tok-123", Active: "audit"}
	doc, html := renderHTML(t, Layout(m), templ.Raw(`<p data-testid="page-body">hello</p>`))

	if !strings.HasPrefix(strings.ToLower(html), "<!doctype html>") {
		t.Errorf("document starts %q, want <!doctype html>", html[:min(len(html), 20)])
	}
	checks := []struct {
		name, got, want string
	}{
		{"lang", doc.Find("html").AttrOr("lang", ""), "en"},
		{"title", doc.Find("title").Text(), "Audit · Rewind"},
		{"csrf meta", doc.Find(`meta[name="csrf-token"]`).AttrOr("content", ""), "tok-123"},
		{"logout csrf field", doc.Find(`[data-testid="logout-form"] input[type="hidden"][name="csrf_token"]`).AttrOr("value", ""), "tok-123"},
		{"stylesheet", doc.Find(`link[rel="stylesheet"]`).First().AttrOr("href", ""), static.URL("app.css")},
		{"children inside main", doc.Find(`main#main [data-testid="page-body"]`).Text(), "hello"},
		{"skip link", doc.Find("a.skip-link").AttrOr("href", ""), "#main"},
		{"flash area", doc.Find(`main#main > [data-testid="flashes"]`).AttrOr("role", ""), "status"},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got %q, want %q", c.got, c.want)
			}
		})
	}

	t.Run("scripts", func(t *testing.T) {
		var got []string
		doc.Find("script").Each(func(_ int, s *goquery.Selection) {
			if _, ok := s.Attr("defer"); !ok {
				t.Errorf("script %q is not deferred", s.AttrOr("src", "(inline)"))
			}
			got = append(got, s.AttrOr("src", "(inline)"))
		})
		want := []string{static.URL("htmx.min.js"), static.URL("app.js")}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("scripts = %v, want %v", got, want)
		}
	})

	t.Run("strict CSP compatible", func(t *testing.T) {
		if n := doc.Find("style, [style]").Length(); n != 0 {
			t.Errorf("%d inline styles, want 0", n)
		}
		doc.Find("*").Each(func(_ int, s *goquery.Selection) {
			for _, a := range s.Nodes[0].Attr {
				if strings.HasPrefix(a.Key, "on") || strings.HasPrefix(a.Key, "hx-on") {
					t.Errorf("<%s> has inline handler %s", goquery.NodeName(s), a.Key)
				}
			}
		})
	})
}

func TestLayoutEscapesHostileText(t *testing.T) {
	m := PageMeta{
		Title:  hostile,
		User:   &UserView{Username: hostile, Role: hostile},
		CSRF:   hostile,
		Active: "services",
		Flash:  []Flash{{Kind: hostile, Text: hostile}},
	}
	doc, html := renderHTML(t, Layout(m), nil)

	if strings.Contains(html, "<script>alert") || strings.Contains(html, "<img") {
		t.Fatalf("hostile markup rendered unescaped:\n%s", html)
	}
	if n := doc.Find("script:not([src]), img, [onerror]").Length(); n != 0 {
		t.Errorf("%d injected elements or handlers, want 0", n)
	}
	checks := []struct {
		name, got, want string
	}{
		{"title", doc.Find("title").Text(), hostile + " · Rewind"},
		{"csrf meta", doc.Find(`meta[name="csrf-token"]`).AttrOr("content", ""), hostile},
		{"csrf field", doc.Find(`input[name="csrf_token"]`).AttrOr("value", ""), hostile},
		{"username", doc.Find(`[data-testid="nav-username"]`).Text(), hostile},
		{"flash text", doc.Find(`[data-testid="flash"] .flash-text`).Text(), hostile},
		{"flash kind falls back to info", doc.Find(`[data-testid="flash"]`).AttrOr("class", ""), "flash flash-info"},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got %q, want %q", c.got, c.want)
			}
		})
	}
}

func TestFlashes(t *testing.T) {
	flashes := []Flash{
		{Kind: FlashSuccess, Text: "Rollback request approved."},
		{Kind: FlashError, Text: "Cluster unreachable."},
		{Kind: FlashInfo, Text: "Nothing to do."},
	}
	tests := []struct {
		name    string
		c       templ.Component
		wantOOB bool
	}{
		{name: "in page", c: Flashes(flashes)},
		{name: "out of band", c: FlashesOOB(flashes), wantOOB: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, _ := renderHTML(t, tt.c, nil)
			area := doc.Find(`#flashes[data-testid="flashes"]`)
			if area.Length() != 1 {
				t.Fatalf("found %d flash areas, want 1", area.Length())
			}
			_, gotOOB := area.Attr("hx-swap-oob")
			if gotOOB != tt.wantOOB {
				t.Errorf("hx-swap-oob present = %v, want %v", gotOOB, tt.wantOOB)
			}
			items := area.Find(`[data-testid="flash"]`)
			if items.Length() != len(flashes) {
				t.Fatalf("found %d flashes, want %d", items.Length(), len(flashes))
			}
			items.Each(func(i int, s *goquery.Selection) {
				if got, want := s.AttrOr("class", ""), "flash flash-"+flashes[i].Kind; got != want {
					t.Errorf("flash %d class = %q, want %q", i, got, want)
				}
				if got := s.Find(".flash-text").Text(); got != flashes[i].Text {
					t.Errorf("flash %d text = %q, want %q", i, got, flashes[i].Text)
				}
				if s.Find("button[data-dismiss]").Length() != 1 {
					t.Errorf("flash %d has no dismiss button", i)
				}
			})
		})
	}
}

func TestStateBadge(t *testing.T) {
	tests := []struct {
		state     string
		wantClass string
	}{
		{"pending", "badge badge-pending"},
		{"approved", "badge badge-approved"},
		{"running", "badge badge-running"},
		{"succeeded", "badge badge-succeeded"},
		{"failed", "badge badge-failed"},
		{"rejected", "badge badge-rejected"},
		{"cancelled", "badge badge-cancelled"},
		{"exploded", "badge badge-neutral"},
		{hostile, "badge badge-neutral"},
	}
	for _, tt := range tests {
		t.Run(tt.state, func(t *testing.T) {
			doc, _ := renderHTML(t, StateBadge(tt.state), nil)
			b := doc.Find(`[data-testid="state-badge"]`)
			if got := b.AttrOr("class", ""); got != tt.wantClass {
				t.Errorf("class = %q, want %q", got, tt.wantClass)
			}
			if got := b.AttrOr("data-state", ""); got != tt.state {
				t.Errorf("data-state = %q, want %q", got, tt.state)
			}
			if got := b.Text(); got != tt.state {
				t.Errorf("text = %q, want %q", got, tt.state)
			}
		})
	}
}

func TestSourceBadge(t *testing.T) {
	tests := []struct {
		source    string
		wantClass string
	}{
		{"observed", "badge badge-source badge-observed"},
		{"imported", "badge badge-source badge-imported"},
		{"rollback", "badge badge-source badge-rollback"},
		{"change", "badge badge-source badge-change"},
		{"guessed", "badge badge-source badge-neutral"},
	}
	for _, tt := range tests {
		t.Run(tt.source, func(t *testing.T) {
			doc, _ := renderHTML(t, SourceBadge(tt.source), nil)
			b := doc.Find(`[data-testid="source-badge"]`)
			if got := b.AttrOr("class", ""); got != tt.wantClass {
				t.Errorf("class = %q, want %q", got, tt.wantClass)
			}
			if got := b.Text(); got != tt.source {
				t.Errorf("text = %q, want %q", got, tt.source)
			}
		})
	}
}

func TestEmptyState(t *testing.T) {
	tests := []struct {
		name                  string
		actionURL, actionText string
		wantHref              string // "" means no action button
	}{
		{name: "with action", actionURL: "/services/new", actionText: "Add a service", wantHref: "/services/new"},
		{name: "without action"},
		{name: "url without text", actionURL: "/services/new"},
		{name: "script url refused", actionURL: "javascript:alert(1)", actionText: "Go",
			wantHref: "about:invalid#TemplFailedSanitizationURL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, _ := renderHTML(t, EmptyState("No services yet", "Add one to start recording versions.", tt.actionURL, tt.actionText), nil)
			es := doc.Find(`[data-testid="empty-state"]`)
			if got, want := es.Find(".empty-title").Text(), "No services yet"; got != want {
				t.Errorf("title = %q, want %q", got, want)
			}
			action := es.Find(`[data-testid="empty-state-action"]`)
			if got := action.AttrOr("href", ""); got != tt.wantHref {
				t.Errorf("action href = %q, want %q", got, tt.wantHref)
			}
			if tt.wantHref != "" && action.Text() != tt.actionText {
				t.Errorf("action text = %q, want %q", action.Text(), tt.actionText)
			}
		})
	}
}

func TestPageNav(t *testing.T) {
	tests := []struct {
		name        string
		p           PageNav
		wantPages   int
		wantCurrent int
		wantPrev    string // URL of the previous page, "" when none
		wantNext    string
	}{
		{name: "middle page keeps filters",
			p:         PageNav{Page: 2, PerPage: 20, Total: 45, BaseURL: "/audit", Query: url.Values{"target": {"7"}, "q": {"a&b=<c>"}}},
			wantPages: 3, wantCurrent: 2,
			wantPrev: "/audit?page=1&q=a%26b%3D%3Cc%3E&target=7",
			wantNext: "/audit?page=3&q=a%26b%3D%3Cc%3E&target=7"},
		{name: "base URL query kept and page replaced",
			p:         PageNav{Page: 1, PerPage: 10, Total: 11, BaseURL: "/services?env=prod&page=9"},
			wantPages: 2, wantCurrent: 1, wantNext: "/services?env=prod&page=2"},
		{name: "query page value replaced",
			p:         PageNav{Page: 2, PerPage: 10, Total: 20, BaseURL: "/configs", Query: url.Values{"page": {"2"}}},
			wantPages: 2, wantCurrent: 2, wantPrev: "/configs?page=1"},
		{name: "exact multiple", p: PageNav{Page: 1, PerPage: 10, Total: 30, BaseURL: "/x"},
			wantPages: 3, wantCurrent: 1, wantNext: "/x?page=2"},
		{name: "empty list", p: PageNav{Page: 1, PerPage: 10, Total: 0, BaseURL: "/x"},
			wantPages: 1, wantCurrent: 1},
		{name: "page past the end clamps", p: PageNav{Page: 99, PerPage: 10, Total: 25, BaseURL: "/x"},
			wantPages: 3, wantCurrent: 3, wantPrev: "/x?page=2"},
		{name: "page zero clamps", p: PageNav{Page: 0, PerPage: 10, Total: 25, BaseURL: "/x"},
			wantPages: 3, wantCurrent: 1, wantNext: "/x?page=2"},
		{name: "no page size", p: PageNav{Page: 1, PerPage: 0, Total: 25, BaseURL: "/x"},
			wantPages: 1, wantCurrent: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Pages(); got != tt.wantPages {
				t.Errorf("Pages() = %d, want %d", got, tt.wantPages)
			}
			if got := tt.p.Current(); got != tt.wantCurrent {
				t.Errorf("Current() = %d, want %d", got, tt.wantCurrent)
			}

			doc, _ := renderHTML(t, Pagination(tt.p), nil)
			nav := doc.Find(`[data-testid="pagination"]`)
			if tt.wantPages == 1 {
				if nav.Length() != 0 {
					t.Error("single page renders pagination, want nothing")
				}
				return
			}
			if got := nav.Find(`[data-testid="pagination-prev"]`).AttrOr("href", ""); got != tt.wantPrev {
				t.Errorf("prev href = %q, want %q", got, tt.wantPrev)
			}
			if got := nav.Find(`[data-testid="pagination-next"]`).AttrOr("href", ""); got != tt.wantNext {
				t.Errorf("next href = %q, want %q", got, tt.wantNext)
			}
			status := strings.Join(strings.Fields(nav.Find(`[data-testid="pagination-status"]`).Text()), " ")
			if want := "Page " + strconv.Itoa(tt.wantCurrent) + " of " + strconv.Itoa(tt.wantPages); !strings.HasPrefix(status, want) {
				t.Errorf("status = %q, want it to start with %q", status, want)
			}
		})
	}
}

func TestPaginationRangeText(t *testing.T) {
	doc, _ := renderHTML(t, Pagination(PageNav{Page: 3, PerPage: 20, Total: 45, BaseURL: "/audit"}), nil)
	status := strings.Join(strings.Fields(doc.Find(`[data-testid="pagination-status"]`).Text()), " ")
	if want := "Page 3 of 3 · 41–45 of 45"; status != want {
		t.Errorf("status = %q, want %q", status, want)
	}
}

func TestErrorPage(t *testing.T) {
	tests := []struct {
		name      string
		m         PageMeta
		status    int
		message   string
		wantTitle string
		wantText  string
	}{
		{name: "not found", m: PageMeta{User: &UserView{Username: "a", Role: "viewer"}}, status: 404,
			message: "No service with ID 17.", wantTitle: "Not Found · Rewind", wantText: "Not Found"},
		{name: "caller title kept", m: PageMeta{Title: "Rollback"}, status: 409,
			message: hostile, wantTitle: "Rollback · Rewind", wantText: "Conflict"},
		{name: "unknown status", m: PageMeta{}, status: 599, wantTitle: "Error · Rewind", wantText: "Error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, html := renderHTML(t, ErrorPage(tt.m, tt.status, tt.message), nil)
			if strings.Contains(html, "<script>alert") {
				t.Fatal("message rendered unescaped")
			}
			page := doc.Find(`main#main [data-testid="error-page"]`)
			if page.Length() != 1 {
				t.Fatal("no error page inside main")
			}
			if got, want := page.Find(`[data-testid="error-status"]`).Text(), strconv.Itoa(tt.status); got != want {
				t.Errorf("status = %q, want %q", got, want)
			}
			if got := page.Find("h1").Text(); got != tt.wantText {
				t.Errorf("heading = %q, want %q", got, tt.wantText)
			}
			if got := page.Find(`[data-testid="error-message"]`).Text(); got != tt.message {
				t.Errorf("message = %q, want %q", got, tt.message)
			}
			if got := doc.Find("title").Text(); got != tt.wantTitle {
				t.Errorf("title = %q, want %q", got, tt.wantTitle)
			}
		})
	}
}

func TestCSRFField(t *testing.T) {
	doc, _ := renderHTML(t, CSRFField("abc"), nil)
	in := doc.Find(`input[type="hidden"][name="csrf_token"]`)
	if got := in.AttrOr("value", ""); got != "abc" {
		t.Errorf("value = %q, want %q", got, "abc")
	}
}

func TestTimeAgoText(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		ago  time.Duration
		want string
	}{
		{0, "just now"},
		{30 * time.Second, "just now"},
		{-20 * time.Second, "just now"},
		{60 * time.Second, "1 minute ago"},
		{5 * time.Minute, "5 minutes ago"},
		{44 * time.Minute, "44 minutes ago"},
		{50 * time.Minute, "1 hour ago"},
		{3 * time.Hour, "3 hours ago"},
		{-3 * time.Hour, "in 3 hours"},
		{26 * time.Hour, "yesterday"},
		{-26 * time.Hour, "tomorrow"},
		{4 * 24 * time.Hour, "4 days ago"},
		{40 * 24 * time.Hour, "on 29 Jan 2026"},
	}
	for _, tt := range tests {
		t.Run(tt.ago.String(), func(t *testing.T) {
			if got := timeAgoText(now, now.Add(-tt.ago)); got != tt.want {
				t.Errorf("timeAgoText(-%v) = %q, want %q", tt.ago, got, tt.want)
			}
		})
	}
}

func TestTimeAgo(t *testing.T) {
	when := time.Date(2026, 3, 10, 9, 30, 5, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name         string
		t            time.Time
		wantTag      string
		wantDatetime string
		wantTitle    string
		wantText     string
	}{
		{name: "set", t: when, wantTag: "time", wantDatetime: "2026-03-10T08:30:05Z",
			wantTitle: "2026-03-10 08:30:05 UTC", wantText: timeAgoText(time.Now(), when)},
		{name: "zero", t: time.Time{}, wantTag: "span", wantText: "never"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, _ := renderHTML(t, TimeAgo(tt.t), nil)
			el := doc.Find(`[data-testid="time-ago"]`)
			if got := goquery.NodeName(el); got != tt.wantTag {
				t.Errorf("element = %q, want %q", got, tt.wantTag)
			}
			if got := el.AttrOr("datetime", ""); got != tt.wantDatetime {
				t.Errorf("datetime = %q, want %q", got, tt.wantDatetime)
			}
			if got := el.AttrOr("title", ""); got != tt.wantTitle {
				t.Errorf("title = %q, want %q", got, tt.wantTitle)
			}
			if got := el.Text(); got != tt.wantText {
				t.Errorf("text = %q, want %q", got, tt.wantText)
			}
		})
	}
}

func TestCardAndPageHeader(t *testing.T) {
	tests := []struct {
		name      string
		c         templ.Component
		wantTitle string
		titleSel  string
		bodySel   string
	}{
		{name: "card with title", c: Card("Details"), wantTitle: "Details",
			titleSel: `[data-testid="card"] .card-title`, bodySel: `[data-testid="card"] .card-body [data-testid="child"]`},
		{name: "card without title", c: Card(""), wantTitle: "",
			titleSel: `[data-testid="card"] .card-title`, bodySel: `[data-testid="card"] .card-body [data-testid="child"]`},
		{name: "page header", c: PageHeader(hostile), wantTitle: hostile,
			titleSel: `[data-testid="page-header"] h1`, bodySel: `[data-testid="page-header"] .page-actions [data-testid="child"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, _ := renderHTML(t, tt.c, templ.Raw(`<a data-testid="child" href="/x">Action</a>`))
			if got := doc.Find(tt.titleSel).Text(); got != tt.wantTitle {
				t.Errorf("title = %q, want %q", got, tt.wantTitle)
			}
			if doc.Find(tt.bodySel).Length() != 1 {
				t.Errorf("children not found at %s", tt.bodySel)
			}
		})
	}
}

func BenchmarkLayout(b *testing.B) {
	m := PageMeta{
		Title:  "Services",
		User:   &UserView{Username: "alice", Role: "admin"},
		CSRF:   "tok",
		Active: "services",
		Flash:  []Flash{{Kind: FlashSuccess, Text: "Saved."}},
	}
	ctx := templ.WithChildren(context.Background(), StateBadge("running"))
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := Layout(m).Render(ctx, &buf); err != nil {
			b.Fatal(err)
		}
	}
}
