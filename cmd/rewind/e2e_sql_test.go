package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	_ "github.com/jackc/pgx/v5/stdlib" // the pgx database/sql driver
)

// postgresAdminDSN is the PostgreSQL server the SQL browser test makes its
// database on.
func postgresAdminDSN() string {
	if v := os.Getenv("REWIND_TEST_POSTGRES_DSN"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// newPostgresDatabase creates a database dropped when the test ends and
// returns its DSN and a connection to it.
func newPostgresDatabase(t testing.TB) (string, *sql.DB) {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	name := "rewind_e2e_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", postgresAdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create PostgreSQL database (is PostgreSQL running?): %v", err)
	}
	t.Cleanup(func() { admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	dsn := strings.Replace(postgresAdminDSN(), "/postgres?", "/"+name+"?", 1)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return dsn, db
}

// tableText returns every row of accounts as text, in key order.
func tableText(t *testing.T, db *sql.DB) string {
	t.Helper()
	rows, err := db.Query(`SELECT a::text FROM accounts a ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return strings.Join(out, "\n")
}

// TestBrowserSQLChangeAndRollback drives a SQL change and its rollback in
// Chromium: an operator previews and submits a change, an approver approves
// it and sees it executed, the operator rolls it back with the generated
// SQL, the approver approves, and the rows are back as they were.
func TestBrowserSQLChangeAndRollback(t *testing.T) {
	dsn, target := newPostgresDatabase(t)
	for _, q := range []string{
		`CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric(10,2), note text)`,
		`INSERT INTO accounts VALUES (1, 'ann', 10.00, '<i>vip</i>'), (2, 'bob', 20.50, NULL), (3, 'cy', 0.00, 'closed')`,
	} {
		if _, err := target.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	before := tableText(t, target)

	config := fmt.Sprintf(`environments:
  - name: prod
    required_approvals: 1
databases:
  - name: ledger
    environment: prod
    engine: postgres
    dsn: %s
`, dsn)
	rw := startRewind(t, config, map[string]string{"otto": "operator", "anna": "approver"})
	b := newBrowser(t)

	change := "UPDATE accounts SET balance = balance + 5 WHERE id <= 2;\nDELETE FROM accounts WHERE owner = 'cy';"
	var previewRows string
	browse(t, b, "operator opens the database and previews a change",
		login(rw.URL, "otto"),
		chromedp.Navigate(rw.URL+"/databases"),
		chromedp.WaitVisible(`[data-testid=database-row][data-name=ledger] [data-testid=connection][data-connected=true]`, chromedp.ByQuery),
		chromedp.Click(`[data-testid=database-row][data-name=ledger] a`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=new-change]`, chromedp.ByQuery),
		chromedp.Click(`[data-testid=new-change]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=change-form]`, chromedp.ByQuery),
		chromedp.SetValue(`#sql`, change, chromedp.ByQuery),
		chromedp.SendKeys(`#reason`, "fee correction", chromedp.ByQuery),
		chromedp.Click(`[data-testid=preview-button]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=preview-result] [data-testid=statement-results]`, chromedp.ByQuery),
		chromedp.Text(`[data-testid=preview-result] [data-testid=statement-results] tbody`, &previewRows, chromedp.ByQuery),
	)
	if !strings.Contains(previewRows, "previewed") || strings.Count(previewRows, "previewed") != 2 {
		t.Errorf("preview:\n%s", previewRows)
	}
	if got := tableText(t, target); got != before {
		t.Fatalf("the preview changed the table:\n%s", got)
	}
	var changeURL string
	browse(t, b, "operator submits the change",
		chromedp.Click(`[data-testid=change-submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=state-badge][data-state=pending]`, chromedp.ByQuery),
		chromedp.Location(&changeURL),
	)
	browse(t, b, "operator logs out", logout())

	browse(t, b, "approver approves the change from the inbox",
		login(rw.URL, "anna"),
		chromedp.Navigate(rw.URL+"/approvals"),
		chromedp.WaitVisible(`[data-testid=awaiting] [data-testid=awaiting-sql]`, chromedp.ByQuery),
		chromedp.Click(`[data-testid=awaiting] [data-testid=approve]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=request-live]`, chromedp.ByQuery),
	)
	var results, saved string
	browse(t, b, "the change page shows it executed, with statements and saved rows",
		chromedp.WaitVisible(`[data-testid=state-badge][data-state=succeeded]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=execution]`, chromedp.ByQuery),
		chromedp.Text(`[data-testid=sql-change] [data-testid=statement-results] tbody`, &results, chromedp.ByQuery),
		chromedp.Text(`[data-testid=saved-table][data-kind=DELETE]`, &saved, chromedp.ByQuery),
	)
	if strings.Count(results, "succeeded") != 2 {
		t.Errorf("statement results:\n%s", results)
	}
	if !strings.Contains(saved, "cy") || !strings.Contains(saved, "closed") {
		t.Errorf("saved rows of the DELETE:\n%s", saved)
	}
	var savedUpdate string
	browse(t, b, "saved rows of the UPDATE, escaped", chromedp.Text(`[data-testid=saved-table][data-kind=UPDATE]`, &savedUpdate, chromedp.ByQuery))
	if !strings.Contains(savedUpdate, "<i>vip</i>") || !strings.Contains(savedUpdate, "20.50") {
		t.Errorf("saved rows of the UPDATE:\n%s", savedUpdate)
	}
	if got, want := tableText(t, target), "(1,ann,15.00,<i>vip</i>)\n(2,bob,25.50,)"; got != want {
		t.Fatalf("after the change:\n%s\nwant:\n%s", got, want)
	}
	browse(t, b, "approver logs out", logout())

	var generated string
	browse(t, b, "operator rolls the change back with the generated SQL",
		login(rw.URL, "otto"),
		chromedp.Navigate(changeURL),
		chromedp.WaitVisible(`[data-testid=rollback-change]`, chromedp.ByQuery),
		chromedp.Click(`[data-testid=rollback-change]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=change-form]`, chromedp.ByQuery),
		chromedp.Value(`#sql`, &generated, chromedp.ByQuery),
		chromedp.SendKeys(`#reason`, "customer complained", chromedp.ByQuery),
		chromedp.Click(`[data-testid=preview-button]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=preview-result] [data-testid=statement-results]`, chromedp.ByQuery),
		chromedp.Click(`[data-testid=change-submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=state-badge][data-state=pending]`, chromedp.ByQuery),
	)
	if !strings.Contains(generated, "Rollback SQL generated by Rewind") || !strings.Contains(generated, "INSERT INTO") {
		t.Errorf("the rollback form is not filled with the generated SQL:\n%s", generated)
	}
	browse(t, b, "operator logs out again", logout())

	var verify string
	browse(t, b, "approver approves the rollback and sees the rows restored",
		login(rw.URL, "anna"),
		chromedp.Navigate(rw.URL+"/approvals"),
		chromedp.WaitVisible(`[data-testid=awaiting] [data-testid=approve]`, chromedp.ByQuery),
		chromedp.Click(`[data-testid=awaiting] [data-testid=approve]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=state-badge][data-state=succeeded]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=verify][data-ok=true]`, chromedp.ByQuery),
		chromedp.Text(`[data-testid=verify]`, &verify, chromedp.ByQuery),
	)
	if !strings.Contains(verify, "rows restored") {
		t.Errorf("verify: %q", verify)
	}
	if got := tableText(t, target); got != before {
		t.Errorf("after the rollback:\n%s\nwant:\n%s", got, before)
	}
	var rolledBack string
	browse(t, b, "the original change shows it was rolled back",
		chromedp.Navigate(changeURL),
		chromedp.WaitVisible(`[data-testid=rolled-back-by]`, chromedp.ByQuery),
		chromedp.Text(`[data-testid=rolled-back-by]`, &rolledBack, chromedp.ByQuery),
	)
	if !strings.Contains(rolledBack, "otto") {
		t.Errorf("rolled back: %q", rolledBack)
	}
	var changes string
	browse(t, b, "the changes page lists both, newest first",
		chromedp.Navigate(rw.URL+"/databases"),
		chromedp.Click(`[data-testid=database-row][data-name=ledger] a`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=changes-table]`, chromedp.ByQuery),
		chromedp.Text(`[data-testid=changes-table] tbody`, &changes, chromedp.ByQuery),
	)
	if !strings.Contains(changes, "rolled back by") || strings.Index(changes, "rollback") > strings.Index(changes, "change") {
		t.Errorf("changes page:\n%s", changes)
	}
}
