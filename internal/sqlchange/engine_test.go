package sqlchange

import (
	"context"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

func TestRedactDSN(t *testing.T) {
	tests := []struct {
		engine Engine
		dsn    string
		want   string
	}{
		{MySQL, "app:s3cr:et@tcp(db.example:3306)/shop?parseTime=true", "app:***@tcp(db.example:3306)/shop?parseTime=true"},
		{MySQL, "app:p@ss@tcp(db:3306)/shop", "app:***@tcp(db:3306)/shop"},
		{MySQL, "app@tcp(db:3306)/shop", "app@tcp(db:3306)/shop"},
		{Postgres, "postgres://app:s3cret@db:5432/shop?sslmode=disable", "postgres://app:***@db:5432/shop?sslmode=disable"},
		{Postgres, "postgresql://app:s3cret@h1:5432,h2:5432/shop?password=other&sslpassword=x", "postgresql://app:***@h1:5432,h2:5432/shop?password=***&sslpassword=***"},
		{Postgres, "postgres://app@db/shop", "postgres://app@db/shop"},
		{Postgres, "host=db user=app password=s3cret dbname=shop", "host=db user=app password=*** dbname=shop"},
		{Postgres, "host=db password='with space\\' quote' dbname=shop", "host=db password=*** dbname=shop"},
		{SQLite, "/data/app.db", "/data/app.db"},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			if got := RedactDSN(tt.engine, tt.dsn); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPing(t *testing.T) {
	ctx := context.Background()
	const password = "Sup3r-s3cret-pw"

	// A MariaDB user with a password, to fail authentication against.
	admin := rawOpen(t, MySQL, adminDSN(MySQL))
	user := randomName("rewind_u")
	if _, err := admin.ExecContext(ctx, "CREATE USER '"+user+"'@'%' IDENTIFIED BY '"+password+"'"); err != nil {
		t.Fatalf("create user: %v", err)
	}
	t.Cleanup(func() { admin.ExecContext(context.Background(), "DROP USER '"+user+"'@'%'") })
	if _, err := admin.ExecContext(ctx, "GRANT ALL ON `"+user+"\\_%`.* TO '"+user+"'@'%'"); err != nil {
		t.Fatalf("grant: %v", err)
	}
	myCfg, err := mysql.ParseDSN(adminDSN(MySQL))
	if err != nil {
		t.Fatal(err)
	}
	mysqlDSN := func(pw, db string) string {
		c := myCfg.Clone()
		c.User, c.Passwd, c.DBName = user, pw, db
		return c.FormatDSN()
	}
	pgURL, err := url.Parse(adminDSN(Postgres))
	if err != nil {
		t.Fatal(err)
	}
	pgDSN := func(host, db string) string {
		u := *pgURL
		u.User = url.UserPassword(u.User.Username(), password)
		u.Host, u.Path = host, "/"+db
		return u.String()
	}
	sqliteOK := filepath.Join(t.TempDir(), "ok.db")
	rawOpen(t, SQLite, sqliteOK).Exec("PRAGMA user_version = 1")

	tests := []struct {
		name   string
		engine Engine
		dsn    string
		want   Reason // empty: Ping succeeds
	}{
		{"mysql wrong password", MySQL, mysqlDSN(password+"x", ""), ReasonAuthFailed},
		{"mysql unknown database", MySQL, mysqlDSN(password, user+"_missing"), ReasonUnknownDatabase},
		{"mysql access denied", MySQL, mysqlDSN(password, "mysql"), ReasonAccessDenied},
		{"mysql refused", MySQL, "root:" + password + "@tcp(127.0.0.1:1)/", ReasonHostUnreachable},
		{"mysql unknown host", MySQL, "root:" + password + "@tcp(no-such-host.invalid:3306)/", ReasonHostUnreachable},
		{"mysql ok", MySQL, mysqlDSN(password, ""), ""},
		{"postgres unknown database", Postgres, pgDSN(pgURL.Host, "no_such_db"), ReasonUnknownDatabase},
		{"postgres refused", Postgres, pgDSN("127.0.0.1:1", "postgres"), ReasonHostUnreachable},
		{"postgres ok", Postgres, pgDSN(pgURL.Host, "postgres"), ""},
		{"sqlite missing file", SQLite, filepath.Join(t.TempDir(), "missing.db"), ReasonUnknownDatabase},
		{"sqlite ok", SQLite, sqliteOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := Open(tt.engine, tt.dsn)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer db.Close()
			err = db.Ping(ctx)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Ping: %v", err)
				}
				return
			}
			var ce *ConnectError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a *ConnectError", err)
			}
			if ce.Reason != tt.want {
				t.Errorf("got reason %q (%v), want %q", ce.Reason, err, tt.want)
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestOpenBadDSNHidesPassword(t *testing.T) {
	for _, tt := range []struct {
		engine Engine
		dsn    string
	}{
		{MySQL, "user:Sup3r-s3cret-pw@tcp(host:3306/db"},
		{Postgres, "postgres://user:Sup3r-s3cret-pw@host:notaport/db"},
	} {
		_, err := Open(tt.engine, tt.dsn)
		var ce *ConnectError
		if !errors.As(err, &ce) || ce.Reason != ReasonBadDSN {
			t.Errorf("%s: got %v, want a bad connection string", tt.engine, err)
			continue
		}
		if strings.Contains(err.Error(), "Sup3r-s3cret-pw") {
			t.Errorf("%s: error shows the password: %v", tt.engine, err)
		}
	}
}

func TestOpenUnknownEngine(t *testing.T) {
	if _, err := Open("oracle", "x"); !errors.Is(err, ErrUnknownEngine) {
		t.Errorf("got %v, want ErrUnknownEngine", err)
	}
}
