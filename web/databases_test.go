package web

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/dbchange"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/rollback"
	"github.com/rewindhq/rewind/internal/sqlite"
)

// dbServer is a Rewind with one SQLite database registered in environment
// prod (one approval needed), served with the real SQL backend and runner.
type dbServer struct {
	url    string
	store  *sqlite.Store
	target *rewind.Target
	db     *rewind.Database
	raw    *sql.DB // the registered database, for setup and checks
}

func newDBServer(t testing.TB, opt dbchange.Options) *dbServer {
	t.Helper()
	ctx := context.Background()
	store, env := newProdStore(t)
	file := filepath.Join(t.TempDir(), "shop.db")
	raw, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	raw.SetMaxOpenConns(1)
	t.Cleanup(func() { raw.Close() })
	for _, q := range []string{
		`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price TEXT, data BLOB)`,
		`INSERT INTO items VALUES (1, '<b>bold</b>', '1.50', x'00ff'), (2, 'plain', NULL, NULL), (3, 'gone', '9.99', NULL)`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	d := &rewind.Database{Name: "shop", EnvironmentID: env.ID, Engine: rewind.EngineSQLite, DSN: file}
	if err := store.SaveDatabase(ctx, d); err != nil {
		t.Fatal(err)
	}
	target, err := store.DatabaseTarget(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := dbchange.New(store, opt, log)
	t.Cleanup(func() { svc.Close() })
	runner := rollback.NewRunner(store, map[rewind.TargetKind]rewind.Executor{rewind.KindDatabase: svc}, log)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); runner.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	srv := New(store, noClusters{}, runner, log, Options{SessionKeys: [][]byte{make([]byte, 32), make([]byte, 32)}, Databases: svc,
		Planners: map[rewind.TargetKind]rewind.Planner{rewind.KindDatabase: svc}})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &dbServer{url: ts.URL, store: store, target: target, db: d, raw: raw}
}

// path is a path under the database's page.
func (s *dbServer) path(suffix string) string {
	return "/databases/" + itoa(s.target.ID) + suffix
}

// items returns the rows of table items as "id|name|price|data".
func (s *dbServer) items(t *testing.T) []string {
	t.Helper()
	rows, err := s.raw.Query(`SELECT quote(id) || '|' || quote(name) || '|' || quote(price) || '|' || quote(data) FROM items ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// waitState waits until request id reaches a final state and returns it.
func (s *dbServer) waitState(t testing.TB, id int64) *rewind.Request {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := s.store.Request(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if r.State.Final() {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("request %d still %s", id, r.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var requestURL = regexp.MustCompile(`^/requests/(\d+)$`)

// submitted returns the request ID a form post redirected to.
func submitted(t *testing.T, c *client, path string, form url.Values) int64 {
	t.Helper()
	resp, err := c.http.PostForm(c.base+path, form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := requestURL.FindStringSubmatch(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || m == nil {
		t.Fatalf("POST %s = %d, Location %q\n%s", path, resp.StatusCode, resp.Header.Get("Location"), body)
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	return id
}

func TestDatabasePagesNeedRoleAndCSRF(t *testing.T) {
	s := newDBServer(t, dbchange.Options{})
	change := url.Values{"sql": {"UPDATE items SET name = 'x' WHERE id = 2"}, "reason": {"fix"}}
	tests := []struct {
		name     string
		user     string
		method   string
		path     string
		withCSRF bool
		want     int
	}{
		{"anonymous list", "", http.MethodGet, "/databases", false, http.StatusSeeOther},
		{"viewer list", "vera", http.MethodGet, "/databases", false, http.StatusOK},
		{"viewer changes", "vera", http.MethodGet, s.path(""), false, http.StatusOK},
		{"viewer form", "vera", http.MethodGet, s.path("/changes/new"), false, http.StatusForbidden},
		{"viewer submit", "vera", http.MethodPost, s.path("/changes"), true, http.StatusForbidden},
		{"viewer preview", "vera", http.MethodPost, s.path("/preview"), true, http.StatusForbidden},
		{"operator without CSRF", "otto", http.MethodPost, s.path("/changes"), false, http.StatusForbidden},
		{"operator settings", "otto", http.MethodGet, "/settings/databases", false, http.StatusForbidden},
		{"operator adds database", "otto", http.MethodPost, "/settings/databases", true, http.StatusForbidden},
		{"admin settings", "adam", http.MethodGet, "/settings/databases", false, http.StatusOK},
		{"operator form", "otto", http.MethodGet, s.path("/changes/new"), false, http.StatusOK},
		{"operator submit", "otto", http.MethodPost, s.path("/changes"), true, http.StatusSeeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, s.url)
			if tt.user != "" {
				c.login(tt.user)
			}
			var code int
			if tt.method == http.MethodGet {
				code, _ = c.get(tt.path)
			} else {
				form := url.Values{}
				for k, v := range change {
					form[k] = v
				}
				if tt.withCSRF {
					form.Set("csrf_token", c.csrf("/audit"))
				}
				code, _ = c.post(tt.path, form)
			}
			if code != tt.want {
				t.Errorf("status = %d, want %d", code, tt.want)
			}
		})
	}
}

func TestSubmitChangeValidates(t *testing.T) {
	s := newDBServer(t, dbchange.Options{})
	c := newClient(t, s.url)
	c.login("otto")
	token := c.csrf(s.path("/changes/new"))
	tests := []struct {
		name         string
		sql, rb      string
		reason       string
		want         []string // in the page
		wantNot      string   // never in the page
		wantSyntaxAt string   // data-line/data-col of the syntax error
	}{
		{name: "empty", sql: "  -- nothing\n", reason: "r", want: []string{"no SQL statement found"}, wantSyntaxAt: `data-line="1" data-col="1"`},
		{name: "unterminated string", sql: "UPDATE items SET name = 'x' WHERE id = 1;\nUPDATE items SET name = '<script>alert(1)</script>", reason: "r",
			want: []string{"Line 2, column 25", "&lt;script&gt;alert(1)&lt;/script&gt;"}, wantNot: "<script>alert(1)</script>", wantSyntaxAt: `data-line="2" data-col="25"`},
		{name: "bad rollback SQL", sql: "DELETE FROM items WHERE id = 3", rb: "INSERT INTO items VALUES (3, 'gone", reason: "r",
			want: []string{"The rollback SQL cannot be split", `aria-describedby="rollback-sql-error"`}},
		{name: "no reason", sql: "DELETE FROM items WHERE id = 3", reason: " ", want: []string{"Give a reason"}},
		{name: "transaction control", sql: "BEGIN; DELETE FROM items WHERE id = 3; COMMIT", reason: "r", want: []string{"Statement 1: transaction control statements are not allowed"}},
		{name: "invalid UTF-8", sql: "DELETE FROM items\nWHERE name = 'ab\xff'", reason: "r", want: []string{"Line 2, column 17", "invalid UTF-8 (byte 0xff)"},
			wantSyntaxAt: `data-line="2" data-col="17"`},
		{name: "invalid UTF-8 in rollback SQL", sql: "DELETE FROM items WHERE id = 3", rb: "SELECT '\xc3'", reason: "r",
			want: []string{"The rollback SQL cannot be split", "invalid UTF-8 (byte 0xc3)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := c.post(s.path("/changes"), url.Values{"csrf_token": {token}, "sql": {tt.sql}, "rollback_sql": {tt.rb}, "reason": {tt.reason}})
			if code != http.StatusUnprocessableEntity {
				t.Fatalf("status = %d, want 422", code)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			if tt.wantNot != "" && strings.Contains(body, tt.wantNot) {
				t.Errorf("page holds %q unescaped", tt.wantNot)
			}
			if tt.wantSyntaxAt != "" && !strings.Contains(body, tt.wantSyntaxAt) {
				t.Errorf("page lacks syntax error at %s", tt.wantSyntaxAt)
			}
		})
	}
	reqs, _, _ := s.store.DatabaseRequests(context.Background(), s.target.ID, 0, 10)
	if len(reqs) != 0 {
		t.Errorf("%d requests stored from invalid forms", len(reqs))
	}
}

// TestChangeAndRollbackFlow submits a change, has it approved and run, then
// rolls it back with the generated SQL, and checks pages, rows and audit.
func TestChangeAndRollbackFlow(t *testing.T) {
	s := newDBServer(t, dbchange.Options{})
	ctx := context.Background()
	before := s.items(t)
	otto, anna, vera := newClient(t, s.url), newClient(t, s.url), newClient(t, s.url)
	otto.login("otto")
	anna.login("anna")
	vera.login("vera")

	code, body := otto.post(s.path("/preview"), url.Values{"csrf_token": {otto.csrf("/audit")},
		"sql": {"UPDATE items SET name = 'new' WHERE id <= 2; DELETE FROM items WHERE id = 3"}})
	if code != http.StatusOK || !strings.Contains(body, "nothing was changed") || strings.Count(body, `data-testid="statement-result"`) != 2 {
		t.Fatalf("preview = %d\n%s", code, body)
	}
	if got := s.items(t); !sameLines(got, before) {
		t.Fatalf("the preview changed rows: %v", got)
	}

	id := submitted(t, otto, s.path("/changes"), url.Values{"csrf_token": {otto.csrf("/audit")}, "reason": {"rename <items>"},
		"sql": {"UPDATE items SET name = 'new' WHERE id <= 2;\r\nDELETE FROM items WHERE id = 3;\r\nINSERT INTO items (id, name) VALUES (4, 'four')"}})
	r, _ := s.store.Request(ctx, id)
	if r.State != rewind.StatePending {
		t.Fatalf("request is %s, want pending", r.State)
	}
	_, body = anna.get("/approvals")
	if !strings.Contains(body, `data-testid="awaiting-sql"`) || !strings.Contains(body, "DELETE FROM items WHERE id = 3") {
		t.Error("the inbox does not show the SQL")
	}
	_, body = vera.get("/requests/" + itoa(id))
	for _, want := range []string{"SQL change #" + itoa(id), `data-testid="split-statements"`, "rename &lt;items&gt;"} {
		if !strings.Contains(body, want) {
			t.Errorf("pending request page lacks %q", want)
		}
	}
	if code, _ := otto.post("/requests/"+itoa(id)+"/approve", url.Values{"csrf_token": {otto.csrf("/audit")}}); code != http.StatusForbidden {
		t.Errorf("operator approving = %d", code)
	}
	if code, _ := anna.post("/requests/"+itoa(id)+"/approve", url.Values{"csrf_token": {anna.csrf("/audit")}, "comment": {"ok"}}); code != http.StatusSeeOther {
		t.Fatalf("approve = %d", code)
	}
	r = s.waitState(t, id)
	if r.State != rewind.StateSucceeded {
		t.Fatalf("change %s: %s", r.State, r.Outcome)
	}
	changed := s.items(t)
	if want := []string{"1|'new'|'1.50'|X'00FF'", "2|'new'|NULL|NULL", "4|'four'|NULL|NULL"}; !sameLines(changed, want) {
		t.Fatalf("after the change: %v, want %v", changed, want)
	}

	_, body = vera.get("/requests/" + itoa(id))
	for _, want := range []string{`data-testid="execution"`, `data-testid="statement-result"`, `data-testid="saved-table"`,
		"&lt;b&gt;bold&lt;/b&gt;", "x&#39;00ff&#39;", `data-testid="generated-rollback"`, "INSERT INTO"} {
		if !strings.Contains(body, want) {
			t.Errorf("executed change page lacks %q", want)
		}
	}
	if strings.Contains(body, "<b>bold</b>") {
		t.Error("a saved value is not escaped")
	}
	if strings.Contains(body, `data-testid="rollback-change"`) {
		t.Error("a viewer is offered the rollback")
	}
	_, body = otto.get("/requests/" + itoa(id))
	if !strings.Contains(body, `data-testid="rollback-change"`) {
		t.Fatal("the operator is not offered the rollback")
	}

	_, form := otto.get(s.path("/rollback?version=1"))
	if !strings.Contains(form, "Rollback SQL generated by Rewind") || strings.Contains(form, `data-testid="blocked"`) {
		t.Fatalf("rollback form:\n%s", form)
	}
	orig, _ := s.store.Request(ctx, id)
	ex, _ := s.store.SQLExecutionByStep(ctx, orig.First().ID)
	// The browser sends the textarea with CRLF line ends.
	rid := submitted(t, otto, s.path("/rollback"), url.Values{"csrf_token": {otto.csrf("/audit")}, "version": {"1"}, "reason": {"undo"},
		"sql": {strings.ReplaceAll(ex.RollbackSQL, "\n", "\r\n")}})
	rr, _ := s.store.Request(ctx, rid)
	if p, _ := rewind.ParseSQLRequest(rr.First().Payload); !p.Generated || p.OfVersion != ex.VersionID {
		t.Errorf("rollback payload = %+v", p)
	}
	if code, _ := anna.post("/requests/"+itoa(rid)+"/approve", url.Values{"csrf_token": {anna.csrf("/audit")}}); code != http.StatusSeeOther {
		t.Fatalf("approve rollback = %d", code)
	}
	if rr = s.waitState(t, rid); rr.State != rewind.StateSucceeded {
		t.Fatalf("rollback %s: %s", rr.State, rr.Outcome)
	}
	if got := s.items(t); !sameLines(got, before) {
		t.Errorf("after the rollback: %v, want %v", got, before)
	}
	_, body = vera.get("/requests/" + itoa(rid))
	for _, want := range []string{"SQL rollback #" + itoa(rid), `data-testid="verify" data-ok="true"`, `data-testid="rolls-back"`, "generated by Rewind"} {
		if !strings.Contains(body, want) {
			t.Errorf("rollback page lacks %q", want)
		}
	}
	_, body = vera.get("/requests/" + itoa(id))
	if !strings.Contains(body, `data-testid="rolled-back-by"`) || !strings.Contains(body, "request #"+itoa(rid)) {
		t.Error("the change does not show its rollback")
	}
	_, body = vera.get(s.path(""))
	if strings.Count(body, `data-testid="change-row"`) != 2 || !strings.Contains(body, "rolled back by #"+itoa(rid)) {
		t.Errorf("changes page:\n%s", body)
	}
	if code, _ := otto.get(s.path("/rollback?version=1")); code != http.StatusOK {
		t.Errorf("rollback form of a rolled back change = %d", code)
	}
	code, _ = otto.post(s.path("/rollback"), url.Values{"csrf_token": {otto.csrf("/audit")}, "version": {"1"}, "reason": {"again"}, "sql": {ex.RollbackSQL}})
	if code != http.StatusConflict {
		t.Errorf("rolling back twice = %d, want 409", code)
	}

	_, csv := vera.get("/audit.csv")
	for _, want := range []string{"rollback.request", "rollback.approve", "rollback.execute", "rollback.result", "SQL change: 3 statements (UPDATE items, DELETE items, INSERT items)"} {
		if !strings.Contains(csv, want) {
			t.Errorf("audit lacks %q", want)
		}
	}
	if strings.Contains(csv, "'four'") {
		t.Error("audit holds the values of the SQL")
	}
	_, sqlText := vera.get("/requests/" + itoa(id) + "/rollback.sql")
	if sqlText != ex.RollbackSQL {
		t.Errorf("rollback.sql download differs from the generated SQL")
	}
}

// TestPreviewShowsNoCountsBeforeApproval: a preview runs nothing, so on
// SQLite (which gives no estimates) it shows no row figure at all, says so,
// and the table is as it was.
func TestPreviewShowsNoCountsBeforeApproval(t *testing.T) {
	s := newDBServer(t, dbchange.Options{MaxSavedRows: 1})
	c := newClient(t, s.url)
	c.login("otto")
	before := s.items(t)
	req, _ := http.NewRequest(http.MethodPost, s.url+s.path("/preview"), strings.NewReader(url.Values{"sql": {"DELETE FROM items WHERE id < 3"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-CSRF-Token", c.csrf("/audit"))
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`data-status="previewed"`, "no estimate: SQLite has no planner estimates", `data-testid="preview-transaction"`, "the rows it changes will be saved"} {
		if resp.StatusCode != http.StatusOK || strings.Contains(string(body), "<html") || !strings.Contains(string(body), want) {
			t.Errorf("preview = %d, lacks %q:\n%s", resp.StatusCode, want, body)
		}
	}
	if strings.Contains(string(body), `data-testid="rows-affected"`) {
		t.Errorf("a preview shows rows affected")
	}
	if got := s.items(t); !reflect.DeepEqual(got, before) {
		t.Errorf("preview changed items: %v", got)
	}
}

// TestSubmitWithFailingPreview: the operator sees the failing preview
// before the request is stored, may submit anyway, and then the request
// page, the approvals inbox and the audit trail say so.
func TestSubmitWithFailingPreview(t *testing.T) {
	s := newDBServer(t, dbchange.Options{})
	c := newClient(t, s.url)
	c.login("otto")
	token := c.csrf(s.path("/changes/new"))
	form := url.Values{"csrf_token": {token}, "sql": {"DELETE FROM items WHERE id = 3; UPDATE nosuch SET a = 1"}, "reason": {"cleanup"}}
	code, body := c.post(s.path("/changes"), form)
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "no such table: nosuch") || !strings.Contains(body, `data-testid="submit-anyway"`) {
		t.Fatalf("failing preview on submit = %d:\n%s", code, body)
	}
	if reqs, _, _ := s.store.DatabaseRequests(context.Background(), s.target.ID, 0, 10); len(reqs) != 0 {
		t.Fatalf("stored a request with a failing preview without the requester's consent")
	}
	form.Set("submit_with_failing_preview", "1")
	id := submitted(t, c, s.path("/changes"), form)
	r, err := s.store.Request(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := rewind.ParseSQLRequest(r.First().Payload)
	if !p.PreviewFailed || len(p.PreviewErrors) != 1 || !strings.HasPrefix(p.PreviewErrors[0], "Statement 2: ") {
		t.Errorf("stored request = %+v", p)
	}
	anna := newClient(t, s.url)
	anna.login("anna")
	for _, path := range []string{"/requests/" + itoa(id), "/approvals"} {
		_, page := anna.get(path)
		if !strings.Contains(page, "failing preview") || !strings.Contains(page, "no such table: nosuch") {
			t.Errorf("%s does not show the failing preview to the approver", path)
		}
	}
	evs, _, err := s.store.Audit(context.Background(), rewind.AuditFilter{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	marked := false
	for _, ev := range evs {
		marked = marked || strings.Contains(ev.Detail, "(submitted with a failing preview)")
	}
	if !marked {
		t.Errorf("the audit trail does not mark the request")
	}
}

func TestDatabaseSettingsHidePassword(t *testing.T) {
	s := newDBServer(t, dbchange.Options{})
	c := newClient(t, s.url)
	c.login("adam")
	token := c.csrf("/settings/databases")
	env, _ := s.store.EnvironmentByName(context.Background(), "prod")
	const password = "Hunter2-Secret"
	dsn := "postgres://postgres:" + password + "@127.0.0.1:5432/postgres?sslmode=disable"

	code, body := c.post("/settings/databases", url.Values{"csrf_token": {token}, "name": {"Bad Name"}, "environment_id": {itoa(env.ID)},
		"engine": {"postgres"}, "dsn": {dsn}})
	if code != http.StatusUnprocessableEntity || strings.Contains(body, password) || !strings.Contains(body, `value="Bad Name"`) {
		t.Errorf("invalid name: status %d, password shown %v", code, strings.Contains(body, password))
	}
	code, body = c.post("/settings/databases", url.Values{"csrf_token": {token}, "name": {"mysqlbad"}, "environment_id": {itoa(env.ID)},
		"engine": {"mysql"}, "dsn": {"root:" + password + "@tcp(127.0.0.1:3306"}})
	if code != http.StatusUnprocessableEntity || strings.Contains(body, password) || !strings.Contains(body, "Bad connection string") {
		t.Errorf("bad DSN: status %d, password shown %v", code, strings.Contains(body, password))
	}
	code, _ = c.post("/settings/databases", url.Values{"csrf_token": {token}, "name": {"pg"}, "environment_id": {itoa(env.ID)},
		"engine": {"postgres"}, "dsn": {dsn}})
	if code != http.StatusSeeOther {
		t.Fatalf("add database = %d", code)
	}
	_, body = c.get("/settings/databases")
	if strings.Contains(body, password) || !strings.Contains(body, "postgres://postgres:***@127.0.0.1:5432/postgres") {
		t.Errorf("settings page shows the password or no redacted DSN")
	}
	for _, path := range []string{"/databases", "/audit", "/audit.csv"} {
		if _, body := c.get(path); strings.Contains(body, password) {
			t.Errorf("%s shows the password", path)
		}
	}
	_, csv := c.get("/audit.csv")
	if !strings.Contains(csv, "Database pg (PostgreSQL) added in prod.") {
		t.Errorf("audit lacks the settings change:\n%s", csv)
	}

	tests := []struct {
		name, engine, dsn, want string
	}{
		{"works", "sqlite", s.db.DSN, `data-ok="true"`},
		{"wrong password", "mysql", "root:" + password + "@tcp(127.0.0.1:3306)/", "authentication failed"},
		{"no such file", "sqlite", "/nonexistent/shop.db", "unknown database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := c.post("/settings/databases/test", url.Values{"csrf_token": {token}, "engine": {tt.engine}, "dsn": {tt.dsn}})
			if code != http.StatusOK || !strings.Contains(body, tt.want) || strings.Contains(body, password) {
				t.Errorf("test connection = %d, want %q, password shown %v:\n%s", code, tt.want, strings.Contains(body, password), body)
			}
		})
	}
	var sealed []byte
	if err := s.store.DB().QueryRow(`SELECT dsn_enc FROM databases WHERE name = 'pg'`).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), password) {
		t.Error("the connection string is stored in plain text")
	}
}

func sameLines(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}

// TestLargeRollbackRunsAsGenerated rolls back a change whose generated
// rollback is too long to edit in the page: the form offers it as
// generated, and the preview and the request use the stored SQL.
func TestLargeRollbackRunsAsGenerated(t *testing.T) {
	s := newDBServer(t, dbchange.Options{})
	ctx := context.Background()
	if _, err := s.raw.Exec(`INSERT INTO items (id, name) WITH RECURSIVE c(x) AS (SELECT 10 UNION ALL SELECT x + 1 FROM c WHERE x < 3009)
		SELECT x, printf('%.400c', 'n') FROM c`); err != nil {
		t.Fatal(err)
	}
	before := s.items(t)
	p := rewind.SQLRequest{Kind: rewind.SQLKindChange, SQL: "DELETE FROM items WHERE id >= 10"}
	payload, _ := p.Encode()
	r := &rewind.Request{Requester: "otto", Reason: "purge", Steps: []rewind.Step{{TargetID: s.target.ID, Payload: payload}}}
	if err := s.store.CreateRequest(ctx, r, rewind.AuditEvent{Actor: "otto", Action: rewind.ActionRequest}); err != nil {
		t.Fatal(err)
	}
	if got := s.waitState(t, r.ID); got.State != rewind.StateSucceeded {
		t.Fatalf("change %s: %s", got.State, got.Outcome)
	}
	ex, _ := s.store.SQLExecutionByStep(ctx, r.First().ID)
	if len(ex.RollbackSQL) <= maxEditableSQLBytes {
		t.Fatalf("generated rollback has %d bytes; the test needs more than %d", len(ex.RollbackSQL), maxEditableSQLBytes)
	}
	otto, vera := newClient(t, s.url), newClient(t, s.url)
	otto.login("otto")
	vera.login("vera")
	_, body := vera.get("/requests/" + itoa(r.ID))
	if !strings.Contains(body, `data-testid="generated-cut"`) || !strings.Contains(body, `data-testid="saved-cut"`) || len(body) > 400<<10 {
		t.Errorf("change page of %d bytes does not cut the long parts", len(body))
	}
	_, form := otto.get(s.path("/rollback?version=1"))
	if !strings.Contains(form, `data-testid="use-generated"`) || strings.Contains(form, `id="sql"`) {
		t.Fatal("the form does not offer the long rollback as generated")
	}
	token := otto.csrf("/audit")
	code, preview := otto.post(s.path("/preview"), url.Values{"csrf_token": {token}, "version": {"1"}, "use_generated": {"1"}})
	if code != http.StatusOK || !strings.Contains(preview, "nothing was changed") || strings.Contains(preview, `data-testid="preview-error"`) {
		t.Errorf("preview of the generated rollback = %d", code)
	}
	rid := submitted(t, otto, s.path("/rollback"), url.Values{"csrf_token": {token}, "version": {"1"}, "use_generated": {"1"}, "reason": {"undo"}})
	rr, _ := s.store.Request(ctx, rid)
	if p, _ := rewind.ParseSQLRequest(rr.First().Payload); !p.Generated || p.SQL != ex.RollbackSQL {
		t.Errorf("rollback request: generated %v, SQL of %d bytes", p.Generated, len(p.SQL))
	}
	anna := newClient(t, s.url)
	anna.login("anna")
	anna.post("/requests/"+itoa(rid)+"/approve", url.Values{"csrf_token": {anna.csrf("/audit")}})
	if rr = s.waitState(t, rid); rr.State != rewind.StateSucceeded {
		t.Fatalf("rollback %s: %s", rr.State, rr.Outcome)
	}
	if got := s.items(t); !sameLines(got, before) {
		t.Errorf("rows not restored: %d rows, want %d", len(got), len(before))
	}
}

func TestProgressReloadsWhenStateChanges(t *testing.T) {
	s := newDBServer(t, dbchange.Options{})
	ctx := context.Background()
	p := rewind.SQLRequest{Kind: rewind.SQLKindChange, SQL: "UPDATE items SET name = 'x' WHERE id = 2"}
	payload, _ := p.Encode()
	r := &rewind.Request{Requester: "otto", Reason: "r", RequiredApprovals: 1, Steps: []rewind.Step{{TargetID: s.target.ID, Payload: payload}}}
	if err := s.store.CreateRequest(ctx, r, rewind.AuditEvent{Actor: "otto", Action: rewind.ActionRequest}); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, s.url)
	c.login("vera")
	tests := []struct {
		seen string
		want string
	}{{"pending", ""}, {"approved", "true"}, {"", ""}}
	for _, tt := range tests {
		t.Run(tt.seen, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, s.url+"/requests/"+itoa(r.ID)+"/progress?seen="+tt.seen, nil)
			req.Header.Set("HX-Request", "true")
			resp, err := c.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("HX-Refresh"); got != tt.want {
				t.Errorf("HX-Refresh = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDatabaseSettingsReplaceAndRemove(t *testing.T) {
	s := newDBServer(t, dbchange.Options{})
	ctx := context.Background()
	c := newClient(t, s.url)
	c.login("adam")
	token := c.csrf("/settings/databases")
	moved := filepath.Join(t.TempDir(), "moved.db")
	if code, _ := c.post("/settings/databases/"+itoa(s.db.ID), url.Values{"csrf_token": {token}, "dsn": {moved}}); code != http.StatusSeeOther {
		t.Fatalf("replace DSN = %d", code)
	}
	if d, _ := s.store.Database(ctx, s.db.ID); d.DSN != moved {
		t.Errorf("DSN = %q, want %q", d.DSN, moved)
	}
	code, body := c.post("/settings/databases/"+itoa(s.db.ID)+"/test", url.Values{"csrf_token": {token}})
	if code != http.StatusOK || !strings.Contains(body, `data-connected="false"`) || !strings.Contains(body, "unknown database") {
		t.Errorf("test of a missing file = %d:\n%s", code, body)
	}
	if code, _ := c.post("/settings/databases/"+itoa(s.db.ID)+"/delete", url.Values{"csrf_token": {token}}); code != http.StatusSeeOther {
		t.Fatalf("remove = %d", code)
	}
	if _, err := s.store.Database(ctx, s.db.ID); rewind.ErrorCode(err) != rewind.ENOTFOUND {
		t.Errorf("database still there: %v", err)
	}
	_, csv := c.get("/audit.csv")
	for _, want := range []string{"Connection string of database shop replaced.", "Database shop removed."} {
		if !strings.Contains(csv, want) {
			t.Errorf("audit lacks %q", want)
		}
	}
	if code, body := c.get("/databases"); code != http.StatusOK || !strings.Contains(body, "No database yet") {
		t.Errorf("databases page without databases = %d", code)
	}
}
