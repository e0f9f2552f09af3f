package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/chromedp/chromedp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rewindhq/rewind/internal/nacos/nacostest"
	"github.com/rewindhq/rewind/internal/testenv"
)

// Images as a real registry names them: long, with a build date and a commit.
const (
	apiImageOld = "registry.cn-hangzhou.aliyuncs.com/shop-prod/checkout-api:1.4.1-20261124-3c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f"
	apiImageNew = "registry.cn-hangzhou.aliyuncs.com/shop-prod/checkout-api:1.4.2-20261201-7f3a9c2b1e4d5f6a7b8c9d0e1f2a3b4c"

	shopYAMLOld = "# shop backend\nserver:\n  port: 8080\ndb:\n  host: pg.shop.internal\n  password: s3cret-old-pw\n"
	shopYAMLNew = "# shop backend\nserver:\n  port: 8080\n  timeout: 3s\ndb:\n  host: pg.shop.internal\n  pool: 40\n  password: s3cret-new-pw\n"

	releaseCommit = "7f3a9c2b1e4d5f6a7b8c9d0e1f2a3b4c5d6e7f80"
	releaseURL    = "https://ci.example.com/shop/backend/pipelines/4812"
)

// image is the image of service name in release 1.4.1 (old) or 1.4.2.
func image(name string, old bool) string {
	switch {
	case name == "api" && old:
		return apiImageOld
	case name == "api":
		return apiImageNew
	case old:
		return "registry.cn-hangzhou.aliyuncs.com/shop-prod/" + name + ":1.4.1-20261124-3c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f"
	}
	return "registry.cn-hangzhou.aliyuncs.com/shop-prod/" + name + ":1.4.2-20261201-7f3a9c2b1e4d5f6a7b8c9d0e1f2a3b4c"
}

// configContent is the content of config dataID in release 1.4.1 (old) or 1.4.2.
func configContent(dataID string, old bool) string {
	switch {
	case dataID == "shop.yaml" && old:
		return shopYAMLOld
	case dataID == "shop.yaml":
		return shopYAMLNew
	case old:
		return "# " + dataID + "\nfeature:\n  enabled: false\n  limit: 10\n"
	}
	return "# " + dataID + "\nfeature:\n  enabled: true\n  limit: 25\n"
}

// releaseFixture is what a release of the shop backend touches: Deployments
// in the test cluster, shop.yaml in the Nacos stand-in, a table in
// PostgreSQL, and the Rewind config that knows them all.
type releaseFixture struct {
	cs       kubernetes.Interface
	ns       string
	services []string // Deployment names; none: no cluster
	configs  []string // data IDs in DEFAULT_GROUP of public
	nacos    *nacostest.Server
	key      nacostest.Key // shop.yaml
	db       *sql.DB
	config   string // rewind.yaml
	tableWas string
}

// newReleaseFixture creates the Deployments (minReady seconds apart when
// slow, so that a rollout takes a while), the config and a table of rows.
func newReleaseFixture(t testing.TB, services, configs []string, rows int, minReady int32) *releaseFixture {
	t.Helper()
	f := &releaseFixture{services: services, configs: configs}
	clusterYAML := ""
	if len(services) > 0 {
		cluster := testenv.Shared(t)
		f.ns, f.cs = cluster.NewNamespace(t), kubernetes.NewForConfigOrDie(cluster.RestConfig())
		ctx := context.Background()
		for _, name := range services {
			d := deployment(f.ns, name, image(name, true))
			d.Spec.MinReadySeconds = minReady
			if _, err := f.cs.AppsV1().Deployments(f.ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		for _, name := range services {
			waitRollout(t, f.cs, f.ns, name, image(name, true))
		}
		clusterYAML = fmt.Sprintf(`clusters:
  - name: test
    environment: prod
    kubeconfig: %s
    context: %s
    namespaces: [%s]
`, cluster.KubeconfigPath, cluster.Context, f.ns)
	}
	f.nacos = nacostest.Start(t, nacostest.Options{Mode: nacostest.Mode2})
	f.key = nacostest.Key{Group: "DEFAULT_GROUP", DataID: "shop.yaml"}
	for _, id := range configs {
		f.nacos.Seed(nacostest.Key{Group: "DEFAULT_GROUP", DataID: id}, "yaml", configContent(id, true))
	}

	dsn, db := newPostgresDatabase(t)
	f.db = db
	for _, q := range []string{
		`CREATE TABLE orders (id int PRIMARY KEY, customer text NOT NULL, status text NOT NULL, amount numeric(10,2))`,
		fmt.Sprintf(`INSERT INTO orders SELECT i, 'customer-' || (i %% 97), CASE WHEN i %% 3 = 0 THEN 'paid' ELSE 'open' END, (i %% 500) + 0.25 FROM generate_series(1, %d) i`, rows),
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	f.tableWas = ordersText(t, db)
	f.config = fmt.Sprintf(`environments:
  - name: prod
    required_approvals: 1
%snacos_servers:
  - name: nacos-prod
    environment: prod
    addr: %s
    namespaces: [public]
    username: %s
    password: %s
databases:
  - name: shop
    environment: prod
    engine: postgres
    dsn: %s
`, clusterYAML, f.nacos.Addr(), f.nacos.Username(), f.nacos.Password(), dsn)
	return f
}

// ordersText is every row of orders as text, in key order.
func ordersText(t testing.TB, db *sql.DB) string {
	t.Helper()
	var s string
	if err := db.QueryRow(`SELECT coalesce(string_agg(o::text, E'\n' ORDER BY id), '') FROM orders o`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// image is the image a Deployment's template runs now.
func (f *releaseFixture) image(t testing.TB, name string) string {
	t.Helper()
	d, err := f.cs.AppsV1().Deployments(f.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

// setImage changes a Deployment's image as a pipeline's kubectl would.
func (f *releaseFixture) setImage(t testing.TB, name, image string) {
	t.Helper()
	ctx := context.Background()
	d, err := f.cs.AppsV1().Deployments(f.ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Image = image
	if _, err := f.cs.AppsV1().Deployments(f.ns).Update(ctx, d, metav1.UpdateOptions{FieldManager: "kubectl-set"}); err != nil {
		t.Fatal(err)
	}
}

// webSession is a logged-in user of Rewind's pages, without a browser.
type webSession struct {
	t    testing.TB
	base string
	c    *http.Client
	csrf string
}

// loginSession logs user in through the login form.
func loginSession(t testing.TB, base, user string) *webSession {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	s := &webSession{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 60 * time.Second}}
	s.get("/login")
	s.post("/login", url.Values{"username": {user}, "password": {"password-" + user}})
	doc := s.get("/")
	if doc.Find(`[data-testid=nav-username]`).Length() == 0 {
		t.Fatalf("%s is not logged in", user)
	}
	return s
}

// get loads a page, fails the test unless it answers 200, and keeps its
// CSRF token.
func (s *webSession) get(path string) *goquery.Document {
	s.t.Helper()
	resp, err := s.c.Get(s.base + path)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	doc, _ := s.read(resp)
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET %s: %s\n%s", path, resp.Status, pageText(doc))
	}
	return doc
}

// post sends a form with the CSRF token and follows the redirect; it
// returns the page it ends on and that page's path.
func (s *webSession) post(path string, form url.Values) (*goquery.Document, string) {
	s.t.Helper()
	doc, where, status := s.tryPost(path, form)
	if status != http.StatusOK {
		s.t.Fatalf("POST %s: %d\n%s", path, status, pageText(doc))
	}
	return doc, where
}

// tryPost is post that returns the status instead of failing on it.
func (s *webSession) tryPost(path string, form url.Values) (*goquery.Document, string, int) {
	s.t.Helper()
	form.Set("csrf_token", s.csrf)
	resp, err := s.c.PostForm(s.base+path, form)
	if err != nil {
		s.t.Fatalf("POST %s: %v", path, err)
	}
	doc, _ := s.read(resp)
	return doc, resp.Request.URL.Path, resp.StatusCode
}

func (s *webSession) read(resp *http.Response) (*goquery.Document, error) {
	defer resp.Body.Close()
	doc, err := goquery.NewDocumentFromReader(resp.Body)
	if err != nil {
		s.t.Fatalf("read %s: %v", resp.Request.URL, err)
	}
	if v, ok := doc.Find(`meta[name=csrf-token]`).Attr("content"); ok && v != "" {
		s.csrf = v
	}
	return doc, nil
}

func pageText(doc *goquery.Document) string {
	if doc == nil {
		return ""
	}
	return strings.Join(strings.Fields(doc.Find("main").Text()), " ")
}

// apiToken makes an API token for the session's user on the profile page.
func (s *webSession) apiToken(name string) string {
	s.t.Helper()
	s.get("/profile")
	doc, _ := s.post("/profile/tokens", url.Values{"name": {name}, "days": {"0"}})
	token := strings.TrimSpace(doc.Find(`[data-testid=new-token] code`).Text())
	if token == "" {
		s.t.Fatalf("no token shown:\n%s", pageText(doc))
	}
	return token
}

// rewindCLI runs the rewind command line against base as the token's user.
func rewindCLI(t testing.TB, base, token string, args ...string) (string, error) {
	t.Helper()
	cfg := t.TempDir()
	getenv := func(k string) string {
		return map[string]string{"REWIND_SERVER": base, "REWIND_TOKEN": token, "XDG_CONFIG_HOME": cfg}[k]
	}
	var out bytes.Buffer
	err := run(context.Background(), args, getenv, strings.NewReader(""), &out, &out)
	return out.String(), err
}

// mustCLI is rewindCLI that fails the test on an error.
func mustCLI(t testing.TB, base, token string, args ...string) string {
	t.Helper()
	out, err := rewindCLI(t, base, token, args...)
	if err != nil {
		t.Fatalf("rewind %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// apiCall sends an API request with a bearer token and decodes the answer
// into out; it fails the test unless the status is want.
func apiCall(t testing.TB, base, token, method, path string, body any, want int, out any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+"/api/v1"+path, r)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %s, want %d: %s", method, path, resp.Status, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
}

// apiTargetRow is a target as GET /services, /configs, /databases list it.
type apiTargetRow struct {
	ID       int64  `json:"id"`
	Kind     string `json:"kind"`
	Label    string `json:"label"`
	Name     string `json:"name"`
	Versions int64  `json:"versions"`
	Latest   *struct {
		Number int64  `json:"number"`
		Source string `json:"source"`
		Images []struct {
			Image string `json:"image"`
		} `json:"images"`
	} `json:"latest"`
}

// waitTarget polls the API list of kind until the target named name
// satisfies ok, and returns it.
func waitTarget(t testing.TB, base, token, kind, name string, ok func(apiTargetRow) bool) apiTargetRow {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var last []apiTargetRow
	for {
		var list struct{ Items []apiTargetRow }
		apiCall(t, base, token, "GET", "/"+kind+"?per_page=200", nil, http.StatusOK, &list)
		last = list.Items
		for _, tg := range list.Items {
			if tg.Name == name && ok(tg) {
				return tg
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s %q as wanted after 90s; Rewind lists %+v", kind, name, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func latestImage(tg apiTargetRow) string {
	if tg.Latest == nil || len(tg.Latest.Images) == 0 {
		return ""
	}
	return tg.Latest.Images[0].Image
}

// apiReleaseView is a release as the API shows it.
type apiReleaseView struct {
	ID           int64    `json:"id"`
	Name         string   `json:"name"`
	State        string   `json:"state"`
	Status       string   `json:"status"`
	Labels       []string `json:"labels"`
	RollbackOf   int64    `json:"rollback_of"`
	RequestID    int64    `json:"request_id"`
	RolledBackBy int64    `json:"rolled_back_by"`
	Blocked      bool     `json:"blocked"`
	Counts       struct {
		Services, Configs, SQL int
		Text                   string
	} `json:"counts"`
	Items []struct {
		TargetID      int64  `json:"target_id"`
		Target        string `json:"target"`
		Kind          string `json:"kind"`
		Version       int64  `json:"version"`
		BeforeVersion int64  `json:"before_version"`
		How           string `json:"how"`
	} `json:"items"`
}

// releaseRig is a running Rewind that knows a fixture, with its users'
// sessions and tokens, the workflow shop-backend and its target IDs.
type releaseRig struct {
	f         *releaseFixture
	url       string
	dataDir   string
	otto      *webSession // the operator: pipeline, requester
	ottoToken string
	annaToken string // the approver
	targets   map[string]int64
	workflow  int64
}

// setUpRelease waits until Rewind has recorded the fixture's targets as
// they are, then defines the workflow shop-backend over them.
func setUpRelease(t testing.TB, f *releaseFixture, url, dataDir string) *releaseRig {
	t.Helper()
	rig := &releaseRig{f: f, url: url, dataDir: dataDir, targets: map[string]int64{}}
	rig.otto = loginSession(t, url, "otto")
	rig.ottoToken = rig.otto.apiToken("ci")
	rig.annaToken = loginSession(t, url, "anna").apiToken("approvals")
	var ids []int64
	for _, name := range f.services {
		tg := waitTarget(t, url, rig.ottoToken, "services", name, func(tg apiTargetRow) bool { return latestImage(tg) == image(name, true) })
		rig.targets[name] = tg.ID
		ids = append(ids, tg.ID)
	}
	for _, id := range f.configs {
		cfg := waitTarget(t, url, rig.ottoToken, "configs", id, func(tg apiTargetRow) bool { return tg.Versions >= 1 })
		rig.targets[id] = cfg.ID
		ids = append(ids, cfg.ID)
	}
	db := waitTarget(t, url, rig.ottoToken, "databases", "shop", func(apiTargetRow) bool { return true })
	rig.targets["shop"] = db.ID
	ids = append(ids, db.ID)
	var wf struct{ ID int64 }
	apiCall(t, url, rig.ottoToken, "POST", "/workflows", map[string]any{"name": "shop-backend", "environment": "prod", "target_ids": ids}, http.StatusCreated, &wf)
	rig.workflow = wf.ID
	return rig
}

// pipeline records release name as CI does: start, new images rolled out,
// a new config published, one SQL change run through Rewind and approved,
// finish. It returns the release as recorded.
func (rig *releaseRig) pipeline(t testing.TB, name string, changes ...string) apiReleaseView {
	t.Helper()
	f := rig.f
	before := map[string]int64{}
	for _, k := range f.configs {
		tg := waitTarget(t, rig.url, rig.ottoToken, "configs", k, func(apiTargetRow) bool { return true })
		before[k] = tg.Versions
	}
	// Kubernetes times a change to the second, and a change timed to the
	// start's whole second is the release's: the Deployments made a moment
	// ago must lie in an earlier second.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 20*time.Millisecond)))
	id := strings.TrimSpace(mustCLI(t, rig.url, rig.ottoToken, "release", "start", "--workflow", "shop-backend", "--name", name,
		"--commit", releaseCommit, "--url", releaseURL, "-q"))
	for _, s := range f.services {
		f.setImage(t, s, image(s, false))
	}
	for _, s := range f.services {
		waitRollout(t, f.cs, f.ns, s, image(s, false))
	}
	for _, id := range f.configs {
		f.nacos.Publish(nacostest.Key{Group: "DEFAULT_GROUP", DataID: id}, configContent(id, false))
	}
	for i, change := range changes {
		file := filepath.Join(t.TempDir(), "change.sql")
		if err := writeFile(file, change); err != nil {
			t.Fatal(err)
		}
		req := strings.TrimSpace(mustCLI(t, rig.url, rig.ottoToken, "sql", "submit", strconv.FormatInt(rig.targets["shop"], 10), file,
			"--reason", fmt.Sprintf("data change %d of %s", i+1, name)))
		mustCLI(t, rig.url, rig.annaToken, "approve", req, "--comment", "part of "+name)
		if out, err := rewindCLI(t, rig.url, rig.ottoToken, "watch", req, "--interval", "100ms"); err != nil {
			t.Fatalf("the SQL change did not succeed: %v\n%s", err, out)
		}
	}
	// The pipeline finishes once Rewind has seen what it deployed.
	for _, s := range f.services {
		waitTarget(t, rig.url, rig.ottoToken, "services", s, func(tg apiTargetRow) bool { return latestImage(tg) == image(s, false) })
	}
	for _, id := range f.configs {
		waitTarget(t, rig.url, rig.ottoToken, "configs", id, func(tg apiTargetRow) bool { return tg.Versions > before[id] })
	}
	out := mustCLI(t, rig.url, rig.ottoToken, "release", "finish", "--workflow", "shop-backend", "--name", name)
	t.Logf("release finish said: %s", strings.TrimSpace(out))
	return rig.release(t, id)
}

// versions lists the versions of a target of the rig, for failure messages.
func (rig *releaseRig) versions(t testing.TB, target string) string {
	t.Helper()
	var list struct {
		Items []struct {
			Number    int64     `json:"number"`
			Revision  string    `json:"revision"`
			Hash      string    `json:"hash"`
			Source    string    `json:"source"`
			Author    string    `json:"author"`
			CreatedAt time.Time `json:"created_at"`
		}
	}
	apiCall(t, rig.url, rig.ottoToken, "GET", fmt.Sprintf("/targets/%d/versions", rig.targets[target]), nil, http.StatusOK, &list)
	var b strings.Builder
	for _, v := range list.Items {
		fmt.Fprintf(&b, "  %d %s revision %q by %q at %s\n", v.Number, v.Source, v.Revision, v.Author, v.CreatedAt.Format(time.RFC3339Nano))
	}
	return b.String()
}

func (rig *releaseRig) release(t testing.TB, id any) apiReleaseView {
	t.Helper()
	var r apiReleaseView
	apiCall(t, rig.url, rig.ottoToken, "GET", fmt.Sprintf("/releases/%v", id), nil, http.StatusOK, &r)
	return r
}

func (rig *releaseRig) releases(t testing.TB) []apiReleaseView {
	t.Helper()
	var list struct{ Items []apiReleaseView }
	apiCall(t, rig.url, rig.ottoToken, "GET", fmt.Sprintf("/workflows/%d/releases", rig.workflow), nil, http.StatusOK, &list)
	return list.Items
}

// planForm is the rollback plan of a release as its page offers it.
type planForm struct {
	doc    *goquery.Document
	values url.Values
	keys   []string // the ticked steps, in page order
}

// rollbackPlan opens the plan page of release id as the operator.
func (rig *releaseRig) rollbackPlan(t testing.TB, id int64) planForm {
	t.Helper()
	doc := rig.otto.get(fmt.Sprintf("/releases/%d/rollback", id))
	form := doc.Find(`[data-testid=plan-form]`)
	if form.Length() == 0 {
		t.Fatalf("no plan form:\n%s", pageText(doc))
	}
	p := planForm{doc: doc, values: url.Values{}}
	form.Find("input, textarea").Each(func(_ int, s *goquery.Selection) {
		name, _ := s.Attr("name")
		if name == "" || name == "csrf_token" {
			return
		}
		if typ, _ := s.Attr("type"); typ == "checkbox" {
			if _, on := s.Attr("checked"); !on {
				return
			}
			v, _ := s.Attr("value")
			p.keys = append(p.keys, v)
			p.values.Add(name, v)
			return
		}
		if goquery.NodeName(s) == "textarea" {
			p.values.Set(name, s.Text())
			return
		}
		v, _ := s.Attr("value")
		p.values.Set(name, v)
	})
	return p
}

// submit asks for the plan as offered, with a reason, and returns the
// request's ID.
func (rig *releaseRig) submit(t testing.TB, p planForm, release int64, reason string) int64 {
	t.Helper()
	p.values.Set("reason", reason)
	doc, where := rig.otto.post(fmt.Sprintf("/releases/%d/rollback", release), p.values)
	id, err := strconv.ParseInt(strings.TrimPrefix(where, "/requests/"), 10, 64)
	if err != nil || !strings.HasPrefix(where, "/requests/") {
		t.Fatalf("submitting the plan ended on %s:\n%s", where, pageText(doc))
	}
	return id
}

// apiRequestView is a request as the API shows it.
type apiRequestView struct {
	ID      int64  `json:"id"`
	State   string `json:"state"`
	Final   bool   `json:"final"`
	Outcome string `json:"outcome"`
}

// waitRequest polls the API until request id is final, and returns it.
func waitRequest(t testing.TB, base, token string, id int64, within time.Duration) apiRequestView {
	t.Helper()
	deadline := time.Now().Add(within)
	var r apiRequestView
	for {
		apiCall(t, base, token, "GET", fmt.Sprintf("/requests/%d", id), nil, http.StatusOK, &r)
		if r.Final {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("request %d not final after %s: %s, %q", id, within, r.State, r.Outcome)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stepRow is one step of a plan as the store holds it.
type stepRow struct {
	Position          int
	Target            string
	State             string
	Outcome           string
	Attempts          int
	Started, Finished time.Time
}

// openStoreRO opens Rewind's store read-only beside the running Rewind.
func openStoreRO(t testing.TB, dataDir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "rewind.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// steps reads the steps of request id from the store.
func steps(t testing.TB, db *sql.DB, id int64) []stepRow {
	t.Helper()
	rows, err := db.Query(`SELECT s.position, t.kind || ':' || t.name, s.state, s.outcome, s.attempts, coalesce(s.started_at, ''), coalesce(s.finished_at, '')
		FROM request_steps s JOIN targets t ON t.id = s.target_id WHERE s.request_id = ? ORDER BY s.position`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []stepRow
	for rows.Next() {
		var st stepRow
		var started, finished string
		if err := rows.Scan(&st.Position, &st.Target, &st.State, &st.Outcome, &st.Attempts, &started, &finished); err != nil {
			t.Fatal(err)
		}
		st.Started, _ = time.Parse(time.RFC3339Nano, started)
		st.Finished, _ = time.Parse(time.RFC3339Nano, finished)
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// stepStarts counts, per step, the audit events that say Rewind started it.
func stepStarts(t testing.TB, db *sql.DB, id int64) map[string]int {
	t.Helper()
	rows, err := db.Query(`SELECT detail FROM audit_events WHERE request_id = ? AND action = 'rollback.execute' AND outcome = 'started' AND target NOT LIKE 'plan of %'`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		step, _, _ := strings.Cut(d, ":")
		out[step]++
	}
	return out
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }

// TestReleaseRollbackEndToEnd records a release of two services, a config
// and a SQL change through the CLI as a pipeline would, rolls the whole
// release back as one plan under one approval, and checks that the cluster,
// Nacos and the table are back as before and that the release can be
// blocked for CI.
func TestReleaseRollbackEndToEnd(t *testing.T) {
	f := newReleaseFixture(t, []string{"api", "worker"}, []string{"shop.yaml"}, 3000, 0)
	rw := startRewind(t, f.config, map[string]string{"otto": "operator", "anna": "approver"})
	rig := setUpRelease(t, f, rw.URL, rw.DataDir)

	rel := rig.pipeline(t, "1.4.2", "UPDATE orders SET status = 'cancelled' WHERE status = 'open' AND id <= 1200;")
	if rel.State != "succeeded" || rel.Counts.Services != 2 || rel.Counts.Configs != 1 || rel.Counts.SQL != 1 || len(rel.Items) != 4 {
		t.Fatalf("release 1.4.2 recorded as %s with %+v, %d items: want succeeded with 2 services, 1 config, 1 SQL change\n%+v", rel.State, rel.Counts, len(rel.Items), rel.Items)
	}
	for _, it := range rel.Items {
		if it.How != "observed" {
			t.Errorf("item %s@%d came %s, want observed", it.Target, it.Version, it.How)
		}
	}
	if got := ordersText(t, f.db); got == f.tableWas {
		t.Fatal("the SQL change changed nothing")
	}

	plan := rig.rollbackPlan(t, rel.ID)
	if len(plan.keys) != 4 {
		t.Fatalf("the plan ticks %d steps %v, want 4:\n%s", len(plan.keys), plan.keys, pageText(plan.doc))
	}
	var kinds []string
	plan.doc.Find(`[data-testid=plan-step]`).Each(func(_ int, s *goquery.Selection) {
		kinds = append(kinds, strings.TrimSpace(s.Find(".badge").First().Text()))
		if s.Find(`[data-testid=plan-checks] li`).Length() == 0 {
			t.Errorf("step %s shows no pre-flight checks", s.AttrOr("data-key", "?"))
		}
		if n := s.Find(`.check-failed`).Length(); n > 0 {
			t.Errorf("step %s: %d failed checks: %s", s.AttrOr("data-key", "?"), n, strings.Join(strings.Fields(s.Find(`[data-testid=plan-checks]`).Text()), " "))
		}
	})
	if got, want := strings.Join(kinds, ","), "service,service,config,database"; got != want {
		t.Errorf("plan order %s, want %s (services, then configs, then SQL)", got, want)
	}
	if text := plan.doc.Text(); strings.Contains(text, "s3cret") {
		t.Errorf("the plan page shows a config secret")
	}
	if html, _ := plan.doc.Html(); strings.Contains(html, "s3cret") {
		t.Errorf("the plan page's HTML holds a config secret")
	}

	// The operator asks for it from the command line, as the page offers it.
	dry := mustCLI(t, rw.URL, rig.ottoToken, "release", "rollback", "--workflow", "shop-backend", "--name", "1.4.2", "--reason", "1.4.2 breaks checkout", "--dry-run")
	t.Logf("release rollback --dry-run:\n%s", dry)
	for _, s := range f.services {
		if !strings.Contains(dry, s) {
			t.Errorf("the dry run does not name %s", s)
		}
	}
	out := mustCLI(t, rw.URL, rig.ottoToken, "release", "rollback", "--workflow", "shop-backend", "--name", "1.4.2", "--reason", "1.4.2 breaks checkout", "-o", "json")
	var asked struct {
		ID    int64
		State string
		Steps []json.RawMessage
	}
	// With -o json it prints the plan, then the request.
	dec := json.NewDecoder(strings.NewReader(out))
	var err error
	for err == nil {
		var next json.RawMessage
		if err = dec.Decode(&next); err == nil {
			err = json.Unmarshal(next, &asked)
		}
	}
	if !errors.Is(err, io.EOF) || len(asked.Steps) != 4 {
		t.Fatalf("release rollback said %q (%v); want a request of 4 steps", out, err)
	}
	id := asked.ID
	var pending apiRequestView
	apiCall(t, rw.URL, rig.ottoToken, "GET", fmt.Sprintf("/requests/%d", id), nil, http.StatusOK, &pending)
	if pending.State != "pending" {
		t.Fatalf("the plan's request is %s, want pending until approved", pending.State)
	}
	if f.image(t, "api") != apiImageNew {
		t.Fatal("the cluster changed before the approval")
	}
	approved := time.Now()
	mustCLI(t, rw.URL, rig.annaToken, "approve", strconv.FormatInt(id, 10), "--comment", "roll back 1.4.2")
	done := waitRequest(t, rw.URL, rig.ottoToken, id, 4*time.Minute)
	store := openStoreRO(t, rw.DataDir)
	sts := steps(t, store, id)
	for _, st := range sts {
		t.Logf("step %d %s: %s after %v (%s)", st.Position, st.Target, st.State, st.Finished.Sub(approved).Round(time.Millisecond), st.Outcome)
	}
	if done.State != "succeeded" {
		t.Fatalf("the plan ended %s: %s", done.State, done.Outcome)
	}
	var lastNonRollout time.Time
	for _, st := range sts {
		if !strings.HasPrefix(st.Target, "service:") && st.Finished.After(lastNonRollout) {
			lastNonRollout = st.Finished
		}
	}
	t.Logf("timing: approval → last non-rollout step done %v (4-step plan; the service rollouts run first)", lastNonRollout.Sub(approved).Round(time.Millisecond))

	for _, s := range f.services {
		waitRollout(t, f.cs, f.ns, s, image(s, true))
	}
	if got, typ, _ := f.nacos.Config(f.key); got != shopYAMLOld || typ != "yaml" {
		t.Errorf("Nacos holds %q (%s), want the content before 1.4.2", got, typ)
	}
	if got := ordersText(t, f.db); got != f.tableWas {
		t.Errorf("the orders table is not back as before the release")
	}
	for step, n := range stepStarts(t, store, id) {
		if n != 1 {
			t.Errorf("%s started %d times", step, n)
		}
	}

	rel = rig.release(t, rel.ID)
	if !strings.Contains(rel.Status, "rolled back") || rel.RolledBackBy != id {
		t.Errorf("release 1.4.2 shows %q, rolled back by %d; want rolled back by request %d", rel.Status, rel.RolledBackBy, id)
	}
	var rollback *apiReleaseView
	for _, r := range rig.releases(t) {
		if r.Name == "rollback of 1.4.2" {
			rollback = &r
		}
	}
	if rollback == nil || rollback.RollbackOf != rel.ID || rollback.RequestID != id || !slices.Contains(rollback.Labels, "a rollback") {
		t.Errorf("release \"rollback of 1.4.2\": %+v", rollback)
	}

	mustCLI(t, rw.URL, rig.ottoToken, "release", "block", "--workflow", "shop-backend", "--name", "1.4.2", "--reason", "breaks checkout")
	out, err = rewindCLI(t, rw.URL, rig.ottoToken, "release", "check", "shop-backend", "1.4.2")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code == 0 {
		t.Errorf("check of a blocked release: %v, %q; want a non-zero exit", err, out)
	}
	mustCLI(t, rw.URL, rig.ottoToken, "release", "unblock", "--workflow", "shop-backend", "--name", "1.4.2", "--reason", "fixed in 1.4.3")
	if out, err := rewindCLI(t, rw.URL, rig.ottoToken, "release", "check", "shop-backend", "1.4.2"); err != nil {
		t.Errorf("check after unblock: %v, %q; want exit 0", err, out)
	}
}

// TestReleaseRollbackFailedStepRetry makes a step of a release's rollback
// fail: shop.yaml is edited in Nacos after the plan was made, so the
// config step refuses to overwrite it and the plan stops there, the steps
// after it waiting. With the edit undone, a retry finishes the plan.
func TestReleaseRollbackFailedStepRetry(t *testing.T) {
	releaseFailedStepRetry(t, []string{"api"})
}

func releaseFailedStepRetry(t testing.TB, services []string) {
	f := newReleaseFixture(t, services, []string{"shop.yaml"}, 800, 0)
	rw := startRewind(t, f.config, map[string]string{"otto": "operator", "anna": "approver"})
	rig := setUpRelease(t, f, rw.URL, rw.DataDir)
	rel := rig.pipeline(t, "1.4.2", "DELETE FROM orders WHERE status = 'paid' AND id > 600;")
	if want := len(services) + 2; len(rel.Items) != want {
		t.Fatalf("release 1.4.2 has %d items, want %d: %+v\nshop.yaml's versions:\n%s", len(rel.Items), want, rel.Items, rig.versions(t, "shop.yaml"))
	}
	plan := rig.rollbackPlan(t, rel.ID)
	id := rig.submit(t, plan, rel.ID, "1.4.2 breaks checkout")
	configStep := len(services) + 1

	// Someone hotfixes the config by hand after the plan was made.
	hotfix := shopYAMLNew + "# hotfix by hand\n"
	f.nacos.Publish(f.key, hotfix)
	mustCLI(t, rw.URL, rig.annaToken, "approve", strconv.FormatInt(id, 10), "--comment", "ok")
	failed := waitRequest(t, rw.URL, rig.ottoToken, id, 3*time.Minute)
	store := openStoreRO(t, rw.DataDir)
	sts := steps(t, store, id)
	for _, st := range sts {
		t.Logf("step %d %s: %s (%s)", st.Position, st.Target, st.State, st.Outcome)
	}
	wantOutcome := fmt.Sprintf("%d of %d steps done; step %d failed: ", len(services), len(sts), configStep)
	if failed.State != "failed" || !strings.HasPrefix(failed.Outcome, wantOutcome) || !strings.Contains(failed.Outcome, "config changed") {
		t.Fatalf("the plan ended %s: %q; want failed, %q...", failed.State, failed.Outcome, wantOutcome)
	}
	t.Logf("outcome: %s", failed.Outcome)
	for _, st := range sts {
		want := "succeeded"
		switch {
		case st.Position == configStep:
			want = "failed"
		case st.Position > configStep:
			want = "waiting"
		}
		if st.State != want {
			t.Errorf("step %d (%s) is %s, want %s", st.Position, st.Target, st.State, want)
		}
	}
	if got, _, _ := f.nacos.Config(f.key); got != hotfix {
		t.Errorf("the failed step changed Nacos: %q", got)
	}
	if got := ordersText(t, f.db); got == f.tableWas {
		t.Errorf("the SQL step, after the failed one, ran")
	}
	page := rig.otto.get(fmt.Sprintf("/requests/%d", id))
	if page.Find(`[data-testid=retry-step]`).Length() == 0 {
		html, _ := page.Html()
		t.Fatalf("the request page offers no retry:\n%s", html)
	}

	// The hotfix is undone: Nacos holds what the plan saw.
	f.nacos.Publish(f.key, shopYAMLNew)
	rig.otto.post(fmt.Sprintf("/requests/%d/retry", id), url.Values{})
	done := waitRequest(t, rw.URL, rig.ottoToken, id, 3*time.Minute)
	for _, st := range steps(t, store, id) {
		t.Logf("after the retry, step %d %s: %s, %d attempts (%s)", st.Position, st.Target, st.State, st.Attempts, st.Outcome)
	}
	if done.State != "succeeded" {
		t.Fatalf("after the retry the plan ended %s: %q", done.State, done.Outcome)
	}
	if got, _, _ := f.nacos.Config(f.key); got != shopYAMLOld {
		t.Errorf("Nacos holds %q after the retry, want the content before 1.4.2", got)
	}
	if got := ordersText(t, f.db); got != f.tableWas {
		t.Errorf("the orders table is not back as before the release")
	}
	for _, s := range services {
		if got := f.image(t, s); got != image(s, true) {
			t.Errorf("%s runs %s, want %s", s, got, image(s, true))
		}
	}
	starts := stepStarts(t, store, id)
	for _, st := range sts {
		want := 1
		if st.Position == configStep {
			want = 2
		}
		if got := starts[fmt.Sprintf("step %d of %d", st.Position, len(sts))]; got != want {
			t.Errorf("step %d started %d times, want %d: %v", st.Position, got, want, starts)
		}
	}
}

// osRewind is `rewind serve` as an OS process, so that a test can kill it.
type osRewind struct {
	bin, cfg, addr, dataDir, log string
	cmd                          *exec.Cmd
	exited                       chan error // Wait's result for cmd
	URL                          string
}

// buildRewind builds the rewind binary into dir.
func buildRewind(t testing.TB, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "rewind")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// newOSRewind prepares a data dir with the users and a config file; start
// runs it.
func newOSRewind(t testing.TB, config string, users map[string]string) *osRewind {
	t.Helper()
	dir := t.TempDir()
	p := &osRewind{bin: buildRewind(t, dir), cfg: filepath.Join(dir, "rewind.yaml"), dataDir: filepath.Join(dir, "data"), log: filepath.Join(dir, "rewind.log")}
	if err := os.WriteFile(p.cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, role := range users {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"user", "add", name, "--role", role, "--data-dir", p.dataDir}, func(string) string { return "" },
			strings.NewReader("password-"+name+"\n"), &out, &out); err != nil {
			t.Fatalf("user add %s: %v", name, err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	ln.Close()
	p.URL = "http://" + p.addr
	t.Cleanup(func() {
		if p.cmd != nil {
			p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.exited:
			case <-time.After(30 * time.Second):
				p.cmd.Process.Kill()
				t.Error("rewind did not stop within 30s of SIGTERM")
			}
		}
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("rewind log:\n%s", b)
		}
	})
	return p
}

// start runs `rewind serve` and waits until it is ready.
func (p *osRewind) start(t testing.TB) {
	t.Helper()
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "--- start at %s\n", time.Now().UTC().Format(time.RFC3339Nano))
	p.cmd = exec.Command(p.bin, "serve", "--config", p.cfg, "--addr", p.addr, "--data-dir", p.dataDir, "--rollout-timeout", "2m")
	p.cmd.Env = append(os.Environ(), "REWIND_ADMIN_PASSWORD=admin-password-1")
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	p.exited = exited
	go func() { exited <- p.cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-exited:
			p.cmd = nil
			b, _ := os.ReadFile(p.log)
			t.Fatalf("rewind exited: %v\n%s", err, b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("rewind not ready after 60s (last: %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill ends Rewind with SIGKILL: no chance to record anything.
func (p *osRewind) kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("rewind still runs 10s after SIGKILL")
	}
	p.cmd = nil
}

// waitStepRunning polls the store until step pos of request id is running
// and ready(…) holds, and returns when it does.
func waitStepRunning(t testing.TB, store *sql.DB, id int64, pos int, ready func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		sts := steps(t, store, id)
		if len(sts) >= pos && sts[pos-1].State == "running" && ready() {
			return
		}
		if len(sts) >= pos && sts[pos-1].State != "waiting" && sts[pos-1].State != "running" {
			t.Fatalf("step %d ended %s before it could be interrupted: %s", pos, sts[pos-1].State, sts[pos-1].Outcome)
		}
		if time.Now().After(deadline) {
			t.Fatalf("step %d of request %d not running after 2m: %+v", pos, id, sts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReleaseRollbackKilledMidPlan kills Rewind with SIGKILL twice while a
// release's rollback runs, each time while a service step follows its
// rollout, and restarts it on the same data dir: the plan must end in a
// true recorded state, no step may run twice, and the targets must be as
// the record says.
func TestReleaseRollbackKilledMidPlan(t *testing.T) {
	// minReadySeconds keeps each rollout going for a while in the kwok cluster.
	f := newReleaseFixture(t, []string{"api", "worker"}, []string{"shop.yaml"}, 1500, 8)
	rw := newOSRewind(t, f.config, map[string]string{"otto": "operator", "anna": "approver"})
	rw.start(t)
	rig := setUpRelease(t, f, rw.URL, rw.dataDir)
	rel := rig.pipeline(t, "1.4.2", "UPDATE orders SET amount = amount * 1.1 WHERE customer = 'customer-7';")
	if len(rel.Items) != 4 {
		t.Fatalf("release 1.4.2 has %d items, want 4: %+v", len(rel.Items), rel.Items)
	}
	plan := rig.rollbackPlan(t, rel.ID)
	id := rig.submit(t, plan, rel.ID, "1.4.2 breaks checkout")
	store := openStoreRO(t, rw.dataDir)
	mustCLI(t, rw.URL, rig.annaToken, "approve", strconv.FormatInt(id, 10), "--comment", "ok")

	planned := steps(t, store, id)
	for i := range f.services {
		pos := i + 1
		name := strings.TrimPrefix(planned[i].Target, "service:")
		waitStepRunning(t, store, id, pos, func() bool { return f.image(t, name) == image(name, true) })
		rw.kill(t)
		sts := steps(t, store, id)
		t.Logf("killed during step %d: %+v", pos, sts)
		if sts[pos-1].State != "running" {
			t.Fatalf("after the kill step %d is recorded %s, want running", pos, sts[pos-1].State)
		}
		for _, st := range sts[pos:] {
			if st.State != "waiting" {
				t.Errorf("after the kill step %d is recorded %s, want waiting", st.Position, st.State)
			}
		}
		rw.start(t)
	}
	done := waitRequest(t, rw.URL, rig.ottoToken, id, 4*time.Minute)
	sts := steps(t, store, id)
	for _, st := range sts {
		t.Logf("step %d %s: %s, %d attempts (%s)", st.Position, st.Target, st.State, st.Attempts, st.Outcome)
	}
	t.Logf("outcome: %s", done.Outcome)
	for step, n := range stepStarts(t, store, id) {
		if n != 1 {
			t.Errorf("%s started %d times", step, n)
		}
	}
	if len(stepStarts(t, store, id)) != len(sts) {
		t.Errorf("steps started: %v; want each of the %d steps once", stepStarts(t, store, id), len(sts))
	}
	// The record must match the targets, whatever it says.
	for i := range f.services {
		name := strings.TrimPrefix(sts[i].Target, "service:")
		want := image(name, false)
		if sts[i].State == "succeeded" {
			want = image(name, true)
			waitRollout(t, f.cs, f.ns, name, want)
		}
		if got := f.image(t, name); got != want {
			t.Errorf("step %d is %s but %s runs %s", i+1, sts[i].State, name, got)
		}
	}
	cfg := sts[len(f.services)]
	if got, _, _ := f.nacos.Config(f.key); (cfg.State == "succeeded") != (got == shopYAMLOld) {
		t.Errorf("the config step is %s and Nacos holds %q", cfg.State, got)
	}
	dbStep := sts[len(f.services)+1]
	if got := ordersText(t, f.db); (dbStep.State == "succeeded") != (got == f.tableWas) {
		t.Errorf("the SQL step is %s and the table is back: %v", dbStep.State, got == f.tableWas)
	}
	if done.State != "succeeded" {
		t.Errorf("the plan ended %s: %s; it should have gone on after each restart", done.State, done.Outcome)
	}
	for i := range f.services {
		if !strings.HasPrefix(sts[i].Outcome, "Checked after Rewind stopped during this step") {
			t.Errorf("step %d does not say it was checked after the stop: %q", i+1, sts[i].Outcome)
		}
	}
}

// TestBrowserReleaseRollback drives a release's rollback in Chromium: the
// operator finds the release from its workflow, reads the plan with its
// steps and checks and asks for it; the approver approves once; the request
// page follows the steps until the plan succeeded; the operator blocks the
// release's name from its page.
func TestBrowserReleaseRollback(t *testing.T) {
	f := newReleaseFixture(t, []string{"api"}, []string{"shop.yaml"}, 2000, 0)
	rw := startRewind(t, f.config, map[string]string{"otto": "operator", "anna": "approver"})
	rig := setUpRelease(t, f, rw.URL, rw.DataDir)
	rel := rig.pipeline(t, "1.4.2", "UPDATE orders SET status = 'refunded' WHERE status = 'paid' AND id <= 900;")
	if len(rel.Items) != 3 {
		t.Fatalf("release 1.4.2 has %d items, want 3: %+v", len(rel.Items), rel.Items)
	}
	b := newBrowser(t)

	var rows int
	browse(t, b, "operator opens the workflow",
		login(rw.URL, "otto"),
		chromedp.Navigate(rw.URL+"/workflows"),
		chromedp.WaitVisible(`[data-testid=workflow-link]`, chromedp.ByQuery),
		chromedp.Click(`[data-testid=workflow-link]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=releases-table]`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('[data-testid=release-row]').length`, &rows),
	)
	if rows != 1 {
		t.Errorf("the workflow lists %d releases, want 1", rows)
	}
	var counts string
	var items int
	browse(t, b, "operator opens the release",
		chromedp.Click(`[data-testid=release-row] [data-testid=release-link]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=release-header]`, chromedp.ByQuery),
		chromedp.Text(`[data-testid=release-counts]`, &counts, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('[data-testid=release-item]').length`, &items),
	)
	if !strings.Contains(counts, "1 service") || !strings.Contains(counts, "1 config") || !strings.Contains(counts, "1 SQL change") || items != 3 {
		t.Errorf("release page: counts %q, %d items; want 1 service, 1 config, 1 SQL change", counts, items)
	}
	var html string
	browse(t, b, "release page source", chromedp.OuterHTML("html", &html, chromedp.ByQuery))
	if strings.Contains(html, "s3cret") {
		t.Errorf("the release page holds a config secret")
	}

	var planSteps, checks, failedChecks int
	var stepKinds string
	browse(t, b, "operator previews the plan",
		chromedp.Click(`[data-testid=release-rollback]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=plan-form]`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('[data-testid=plan-step]').length`, &planSteps),
		chromedp.Evaluate(`document.querySelectorAll('[data-testid=plan-checks] li').length`, &checks),
		chromedp.Evaluate(`document.querySelectorAll('[data-testid=plan-checks] .check-failed').length`, &failedChecks),
		chromedp.Evaluate(`[...document.querySelectorAll('[data-testid=plan-step] .badge')].map(e => e.textContent).join(',')`, &stepKinds),
	)
	if planSteps != 3 || checks < 3 || failedChecks != 0 {
		t.Errorf("plan: %d steps, %d checks, %d failed; want 3 steps, each with passing checks", planSteps, checks, failedChecks)
	}
	if !strings.HasPrefix(stepKinds, "service,config,database") {
		t.Errorf("plan order %q, want services, configs, SQL", stepKinds)
	}
	var requestURL string
	browse(t, b, "operator asks for the plan",
		chromedp.SendKeys(`#plan-reason`, "1.4.2 breaks checkout", chromedp.ByQuery),
		chromedp.Click(`[data-testid=plan-submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=state-badge][data-state=pending]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=request-steps]`, chromedp.ByQuery),
		chromedp.Location(&requestURL),
	)
	id, err := strconv.ParseInt(requestURL[strings.LastIndex(requestURL, "/")+1:], 10, 64)
	if err != nil {
		t.Fatalf("request URL %s", requestURL)
	}
	browse(t, b, "operator logs out", logout())

	browse(t, b, "approver opens the inbox",
		login(rw.URL, "anna"),
		chromedp.Navigate(rw.URL+"/approvals"),
		chromedp.WaitVisible(`[data-testid=awaiting] [data-testid=approve]`, chromedp.ByQuery),
		chromedp.SendKeys(`[data-testid=awaiting] textarea[name=comment]`, "roll it back", chromedp.ByQuery),
	)
	approved := time.Now()
	browse(t, b, "approver approves the plan once",
		chromedp.Click(`[data-testid=awaiting] [data-testid=approve]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=request-live]`, chromedp.ByQuery),
	)
	var states []string
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var now string
		browse(t, b, "the request page shows the steps' progress",
			chromedp.Evaluate(`[...document.querySelectorAll('[data-testid=request-step]')].map(e => e.dataset.state).join(',')`, &now))
		if len(states) == 0 || states[len(states)-1] != now {
			states = append(states, now)
		}
		if now == "succeeded,succeeded,succeeded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the request page shows steps %v after 3m", states)
		}
		time.Sleep(200 * time.Millisecond)
	}
	shown := time.Since(approved)
	t.Logf("steps as the page showed them: %v", states)
	var outcome string
	browse(t, b, "the plan succeeded",
		chromedp.WaitVisible(`[data-testid=state-badge][data-state=succeeded]`, chromedp.ByQuery),
		chromedp.Text(`[data-testid=outcome]`, &outcome, chromedp.ByQuery),
	)
	t.Logf("outcome: %s", outcome)
	sts := steps(t, openStoreRO(t, rw.DataDir), id)
	var last time.Time
	for _, st := range sts {
		t.Logf("step %d %s: done %v after the approval", st.Position, st.Target, st.Finished.Sub(approved).Round(time.Millisecond))
		if !strings.HasPrefix(st.Target, "service:") && st.Finished.After(last) {
			last = st.Finished
		}
	}
	t.Logf("timing (3-item release): approval → last non-rollout step done %v; → the page showed all steps succeeded %v",
		last.Sub(approved).Round(time.Millisecond), shown.Round(time.Millisecond))
	waitRollout(t, f.cs, f.ns, "api", apiImageOld)
	if got, _, _ := f.nacos.Config(f.key); got != shopYAMLOld {
		t.Errorf("Nacos holds %q, want the content before 1.4.2", got)
	}
	if got := ordersText(t, f.db); got != f.tableWas {
		t.Errorf("the orders table is not back as before the release")
	}
	browse(t, b, "approver logs out", logout())

	var releaseStates string
	browse(t, b, "operator blocks the release from its page",
		login(rw.URL, "otto"),
		chromedp.Navigate(fmt.Sprintf("%s/releases/%d", rw.URL, rel.ID)),
		chromedp.WaitVisible(`[data-testid=block-form]`, chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll('[data-testid=release-state]')].map(e => e.dataset.state).join(',')`, &releaseStates),
		chromedp.SendKeys(`#block-reason`, "breaks checkout", chromedp.ByQuery),
		chromedp.Click(`[data-testid=block-submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=release-blocked]`, chromedp.ByQuery),
	)
	if !strings.Contains(releaseStates, "rolled back") {
		t.Errorf("the release page shows states %q, want rolled back", releaseStates)
	}
	if _, err := rewindCLI(t, rw.URL, rig.ottoToken, "release", "check", "shop-backend", "1.4.2"); err == nil {
		t.Errorf("check passes for the release blocked on its page")
	}
	var list string
	browse(t, b, "the workflow lists the rollback release",
		chromedp.Navigate(fmt.Sprintf("%s/workflows/%d", rw.URL, rig.workflow)),
		chromedp.WaitVisible(`[data-testid=releases-table]`, chromedp.ByQuery),
		chromedp.Text(`[data-testid=releases-table]`, &list, chromedp.ByQuery),
	)
	if !strings.Contains(list, "rollback of 1.4.2") || !strings.Contains(list, "blocked") {
		t.Errorf("the workflow page lists:\n%s", list)
	}
}

// BenchmarkReleaseRollbackPlan measures building the rollback plan of a
// release with 20 items (10 services, 8 configs, 2 SQL changes) as the plan
// page does: every step planned by its kind's planner against the live
// cluster, the Nacos stand-in and PostgreSQL, with diffs and checks, and the
// page rendered.
//
//	go test ./cmd/rewind -run '^$' -bench BenchmarkReleaseRollbackPlan -benchtime 20x
func BenchmarkReleaseRollbackPlan(b *testing.B) {
	services := []string{"api", "worker", "cart", "search", "pricing", "inventory", "notify", "auth", "gateway", "report"}
	configs := []string{"shop.yaml", "cart.yaml", "search.yaml", "pricing.yaml", "inventory.yaml", "notify.yaml", "auth.yaml", "gateway.yaml"}
	f := newReleaseFixture(b, services, configs, 5000, 0)
	rw := startRewind(b, f.config, map[string]string{"otto": "operator", "anna": "approver"})
	rig := setUpRelease(b, f, rw.URL, rw.DataDir)
	rel := rig.pipeline(b, "1.4.2",
		"UPDATE orders SET status = 'cancelled' WHERE status = 'open' AND id <= 1500;",
		"DELETE FROM orders WHERE status = 'paid' AND id > 4000;")
	if rel.Counts.Services != 10 || rel.Counts.Configs != 8 || rel.Counts.SQL != 2 {
		b.Fatalf("release 1.4.2 holds %s, want 10 services, 8 configs, 2 SQL changes", rel.Counts.Text)
	}
	p := rig.rollbackPlan(b, rel.ID)
	if len(p.keys) != 20 {
		b.Fatalf("the plan ticks %d steps, want 20:\n%s", len(p.keys), pageText(p.doc))
	}
	get := func(b *testing.B, c *http.Client, path, token string) {
		req, _ := http.NewRequest("GET", rw.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %s", path, resp.Status)
		}
	}
	b.Run("page", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			get(b, rig.otto.c, fmt.Sprintf("/releases/%d/rollback", rel.ID), "")
		}
	})
	b.Run("api", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			get(b, http.DefaultClient, fmt.Sprintf("/api/v1/releases/%d/plan", rel.ID), rig.ottoToken)
		}
	})
	// What any API call costs, for comparison.
	b.Run("api-me", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			get(b, http.DefaultClient, "/api/v1/me", rig.ottoToken)
		}
	})
}
