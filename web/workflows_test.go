package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/sqlite"
)

// Realistic data: long image references, CJK names and reasons, long URLs.
const (
	imgAPIOld    = "registry.cn-hangzhou.aliyuncs.com/acme-payments-platform/shop-backend/api-gateway:1.4.1-9f3c2a1"
	imgAPINew    = "registry.cn-hangzhou.aliyuncs.com/acme-payments-platform/shop-backend/api-gateway:1.4.2-b7e4d90"
	imgWorker    = "registry.cn-hangzhou.aliyuncs.com/acme-payments-platform/shop-backend/order-worker:1.4.1-9f3c2a1"
	imgWorkerHot = "registry.cn-hangzhou.aliyuncs.com/acme-payments-platform/shop-backend/order-worker:1.4.1-hotfix"
	relOldName   = "1.4.1"
	relNewName   = "修复支付回调超时-1.4.2"
	blockReason  = "修复支付回调超时 / 回滚 1.4.2"
	pipelineURL  = "https://ci.example.com/acme-payments-platform/shop-backend/-/pipelines/918273645/jobs/release-production?ref=release%2F1.4.2&attempt=2"
	commitNew    = "b7e4d90c1f2a3b4c5d6e7f8091a2b3c4d5e6f708"
	changeSQL    = "UPDATE orders SET callback_timeout_ms = 30000 WHERE status = 'pending';\nDELETE FROM callback_retries WHERE created_at < '2026-11-01';"
)

// wfFixture is a Rewind with workflow shop-backend in prod: services
// shop/api and shop/worker and database shop; release 1 (1.4.1) changed the
// api, release 2 (CJK name) changed the api again and ran a SQL change; the
// worker changed afterwards outside any release.
type wfFixture struct {
	url              string
	store            *sqlite.Store
	env              *rewind.Environment
	workflow         int64
	rel1, rel2       int64
	api, worker, db  *rewind.Target
	apiV2, workerHot *rewind.Version
}

func newWorkflowFixture(t *testing.T) *wfFixture {
	t.Helper()
	store, env := newProdStore(t)
	srv := New(store, noClusters{}, &wakeCounter{}, slog.New(slog.NewTextHandler(io.Discard, nil)),
		Options{SessionKeys: [][]byte{make([]byte, 32), make([]byte, 32)}})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	f := &wfFixture{url: ts.URL, store: store, env: env}
	seedWorkflow(t, f)
	return f
}

func seedWorkflow(t *testing.T, f *wfFixture) {
	t.Helper()
	ctx := context.Background()
	base := time.Now().UTC().Add(-6 * time.Hour).Truncate(time.Second)
	at := func(d time.Duration) time.Time { return base.Add(d) }
	target := func(tg *rewind.Target) *rewind.Target {
		tg.EnvironmentID = f.env.ID
		if _, err := f.store.EnsureTarget(ctx, tg); err != nil {
			t.Fatal(err)
		}
		return tg
	}
	f.api = target(&rewind.Target{Kind: rewind.KindService, OwnerID: 1, Namespace: "shop", Workload: "Deployment", Name: "api"})
	f.worker = target(&rewind.Target{Kind: rewind.KindService, OwnerID: 1, Namespace: "shop", Workload: "Deployment", Name: "worker"})
	f.db = target(&rewind.Target{Kind: rewind.KindDatabase, OwnerID: 1, Name: "shop"})
	version := func(tg *rewind.Target, when time.Time, content, image string, src rewind.Source) *rewind.Version {
		v := &rewind.Version{TargetID: tg.ID, Content: content, Hash: content, Source: src, Author: "ci-bot", CreatedAt: when}
		if image != "" {
			v.Images = []rewind.Image{{Container: "app", Image: image}}
		}
		out, _, err := f.store.RecordVersion(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	pod := func(image string) string {
		return "containers:\n- name: app\n  image: " + image + "\n  env:\n  - name: LOG_LEVEL\n    value: info\n"
	}
	version(f.worker, at(0), pod(imgWorker), imgWorker, rewind.SourceObserved)
	apiV1 := version(f.api, at(time.Hour), pod(imgAPIOld), imgAPIOld, rewind.SourceObserved)
	f.apiV2 = version(f.api, at(3*time.Hour), pod(imgAPINew), imgAPINew, rewind.SourceObserved)
	sqlV := version(f.db, at(3*time.Hour+time.Minute), changeSQL, "", rewind.SourceChange)
	f.workerHot = version(f.worker, at(5*time.Hour), pod(imgWorkerHot), imgWorkerHot, rewind.SourceObserved)

	exec := func(q string, args ...any) int64 {
		t.Helper()
		res, err := f.store.DB().ExecContext(ctx, q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		id, _ := res.LastInsertId()
		return id
	}
	ts := func(tm time.Time) string { return tm.UTC().Format("2006-01-02T15:04:05.000000000Z07:00") }
	f.workflow = exec(`INSERT INTO workflows (name, environment_id, description, release_timeout, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		"shop-backend", f.env.ID, "商城后端：api、worker 与订单库", 7200, "adam", ts(base.Add(30*time.Minute)))
	for _, tg := range []*rewind.Target{f.api, f.worker, f.db} {
		exec(`INSERT INTO workflow_targets (workflow_id, target_id) VALUES (?, ?)`, f.workflow, tg.ID)
	}
	release := func(n int, name, commit, url string, start time.Time) int64 {
		return exec(`INSERT INTO releases (workflow_id, number, name, commit_sha, url, started_by, started_at, finished_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'succeeded')`,
			f.workflow, n, name, commit, url, "ci-bot", ts(start), ts(start.Add(10*time.Minute)))
	}
	f.rel1 = release(1, relOldName, "9f3c2a1e0d9c8b7a69584736251403f2e1d0c9b8", "", at(time.Hour-time.Minute))
	f.rel2 = release(2, relNewName, commitNew, pipelineURL, at(3*time.Hour-time.Minute))
	exec(`INSERT INTO release_items (release_id, version_id, how) VALUES (?, ?, 'observed')`, f.rel1, apiV1.ID)
	exec(`INSERT INTO release_items (release_id, version_id, how) VALUES (?, ?, 'observed')`, f.rel2, f.apiV2.ID)
	exec(`INSERT INTO release_items (release_id, version_id, how) VALUES (?, ?, 'attached')`, f.rel2, sqlV.ID)

	// The SQL change ran through a request of one step.
	req := exec(`INSERT INTO requests (kind, environment_id, release_id, state, requester, reason, required_approvals, created_at, updated_at)
		VALUES ('change', ?, ?, 'succeeded', 'otto', ?, 1, ?, ?)`, f.env.ID, f.rel2, "订单回调超时", ts(at(3*time.Hour)), ts(at(3*time.Hour)))
	step := exec(`INSERT INTO request_steps (request_id, position, target_id, state) VALUES (?, 1, ?, 'succeeded')`, req, f.db.ID)
	exec(`UPDATE versions SET request_id = ? WHERE id = ?`, req, sqlV.ID)
	exec(`INSERT INTO sql_executions (version_id, step_id, kind, succeeded, applied, transactional, rows_affected, statement_count, saved_rows)
		VALUES (?, ?, 'change', 1, 1, 1, 37, 2, 37)`, sqlV.ID, step)
}

func (f *wfFixture) client(t *testing.T, user string) *client {
	c := newClient(t, f.url)
	if user != "" {
		c.login(user)
	}
	return c
}

func parseDoc(t *testing.T, body string) *goquery.Document {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func testid(id string) string { return `[data-testid="` + id + `"]` }

func TestWorkflowsPage(t *testing.T) {
	f := newWorkflowFixture(t)
	code, body := f.client(t, "vera").get("/workflows")
	if code != http.StatusOK {
		t.Fatalf("GET /workflows = %d", code)
	}
	doc := parseDoc(t, body)
	row := doc.Find(testid("workflow-row"))
	if row.Length() != 1 {
		t.Fatalf("%d workflow rows, want 1", row.Length())
	}
	for _, tt := range []struct{ what, got, want string }{
		{"env", doc.Find(testid("workflows-table")).AttrOr("data-env", ""), "prod"},
		{"name", row.Find(testid("workflow-link")).Text(), "shop-backend"},
		{"current", strings.Join(strings.Fields(row.Find(testid("workflow-current")).Find("a").Text()), " "), "#2 " + relNewName},
		{"health", row.Find(testid("workflow-health")).AttrOr("data-health", ""), "drifted"},
		{"unreleased", strings.TrimSpace(row.Find(testid("workflow-unreleased")).Text()), "1"},
		{"targets", strings.TrimSpace(row.Find(testid("workflow-targets")).Text()), "3"},
		{"nav", doc.Find(testid("nav-workflows")).AttrOr("aria-current", ""), "page"},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.what, tt.got, tt.want)
		}
	}
	if doc.Find(testid("workflow-new")).Length() != 0 {
		t.Error("a viewer is offered to define a workflow")
	}
	_, body = f.client(t, "otto").get("/workflows")
	if parseDoc(t, body).Find(testid("workflow-new")).Length() != 1 {
		t.Error("an operator is not offered to define a workflow")
	}
}

func TestWorkflowVersionList(t *testing.T) {
	f := newWorkflowFixture(t)
	code, body := f.client(t, "vera").get("/workflows/" + strconv.FormatInt(f.workflow, 10))
	if code != http.StatusOK {
		t.Fatalf("GET workflow = %d", code)
	}
	doc := parseDoc(t, body)
	rows := doc.Find(testid("release-row"))
	var numbers []string
	rows.Each(func(_ int, s *goquery.Selection) { numbers = append(numbers, s.AttrOr("data-number", "")) })
	if got, want := strings.Join(numbers, ","), "2,1"; got != want {
		t.Fatalf("release numbers = %s, want %s (newest first)", got, want)
	}
	states := func(s *goquery.Selection) string {
		var out []string
		s.Find(testid("release-state")).Each(func(_ int, b *goquery.Selection) { out = append(out, b.AttrOr("data-state", "")) })
		if s.Find(testid("release-stable")).Length() > 0 {
			out = append(out, "stable")
		}
		return strings.Join(out, ",")
	}
	newest, oldest := rows.Eq(0), rows.Eq(1)
	for _, tt := range []struct{ what, got, want string }{
		{"newest states", states(newest), "current,drifted,stable"},
		{"oldest states", states(oldest), "superseded"},
		{"newest name", strings.TrimSpace(newest.Find(testid("release-link")).Text()), "#2 " + relNewName},
		{"commit text", newest.Find(testid("commit-link")).Text(), commitNew[:8]},
		{"commit link", newest.Find(testid("commit-link")).AttrOr("href", ""), pipelineURL},
		{"oldest commit unlinked", oldest.Find(testid("commit")).Text(), "9f3c2a1e"},
		{"counts", strings.TrimSpace(newest.Find(testid("release-counts")).Text()), "1 service · 1 SQL change"},
		{"unreleased", doc.Find(testid("unreleased-version")).AttrOr("href", ""),
			"/services/" + strconv.FormatInt(f.worker.ID, 10) + "/compare?a=1&b=2"},
		{"compare a", doc.Find(`#rc-a option[selected]`).AttrOr("value", ""), strconv.FormatInt(f.rel1, 10)},
		{"compare b", doc.Find(`#rc-b option[selected]`).AttrOr("value", ""), strconv.FormatInt(f.rel2, 10)},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.what, tt.got, tt.want)
		}
	}
	if n := doc.Find(testid("unreleased-row")).Length(); n != 1 {
		t.Errorf("%d unreleased changes, want 1 (the worker's hotfix)", n)
	}
	if n := doc.Find(testid("workflow-edit")).Length() + doc.Find(testid("return-to")).Length(); n != 0 {
		t.Error("a viewer is offered to edit the workflow or to roll back")
	}
	_, body = f.client(t, "otto").get("/workflows/" + strconv.FormatInt(f.workflow, 10))
	back := parseDoc(t, body).Find(testid("return-to"))
	if want := "/releases/" + strconv.FormatInt(f.rel2, 10) + "/rollback?to=" + strconv.FormatInt(f.rel1, 10); back.Length() != 1 || back.AttrOr("href", "") != want {
		t.Errorf("roll back to release 1: %d links to %q, want one to %s", back.Length(), back.AttrOr("href", ""), want)
	}
}

func TestWorkflowReleasePage(t *testing.T) {
	f := newWorkflowFixture(t)
	path := "/releases/" + strconv.FormatInt(f.rel2, 10)
	code, body := f.client(t, "vera").get(path)
	if code != http.StatusOK {
		t.Fatalf("GET release = %d", code)
	}
	doc := parseDoc(t, body)
	if got := doc.Find("h1").Text(); got != "Release #2 "+relNewName {
		t.Errorf("title = %q", got)
	}
	if got := doc.Find(testid("pipeline-link")).AttrOr("href", ""); got != pipelineURL {
		t.Errorf("pipeline link = %q", got)
	}
	svc := doc.Find(testid("release-item") + `[data-kind="service"]`)
	if svc.Length() != 1 || svc.AttrOr("data-target", "") != strconv.FormatInt(f.api.ID, 10) {
		t.Fatalf("service items = %d, want the api", svc.Length())
	}
	if got := strings.Join(strings.Fields(svc.Find(testid("item-versions")).Text()), " "); got != "version 1 → 2" {
		t.Errorf("api versions = %q", got)
	}
	changes := svc.Find(testid("image-changes") + " tbody tr")
	if changes.Length() != 1 || changes.Find("del").Text() != imgAPIOld || changes.Find("ins").Text() != imgAPINew {
		t.Errorf("image changes = %q", changes.Text())
	}
	if svc.Find(testid("diff-line-added")).Length() == 0 {
		t.Error("no diff of the api")
	}
	sqlItem := doc.Find(testid("release-item") + `[data-kind="database"]`)
	if got := sqlItem.Find(testid("sql-excerpt")).Text(); got != changeSQL {
		t.Errorf("SQL excerpt = %q", got)
	}
	if got := strings.Join(strings.Fields(sqlItem.Find(testid("sql-counts")).Text()), " "); got != "2 statements · 37 rows affected · 37 rows saved" {
		t.Errorf("SQL counts = %q", got)
	}
	if !strings.HasPrefix(sqlItem.Find(testid("sql-request")).AttrOr("href", ""), "/requests/") {
		t.Error("the SQL change does not link to its request")
	}
	if doc.Find(testid("items-none-configs")).Length() != 1 {
		t.Error("no word that the release changed no config")
	}
	if doc.Find(testid("release-rollback")).Length()+doc.Find(testid("block-form")).Length() != 0 {
		t.Error("a viewer is offered to roll back or block")
	}
	_, body = f.client(t, "otto").get(path)
	doc = parseDoc(t, body)
	if got := doc.Find(testid("release-rollback")).AttrOr("href", ""); got != path+"/rollback" {
		t.Errorf("rollback link = %q", got)
	}
	if doc.Find(testid("block-submit")).Length() != 1 {
		t.Error("an operator is not offered to block")
	}
}

func TestWorkflowReleaseBlock(t *testing.T) {
	f := newWorkflowFixture(t)
	path := "/releases/" + strconv.FormatInt(f.rel2, 10)
	vera, otto := f.client(t, "vera"), f.client(t, "otto")
	if code, _ := vera.post(path+"/block", url.Values{"csrf_token": {vera.csrf(path)}, "reason": {blockReason}}); code != http.StatusForbidden {
		t.Errorf("viewer block = %d, want 403", code)
	}
	if code, _ := otto.post(path+"/block", url.Values{"reason": {blockReason}}); code != http.StatusForbidden {
		t.Errorf("block without CSRF = %d, want 403", code)
	}
	token := otto.csrf(path)
	code, body := otto.post(path+"/block", url.Values{"csrf_token": {token}, "reason": {"  "}})
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("block without reason = %d, want 422", code)
	}
	if parseDoc(t, body).Find(testid("form-error")).Length() != 1 {
		t.Error("no error shown for the missing reason")
	}
	if code, _ := otto.post(path+"/block", url.Values{"csrf_token": {token}, "reason": {blockReason}}); code != http.StatusSeeOther {
		t.Fatalf("block = %d, want 303", code)
	}
	_, body = vera.get(path)
	doc := parseDoc(t, body)
	if got := doc.Find(testid("block-reason")).Text(); got != blockReason {
		t.Errorf("block reason = %q, want %q", got, blockReason)
	}
	if doc.Find(testid("release-state")+`[data-state="blocked"]`).Length() != 1 {
		t.Error("the release shows no blocked state")
	}
	_, body = otto.get(path)
	if parseDoc(t, body).Find(testid("unblock-submit")).Length() != 1 {
		t.Fatal("no unblock button")
	}
	if code, _ := otto.post(path+"/unblock", url.Values{"csrf_token": {token}, "reason": {"已修复，重新发布"}}); code != http.StatusSeeOther {
		t.Fatalf("unblock = %d, want 303", code)
	}
	_, body = vera.get(path)
	if parseDoc(t, body).Find(testid("release-blocked")).Length() != 0 {
		t.Error("still blocked after unblocking")
	}
}

func TestWorkflowCompareReleases(t *testing.T) {
	f := newWorkflowFixture(t)
	code, body := f.client(t, "vera").get("/workflows/" + strconv.FormatInt(f.workflow, 10) + "/compare?a=" + strconv.FormatInt(f.rel1, 10) + "&b=" + strconv.FormatInt(f.rel2, 10))
	if code != http.StatusOK {
		t.Fatalf("compare = %d", code)
	}
	doc := parseDoc(t, body)
	same := map[string]string{}
	doc.Find(testid("compare-row")).Each(func(_ int, s *goquery.Selection) { same[s.AttrOr("data-target", "")] = s.AttrOr("data-same", "") })
	id := func(tg *rewind.Target) string { return strconv.FormatInt(tg.ID, 10) }
	for _, tt := range []struct {
		target *rewind.Target
		want   string
	}{{f.api, "false"}, {f.worker, "true"}, {f.db, "false"}} {
		if got := same[id(tt.target)]; got != tt.want {
			t.Errorf("%s same = %q, want %q", tt.target.Label(), got, tt.want)
		}
	}
	if doc.Find(testid("image-changes")).Find("ins").Text() != imgAPINew {
		t.Error("the api's image change is not shown")
	}
	if code, _ := f.client(t, "vera").get("/workflows/" + strconv.FormatInt(f.workflow, 10) + "/compare?a=999"); code != http.StatusNotFound {
		t.Errorf("compare with an unknown release = %d, want 404", code)
	}
}

func TestWorkflowForm(t *testing.T) {
	f := newWorkflowFixture(t)
	vera, otto := f.client(t, "vera"), f.client(t, "otto")
	if code, _ := vera.get("/workflows/new"); code != http.StatusForbidden {
		t.Errorf("viewer GET form = %d, want 403", code)
	}
	if code, _ := vera.post("/workflows", url.Values{"csrf_token": {vera.csrf("/workflows")}, "name": {"x"}}); code != http.StatusForbidden {
		t.Errorf("viewer POST = %d, want 403", code)
	}
	code, body := otto.get("/workflows/new")
	if code != http.StatusOK {
		t.Fatalf("GET form = %d", code)
	}
	if n := parseDoc(t, body).Find(testid("target-option")).Length(); n != 3 {
		t.Errorf("%d targets offered, want 3", n)
	}
	token := otto.csrf("/workflows/new")
	env := strconv.FormatInt(f.env.ID, 10)
	form := url.Values{"csrf_token": {token}, "name": {"支付/回调"}, "environment": {env}, "description": {"回调链路"},
		"release_timeout": {"90m"}, "target": {strconv.FormatInt(f.api.ID, 10)}}
	code, body = otto.post("/workflows", form)
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("POST with a slash in the name = %d, want 422", code)
	}
	doc := parseDoc(t, body)
	if got := doc.Find("#wf-name").AttrOr("value", ""); got != "支付/回调" {
		t.Errorf("name kept = %q", got)
	}
	if got := doc.Find("#wf-timeout").AttrOr("value", ""); got != "90m" {
		t.Errorf("timeout kept = %q", got)
	}
	if got := doc.Find(testid("target-option")+"[checked]").AttrOr("value", ""); got != strconv.FormatInt(f.api.ID, 10) {
		t.Errorf("ticked target kept = %q", got)
	}
	if doc.Find(testid("field-error")).Length() != 1 {
		t.Error("no field error")
	}
	form.Set("release_timeout", "soon")
	form.Set("name", "支付回调")
	if code, _ := otto.post("/workflows", form); code != http.StatusUnprocessableEntity {
		t.Errorf("POST with a bad timeout = %d, want 422", code)
	}
	form.Set("release_timeout", "90m")
	if code, _ := otto.post("/workflows", form); code != http.StatusSeeOther {
		t.Fatalf("POST = %d, want 303", code)
	}
	_, body = vera.get("/workflows")
	var names []string
	parseDoc(t, body).Find(testid("workflow-link")).Each(func(_ int, s *goquery.Selection) { names = append(names, s.Text()) })
	if got, want := strings.Join(names, ","), "shop-backend,支付回调"; got != want && got != "支付回调,shop-backend" {
		t.Errorf("workflows = %s, want %s", got, want)
	}
	edit := "/workflows/" + strconv.FormatInt(f.workflow, 10)
	_, body = otto.get(edit + "/edit")
	doc = parseDoc(t, body)
	if got := doc.Find("#wf-timeout").AttrOr("value", ""); got != "2h" {
		t.Errorf("timeout shown = %q, want 2h", got)
	}
	if n := doc.Find(testid("target-option") + "[checked]").Length(); n != 3 {
		t.Errorf("%d targets ticked, want 3", n)
	}
	if code, _ := otto.post(edit+"/delete", url.Values{"csrf_token": {token}}); code != http.StatusSeeOther {
		t.Fatalf("delete = %d, want 303", code)
	}
	if code, _ := vera.get(edit); code != http.StatusNotFound {
		t.Errorf("deleted workflow = %d, want 404", code)
	}
}

func TestWorkflowReleaseMasksConfigSecrets(t *testing.T) {
	s := newCfgServer(t)
	s.nacos.Publish(appKey, strings.Replace(appYAML, "hunter2-<secret>", "swordfish-2", 1))
	tg := s.target(t, "app.yaml", 2)
	ctx := context.Background()
	latest, err := s.store.LatestVersion(ctx, tg.ID)
	if err != nil {
		t.Fatal(err)
	}
	db := s.store.DB()
	ts := func(tm time.Time) string { return tm.UTC().Format("2006-01-02T15:04:05.000000000Z07:00") }
	res, err := db.ExecContext(ctx, `INSERT INTO workflows (name, environment_id, release_timeout, created_by, created_at) VALUES ('shop-config', ?, 7200, 'adam', ?)`,
		tg.EnvironmentID, ts(latest.CreatedAt.Add(-time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	wf, _ := res.LastInsertId()
	if _, err := db.ExecContext(ctx, `INSERT INTO workflow_targets (workflow_id, target_id) VALUES (?, ?)`, wf, tg.ID); err != nil {
		t.Fatal(err)
	}
	res, err = db.ExecContext(ctx, `INSERT INTO releases (workflow_id, number, name, started_by, started_at, finished_at, state) VALUES (?, 1, ?, 'ci-bot', ?, ?, 'succeeded')`,
		wf, relNewName, ts(latest.CreatedAt.Add(-time.Minute)), ts(latest.CreatedAt.Add(time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	rel, _ := res.LastInsertId()
	if _, err := db.ExecContext(ctx, `INSERT INTO release_items (release_id, version_id, how) VALUES (?, ?, 'named')`, rel, latest.ID); err != nil {
		t.Fatal(err)
	}

	for _, user := range []string{"vera", "otto", "adam"} {
		c := newClient(t, s.url)
		c.login(user)
		code, body := c.get("/releases/" + strconv.FormatInt(rel, 10))
		if code != http.StatusOK {
			t.Fatalf("%s: release page = %d", user, code)
		}
		for _, secret := range []string{"swordfish", "hunter2"} {
			if strings.Contains(body, secret) {
				t.Errorf("%s: the release page shows the secret %q", user, secret)
			}
		}
		item := parseDoc(t, body).Find(testid("release-item") + `[data-kind="config"]`)
		key := item.Find(testid("key-change") + `[data-kind="changed"]`)
		if key.Find(".diff-key-name").Text() != "db.password" || key.Find(".diff-key-old").Text() != maskedValue || key.Find(".diff-key-new").Text() != maskedValue {
			t.Errorf("%s: key changes = %q, want db.password masked on both sides", user, key.Text())
		}
		if item.Find(testid("item-secrets-differ")).Length() != 1 {
			t.Errorf("%s: no word that only masked values differ", user)
		}
	}
}

func TestWorkflowOpenRelease(t *testing.T) {
	f := newWorkflowFixture(t)
	// A release started just before the worker's hotfix is still open: the
	// hotfix is its live item, no longer an unreleased change.
	started := f.workerHot.CreatedAt.Add(-time.Minute).UTC().Format("2006-01-02T15:04:05.000000000Z07:00")
	res, err := f.store.DB().Exec(`INSERT INTO releases (workflow_id, number, name, url, started_by, started_at, state) VALUES (?, 3, '1.4.3-rc1', ?, 'ci-bot', ?, 'open')`,
		f.workflow, pipelineURL, started)
	if err != nil {
		t.Fatal(err)
	}
	open, _ := res.LastInsertId()
	vera := f.client(t, "vera")
	_, body := vera.get("/workflows")
	row := parseDoc(t, body).Find(testid("workflow-row"))
	if got := row.Find(testid("workflow-health")).AttrOr("data-health", ""); got != "open" {
		t.Errorf("health = %q, want open", got)
	}
	if got := strings.TrimSpace(row.Find(testid("workflow-unreleased")).Text()); got != "0" {
		t.Errorf("unreleased = %q, want 0", got)
	}
	_, body = vera.get("/workflows/" + strconv.FormatInt(f.workflow, 10))
	newest := parseDoc(t, body).Find(testid("release-row")).First()
	if got := newest.Find(testid("release-state")).First().AttrOr("data-state", ""); got != "open" {
		t.Errorf("newest state = %q, want open", got)
	}
	if got := strings.TrimSpace(newest.Find(testid("release-counts")).Text()); got != "1 service" {
		t.Errorf("open release counts = %q, want 1 service", got)
	}
	if got := newest.Find(testid("commit-link")).Text(); got != "pipeline" {
		t.Errorf("commit cell of a release without commit = %q, want a pipeline link", got)
	}
	_, body = vera.get("/releases/" + strconv.FormatInt(open, 10))
	doc := parseDoc(t, body)
	if got := doc.Find(testid("release-item")+`[data-kind="service"]`).AttrOr("data-target", ""); got != strconv.FormatInt(f.worker.ID, 10) {
		t.Errorf("open release item = %q, want the worker", got)
	}
	if doc.Find(testid("items-none-sql")).Length() != 1 {
		t.Error("no word that the open release ran no SQL change")
	}
}

func TestWorkflowReleasesPaged(t *testing.T) {
	f := newWorkflowFixture(t)
	start := time.Now().UTC().Add(-90 * 24 * time.Hour)
	for n := 3; n <= 30; n++ {
		at := start.Add(time.Duration(n) * time.Hour).Format("2006-01-02T15:04:05.000000000Z07:00")
		if _, err := f.store.DB().Exec(`INSERT INTO releases (workflow_id, number, name, started_by, started_at, finished_at, state) VALUES (?, ?, ?, 'ci-bot', ?, ?, 'failed')`,
			f.workflow, n, "1.5."+strconv.Itoa(n), at, at); err != nil {
			t.Fatal(err)
		}
	}
	path := "/workflows/" + strconv.FormatInt(f.workflow, 10)
	vera := f.client(t, "vera")
	for _, tt := range []struct {
		query       string
		first, last string
		rows        int
	}{{"", "30", "6", releasesPerPage}, {"?page=2", "5", "1", 5}, {"?page=99", "5", "1", 5}, {"?page=-3", "30", "6", releasesPerPage}} {
		_, body := vera.get(path + tt.query)
		doc := parseDoc(t, body)
		rows := doc.Find(testid("release-row"))
		if rows.Length() != tt.rows || rows.First().AttrOr("data-number", "") != tt.first || rows.Last().AttrOr("data-number", "") != tt.last {
			t.Errorf("%q: %d rows from %s to %s, want %d from %s to %s", tt.query, rows.Length(), rows.First().AttrOr("data-number", ""),
				rows.Last().AttrOr("data-number", ""), tt.rows, tt.first, tt.last)
		}
		if doc.Find(testid("pagination")).Length() != 1 {
			t.Errorf("%q: no pagination", tt.query)
		}
	}
}

func TestWorkflowPagesEscape(t *testing.T) {
	f := newWorkflowFixture(t)
	const hostile = `<img src=x onerror=alert(1)>"'&`
	at := time.Now().UTC().Add(-time.Minute).Format("2006-01-02T15:04:05.000000000Z07:00")
	res, err := f.store.DB().Exec(`INSERT INTO releases (workflow_id, number, name, commit_sha, url, started_by, started_at, finished_at, state, note, rollback_of, blocked_at, blocked_by, block_reason)
		VALUES (?, 3, ?, ?, 'javascript:alert(1)', ?, ?, ?, 'failed', ?, ?, ?, 'otto', ?)`,
		f.workflow, hostile, hostile, hostile, at, at, hostile, f.rel2, at, hostile)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := res.LastInsertId()
	if _, err := f.store.DB().Exec(`UPDATE workflows SET description = ? WHERE id = ?`, hostile, f.workflow); err != nil {
		t.Fatal(err)
	}
	c := f.client(t, "otto")
	for _, path := range []string{"/workflows", "/workflows/" + strconv.FormatInt(f.workflow, 10), "/releases/" + strconv.FormatInt(id, 10),
		"/workflows/" + strconv.FormatInt(f.workflow, 10) + "/compare?a=" + strconv.FormatInt(id, 10), "/workflows/" + strconv.FormatInt(f.workflow, 10) + "/edit"} {
		code, body := c.get(path)
		if code != http.StatusOK {
			t.Errorf("%s = %d", path, code)
			continue
		}
		doc := parseDoc(t, body)
		if doc.Find("img[onerror]").Length() != 0 {
			t.Errorf("%s: a hostile name became markup", path)
		}
		doc.Find("a[href]").Each(func(_ int, a *goquery.Selection) {
			if strings.HasPrefix(strings.ToLower(a.AttrOr("href", "")), "javascript:") {
				t.Errorf("%s: a javascript: link", path)
			}
		})
	}
	_, body := c.get("/releases/" + strconv.FormatInt(id, 10))
	doc := parseDoc(t, body)
	if got := doc.Find(testid("block-reason")).Text(); got != hostile {
		t.Errorf("block reason = %q, want it as text", got)
	}
	if got := doc.Find(testid("release-rollback-of")+" a").AttrOr("href", ""); got != "/releases/"+strconv.FormatInt(f.rel2, 10) {
		t.Errorf("rollback-of link = %q", got)
	}
}

func TestWorkflowReleaseConfigWithoutNacos(t *testing.T) {
	f := newWorkflowFixture(t)
	ctx := context.Background()
	cfg := &rewind.Target{Kind: rewind.KindConfig, EnvironmentID: f.env.ID, OwnerID: 1, Namespace: "prod", Group: "DEFAULT_GROUP", Name: "pay.properties"}
	if _, err := f.store.EnsureTarget(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	v, _, err := f.store.RecordVersion(ctx, &rewind.Version{TargetID: cfg.ID, Content: "pay.secret=s3cr3t-value\n", Hash: "a", Source: rewind.SourceObserved,
		CreatedAt: f.apiV2.CreatedAt})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.DB().Exec(`INSERT INTO release_items (release_id, version_id, how) VALUES (?, ?, 'named')`, f.rel2, v.ID); err != nil {
		t.Fatal(err)
	}
	_, body := f.client(t, "otto").get("/releases/" + strconv.FormatInt(f.rel2, 10))
	if strings.Contains(body, "s3cr3t") {
		t.Fatal("the release page shows a config's content although it cannot mask it")
	}
	item := parseDoc(t, body).Find(testid("release-item") + `[data-kind="config"]`)
	if item.Find(testid("item-note")).Length() != 1 || item.Find(testid("item-created")).Length() != 1 {
		t.Errorf("config item = %q, want the note that its diff is not shown and that the release created it", item.Text())
	}
}
