package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/dbchange"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/sqlite"
)

var planHash = regexp.MustCompile(`name="plan" value="([0-9a-f]+)"`)

// A SQL change submitted with a release becomes its item; the release is
// rolled back as a plan under one approval, which restores the rows and
// records the release rolled back.
func TestReleaseRollbackPlan(t *testing.T) {
	s := newDBServer(t, dbchange.Options{})
	ctx := context.Background()
	before := s.items(t)
	otto, anna, vera := newClient(t, s.url), newClient(t, s.url), newClient(t, s.url)
	otto.login("otto")
	anna.login("anna")
	vera.login("vera")

	w := &rewind.Workflow{Name: "shop-backend", EnvironmentID: s.target.EnvironmentID, TargetIDs: []int64{s.target.ID}, CreatedBy: "adam"}
	if err := s.store.SaveWorkflow(ctx, w, rewind.AuditEvent{Actor: "adam", Action: "workflow.change"}); err != nil {
		t.Fatal(err)
	}
	rel := &rewind.Release{WorkflowID: w.ID, Name: "1.4.2 修复支付回调", StartedBy: "token:ci"}
	if err := s.store.StartRelease(ctx, rel, rewind.AuditEvent{Actor: "token:ci", Action: "release.start"}); err != nil {
		t.Fatal(err)
	}

	// The change form offers the open release; a release that is not open
	// is refused.
	_, form := otto.get(s.path("/changes/new"))
	if !strings.Contains(form, `data-testid="change-release"`) || !strings.Contains(form, "shop-backend/1.4.2 修复支付回调") {
		t.Fatalf("the change form does not offer the open release:\n%s", form)
	}
	sqlText := "UPDATE items SET name = 'new' WHERE id <= 2;\r\nDELETE FROM items WHERE id = 3"
	if code, body := otto.post(s.path("/changes"), url.Values{"csrf_token": {otto.csrf("/audit")}, "reason": {"price fix"}, "sql": {sqlText},
		"release_id": {itoa(rel.ID + 100)}}); code != http.StatusUnprocessableEntity || !strings.Contains(body, "not an open release") {
		t.Errorf("a change with an unknown release = %d", code)
	}
	id := submitted(t, otto, s.path("/changes"), url.Values{"csrf_token": {otto.csrf("/audit")}, "reason": {"price fix"}, "sql": {sqlText},
		"release_id": {itoa(rel.ID)}})
	if code, _ := anna.post("/requests/"+itoa(id)+"/approve", url.Values{"csrf_token": {anna.csrf("/audit")}}); code != http.StatusSeeOther {
		t.Fatalf("approve the change = %d", code)
	}
	if r := s.waitState(t, id); r.State != rewind.StateSucceeded {
		t.Fatalf("change %s: %s", r.State, r.Outcome)
	}
	changed := s.items(t)
	if _, err := s.store.FinishRelease(ctx, rel.ID, rewind.ReleaseSucceeded, "", nil, rewind.AuditEvent{Actor: "token:ci", Action: "release.finish"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.store.Release(ctx, rel.ID)
	if err != nil || len(got.Items) != 1 || got.Items[0].How != rewind.ItemAttached {
		t.Fatalf("release items = %+v, %v; want the attached change", got.Items, err)
	}

	// The plan: one SQL step undoing the change; viewers may not see it.
	planPath := "/releases/" + itoa(rel.ID) + "/rollback"
	if code, _ := vera.get(planPath); code != http.StatusForbidden {
		t.Errorf("viewer opening the plan = %d", code)
	}
	code, page := otto.get(planPath)
	if code != http.StatusOK || strings.Count(page, `data-testid="plan-step"`) != 1 || !strings.Contains(page, `data-testid="plan-sql"`) {
		t.Fatalf("plan page = %d\n%s", code, page)
	}
	m := planHash.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("the plan page holds no plan fingerprint")
	}
	key := "sql" + itoa(got.Items[0].VersionID)
	post := func(hash, reason string) (int, string) {
		return otto.post(planPath, url.Values{"csrf_token": {otto.csrf("/audit")}, "plan": {hash}, "step": {key}, "order-" + key: {"1"}, "reason": {reason}})
	}
	if code, body := post(strings.Repeat("0", 64), "回滚 1.4.2"); code != http.StatusConflict || !strings.Contains(body, "changed since the plan was shown") {
		t.Errorf("a stale plan = %d", code)
	}
	if code, _ := post(m[1], " "); code != http.StatusUnprocessableEntity {
		t.Errorf("no reason = %d", code)
	}
	if got := s.items(t); !sameLines(got, changed) {
		t.Fatalf("refused plans changed rows: %v", got)
	}
	code, _ = post(m[1], "回滚 1.4.2：支付回调超时")
	if code != http.StatusSeeOther {
		t.Fatalf("submit the plan = %d", code)
	}
	reqs, err := s.store.Requests(ctx, sqlite.RequestFilter{ReleaseID: rel.ID})
	if err != nil || len(reqs) != 2 {
		t.Fatalf("requests of the release = %d, %v; want the change and its rollback", len(reqs), err)
	}
	plan := reqs[0]
	if plan.Kind != rewind.RequestRollback || plan.State != rewind.StatePending || len(plan.Steps) != 1 || plan.RequiredApprovals != 1 {
		t.Fatalf("plan request = %+v", plan)
	}
	_, body := anna.get("/requests/" + itoa(plan.ID))
	if !strings.Contains(body, `data-testid="request-release"`) || !strings.Contains(body, `data-testid="request-step"`) {
		t.Errorf("the plan's page does not show its release and steps:\n%s", body)
	}
	if code, _ := anna.post("/requests/"+itoa(plan.ID)+"/approve", url.Values{"csrf_token": {anna.csrf("/audit")}}); code != http.StatusSeeOther {
		t.Fatalf("approve the plan = %d", code)
	}
	if r := s.waitState(t, plan.ID); r.State != rewind.StateSucceeded {
		t.Fatalf("plan %s: %s", r.State, r.Outcome)
	}
	if got := s.items(t); !sameLines(got, before) {
		t.Errorf("after the release's rollback: %v, want %v", got, before)
	}
	got, _ = s.store.Release(ctx, rel.ID)
	if got.RolledBackBy != plan.ID {
		t.Errorf("release rolled back by %d, want %d", got.RolledBackBy, plan.ID)
	}
	all, _ := s.store.Releases(ctx, w.ID)
	if len(all) != 2 || all[0].Release.RollbackOf != rel.ID || all[0].Release.Name != "rollback of 1.4.2 修复支付回调" {
		t.Errorf("releases after the rollback = %+v", all)
	}
	// Planned again, the release needs nothing: the change is rolled back.
	_, page = otto.get(planPath)
	if !strings.Contains(page, `data-testid="plan-already"`) {
		t.Error("a rolled back change is offered again")
	}
}

// An approval binds to the plan it saw: when the requester changes the plan,
// the approval no longer counts and the plan needs approving again.
func TestChangedPlanNeedsApprovingAgain(t *testing.T) {
	s := newDBServer(t, dbchange.Options{})
	ctx := context.Background()
	env, err := s.store.Environment(ctx, s.target.EnvironmentID)
	if err != nil {
		t.Fatal(err)
	}
	otto, anna, adam := newClient(t, s.url), newClient(t, s.url), newClient(t, s.url)
	otto.login("otto")
	anna.login("anna")
	adam.login("adam")
	w := &rewind.Workflow{Name: "shop-backend", EnvironmentID: env.ID, TargetIDs: []int64{s.target.ID}, CreatedBy: "adam"}
	if err := s.store.SaveWorkflow(ctx, w, rewind.AuditEvent{Actor: "adam", Action: "workflow.change"}); err != nil {
		t.Fatal(err)
	}
	rel := &rewind.Release{WorkflowID: w.ID, Name: "2.0.0", StartedBy: "token:ci"}
	if err := s.store.StartRelease(ctx, rel, rewind.AuditEvent{Actor: "token:ci", Action: "release.start"}); err != nil {
		t.Fatal(err)
	}
	id := submitted(t, otto, s.path("/changes"), url.Values{"csrf_token": {otto.csrf("/audit")}, "reason": {"rename"},
		"sql": {"UPDATE items SET name = 'renamed' WHERE id = 1"}, "release_id": {itoa(rel.ID)}})
	anna.post("/requests/"+itoa(id)+"/approve", url.Values{"csrf_token": {anna.csrf("/audit")}})
	s.waitState(t, id)
	if _, err := s.store.FinishRelease(ctx, rel.ID, rewind.ReleaseSucceeded, "", nil, rewind.AuditEvent{Actor: "token:ci", Action: "release.finish"}); err != nil {
		t.Fatal(err)
	}
	env.RequiredApprovals = 2
	if err := s.store.SaveEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}

	planPath := "/releases/" + itoa(rel.ID) + "/rollback"
	_, page := otto.get(planPath)
	m := planHash.FindStringSubmatch(page)
	rs, _ := s.store.Release(ctx, rel.ID)
	key := "sql" + itoa(rs.Items[0].VersionID)
	if code, _ := otto.post(planPath, url.Values{"csrf_token": {otto.csrf("/audit")}, "plan": {m[1]}, "step": {key}, "reason": {"undo 2.0.0"}}); code != http.StatusSeeOther {
		t.Fatalf("submit = %d", code)
	}
	reqs, _ := s.store.Requests(ctx, sqlite.RequestFilter{ReleaseID: rel.ID, States: []rewind.State{rewind.StatePending}})
	if len(reqs) != 1 {
		t.Fatalf("%d pending plans, want 1", len(reqs))
	}
	plan := reqs[0]
	if code, _ := anna.post("/requests/"+itoa(plan.ID)+"/approve", url.Values{"csrf_token": {anna.csrf("/audit")}}); code != http.StatusSeeOther {
		t.Fatalf("first approval = %d", code)
	}

	// The requester types the rollback SQL instead: the plan changes.
	_, page = otto.get("/requests/" + itoa(plan.ID) + "/plan")
	m = planHash.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no plan to change:\n%s", page)
	}
	code, _ := otto.post("/requests/"+itoa(plan.ID)+"/plan", url.Values{"csrf_token": {otto.csrf("/audit")}, "plan": {m[1]}, "step": {key},
		"sql-" + key: {"UPDATE items SET name = 'typed by otto' WHERE id = 1"}, "reason": {"undo 2.0.0"}})
	if code != http.StatusSeeOther {
		t.Fatalf("change the plan = %d", code)
	}
	got, _ := s.store.Request(ctx, plan.ID)
	if got.State != rewind.StatePending || got.PlanHash == plan.PlanHash || len(got.Approvals) != 1 {
		t.Fatalf("after the change: %s, %d approvals recorded, hash changed %v", got.State, len(got.Approvals), got.PlanHash != plan.PlanHash)
	}
	_, body := adam.get("/requests/" + itoa(plan.ID))
	if !strings.Contains(body, `data-testid="approval-stale"`) || !strings.Contains(body, "0 of 2 needed") {
		t.Error("the request page does not show the earlier approval as given on an earlier plan")
	}
	// The same approver decides again on the new plan; with a second one it runs.
	for _, c := range []*client{anna, adam} {
		if code, _ := c.post("/requests/"+itoa(plan.ID)+"/approve", url.Values{"csrf_token": {c.csrf("/audit")}}); code != http.StatusSeeOther {
			t.Fatalf("approval of the new plan = %d", code)
		}
	}
	if r := s.waitState(t, plan.ID); r.State != rewind.StateSucceeded {
		t.Fatalf("plan %s: %s", r.State, r.Outcome)
	}
	if rows := s.items(t); rows[0] != "1|'typed by otto'|'1.50'|X'00FF'" {
		t.Errorf("row 1 = %s, want the typed rollback's result", rows[0])
	}
}

// A plan stopped at a failed step offers the undoing of its done steps as a
// new plan, approved again; it brings the database back to where the first
// plan found it.
func TestUndoDoneSteps(t *testing.T) {
	s := newDBServer(t, dbchange.Options{})
	ctx := context.Background()
	otto, anna := newClient(t, s.url), newClient(t, s.url)
	otto.login("otto")
	anna.login("anna")
	w := &rewind.Workflow{Name: "shop-backend", EnvironmentID: s.target.EnvironmentID, TargetIDs: []int64{s.target.ID}, CreatedBy: "adam"}
	if err := s.store.SaveWorkflow(ctx, w, rewind.AuditEvent{Actor: "adam", Action: "workflow.change"}); err != nil {
		t.Fatal(err)
	}
	rel := &rewind.Release{WorkflowID: w.ID, Name: "3.1.0", StartedBy: "token:ci"}
	if err := s.store.StartRelease(ctx, rel, rewind.AuditEvent{Actor: "token:ci", Action: "release.start"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.raw.Exec(`CREATE TABLE tags (id INTEGER PRIMARY KEY, label TEXT); INSERT INTO tags VALUES (1, '热销'), (2, 'new')`); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"UPDATE tags SET label = '促销' WHERE id = 1", "UPDATE items SET price = '2.00' WHERE id = 1"} {
		id := submitted(t, otto, s.path("/changes"), url.Values{"csrf_token": {otto.csrf("/audit")}, "reason": {"release 3.1.0"}, "sql": {q},
			"release_id": {itoa(rel.ID)}})
		anna.post("/requests/"+itoa(id)+"/approve", url.Values{"csrf_token": {anna.csrf("/audit")}})
		if r := s.waitState(t, id); r.State != rewind.StateSucceeded {
			t.Fatalf("change %s: %s", r.State, r.Outcome)
		}
	}
	if _, err := s.store.FinishRelease(ctx, rel.ID, rewind.ReleaseSucceeded, "", nil, rewind.AuditEvent{Actor: "token:ci", Action: "release.finish"}); err != nil {
		t.Fatal(err)
	}
	released := s.items(t)

	planPath := "/releases/" + itoa(rel.ID) + "/rollback"
	_, page := otto.get(planPath)
	m := planHash.FindStringSubmatch(page)
	rs, _ := s.store.Release(ctx, rel.ID)
	form := url.Values{"csrf_token": {otto.csrf("/audit")}, "plan": {m[1]}, "reason": {"3.1.0 breaks checkout"}}
	for i := len(rs.Items) - 1; i >= 0; i-- { // the plan's order: newest change first
		form.Add("step", "sql"+itoa(rs.Items[i].VersionID))
	}
	if code, _ := otto.post(planPath, form); code != http.StatusSeeOther {
		t.Fatalf("submit = %d", code)
	}
	reqs, _ := s.store.Requests(ctx, sqlite.RequestFilter{ReleaseID: rel.ID, States: []rewind.State{rewind.StatePending}})
	if len(reqs) != 1 || len(reqs[0].Steps) != 2 {
		t.Fatalf("pending plans = %+v", reqs)
	}
	plan := reqs[0]
	// Someone renames the column the second step writes: it will fail.
	if _, err := s.raw.Exec(`ALTER TABLE tags RENAME COLUMN label TO title`); err != nil {
		t.Fatal(err)
	}
	anna.post("/requests/"+itoa(plan.ID)+"/approve", url.Values{"csrf_token": {anna.csrf("/audit")}})
	failed := s.waitState(t, plan.ID)
	if failed.State != rewind.StateFailed || failed.Steps[0].State != rewind.StepSucceeded || failed.Steps[1].State != rewind.StepFailed {
		t.Fatalf("plan %s, steps %s %s: %s", failed.State, failed.Steps[0].State, failed.Steps[1].State, failed.Outcome)
	}
	if !strings.HasPrefix(failed.Outcome, "1 of 2 steps done; step 2 failed:") {
		t.Errorf("outcome = %q", failed.Outcome)
	}
	_, body := otto.get("/requests/" + itoa(plan.ID))
	if !strings.Contains(body, `data-testid="undo-done"`) || !strings.Contains(body, `data-testid="retry-step"`) {
		t.Error("the failed plan's page offers no retry or undoing")
	}
	vera := newClient(t, s.url)
	vera.login("vera")
	if code, _ := vera.get("/requests/" + itoa(plan.ID) + "/undo"); code != http.StatusForbidden {
		t.Errorf("a viewer opening the undo plan = %d", code)
	}
	_, page = otto.get("/requests/" + itoa(plan.ID) + "/undo")
	m = planHash.FindStringSubmatch(page)
	if m == nil || strings.Count(page, `data-testid="plan-step"`) != 1 {
		t.Fatalf("undo plan page:\n%s", page)
	}
	key := "sql" + itoa(failed.Steps[0].ResultVersionID)
	if code, _ := otto.post("/requests/"+itoa(plan.ID)+"/undo", url.Values{"csrf_token": {otto.csrf("/audit")}, "plan": {m[1]}, "step": {key},
		"reason": {"keep 3.1.0 until the column is back"}}); code != http.StatusSeeOther {
		t.Fatalf("submit the undoing = %d", code)
	}
	undo, _ := s.store.Requests(ctx, sqlite.RequestFilter{States: []rewind.State{rewind.StatePending}})
	if len(undo) != 1 {
		t.Fatalf("pending requests = %d, want the undoing plan waiting for approval", len(undo))
	}
	anna.post("/requests/"+itoa(undo[0].ID)+"/approve", url.Values{"csrf_token": {anna.csrf("/audit")}})
	if r := s.waitState(t, undo[0].ID); r.State != rewind.StateSucceeded {
		t.Fatalf("undoing %s: %s", r.State, r.Outcome)
	}
	var price string
	if err := s.raw.QueryRow(`SELECT price FROM items WHERE id = 1`).Scan(&price); err != nil || price != "2.00" {
		t.Errorf("price after the undoing = %q (%v), want the released 2.00 (released rows %v)", price, err, released)
	}
}
