package notify_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/rewindhq/rewind/db"
)

// testEngine is the store's engine in this run: TestMain runs every test
// on SQLite, then on PostgreSQL (the machine's server), as the store's own
// tests do; REWIND_TEST_STORE=sqlite or =postgres runs one of them.
var testEngine = db.SQLite

func TestMain(m *testing.M) {
	only := os.Getenv("REWIND_TEST_STORE")
	code := 0
	for _, engine := range []string{db.SQLite, db.Postgres} {
		if only != "" && only != engine {
			continue
		}
		testEngine = engine
		fmt.Printf("=== notifications on a %s store\n", engine)
		if code = m.Run(); code != 0 {
			break
		}
	}
	os.Exit(code)
}
