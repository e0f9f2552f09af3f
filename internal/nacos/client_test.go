package nacos_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/nacos"
	"github.com/rewindhq/rewind/internal/nacos/nacostest"
)

// newClient returns a client for the stand-in, closed when the test ends.
func newClient(t testing.TB, srv *nacostest.Server, edit ...func(*nacos.ServerConfig)) *nacos.Client {
	t.Helper()
	cfg := nacos.ServerConfig{
		Name: "test-nacos", Addr: srv.Addr(), Namespaces: []string{""},
		Username: srv.Username(), Password: srv.Password(),
	}
	for _, e := range edit {
		e(&cfg)
	}
	c, err := nacos.New(cfg, dataDir(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// dataDir is a scratch data folder. The SDK's log file may still be written by its goroutines
// just after a client closes, so removal is best effort.
func dataDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rewind-nacos-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var modes = []struct {
	name string
	opts nacostest.Options
}{
	{"2.x", nacostest.Options{Mode: nacostest.Mode2}},
	{"3.x", nacostest.Options{Mode: nacostest.Mode3}},
}

func TestDetectVersion(t *testing.T) {
	tests := []struct {
		name      string
		opts      nacostest.Options
		wantMajor string
		wantFull  string
	}{
		{"1.x", nacostest.Options{Mode: nacostest.Mode1, Version: "1.4.3"}, "1", "1.4.3"},
		{"2.x", nacostest.Options{Mode: nacostest.Mode2, Version: "2.3.2"}, "2", "2.3.2"},
		{"2.1", nacostest.Options{Mode: nacostest.Mode2, Version: "2.1.0"}, "2", "2.1.0"},
		{"3.x", nacostest.Options{Mode: nacostest.Mode3, Version: "3.0.2"}, "3", "3.0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := nacostest.Start(t, tt.opts)
			c := newClient(t, srv)
			gotMajor, gotFull, err := c.DetectVersion(testContext(t))
			if err != nil {
				t.Fatalf("DetectVersion: %v", err)
			}
			if gotMajor != tt.wantMajor || gotFull != tt.wantFull {
				t.Errorf("DetectVersion = %q, %q; want %q, %q", gotMajor, gotFull, tt.wantMajor, tt.wantFull)
			}
			if err := c.Check(testContext(t)); err != nil {
				t.Errorf("Check: %v", err)
			}
		})
	}
}

func TestGetListPublishDelete(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := testContext(t)
			srv := nacostest.Start(t, m.opts)
			key := nacostest.Key{Group: "DEFAULT_GROUP", DataID: "app.yaml"}
			srv.Seed(key, "yaml", "db:\n  host: a\n")
			srv.Seed(nacostest.Key{Group: "OTHER", DataID: "other.properties"}, "properties", "x=1\n")
			c := newClient(t, srv)
			k := nacos.ConfigKey{Namespace: "", Group: "DEFAULT_GROUP", DataID: "app.yaml"}

			got, exists, err := c.Get(ctx, k)
			if err != nil || !exists {
				t.Fatalf("Get = %v, %v; want the config", exists, err)
			}
			if got.Content != "db:\n  host: a\n" || got.MD5 != nacos.ContentMD5("db:\n  host: a\n") {
				t.Errorf("Get = %+v", got)
			}

			list, err := c.ListConfigs(ctx, "", "")
			if err != nil {
				t.Fatalf("ListConfigs: %v", err)
			}
			if len(list) != 2 {
				t.Fatalf("ListConfigs returned %d configs, want 2: %+v", len(list), list)
			}
			if list[0].Key != k || list[0].Type != "yaml" || list[0].MD5 != got.MD5 {
				t.Errorf("ListConfigs[0] = %+v, want key %v, type yaml, md5 %s", list[0], k, got.MD5)
			}
			if m.opts.Mode == nacostest.Mode3 && list[0].Modified.IsZero() {
				t.Errorf("ListConfigs[0].Modified is zero on 3.x")
			}
			found, err := c.ListConfigs(ctx, "", "other")
			if err != nil || len(found) != 1 || found[0].Key.DataID != "other.properties" {
				t.Errorf("ListConfigs(search other) = %+v, %v", found, err)
			}

			if err := c.Publish(ctx, k, "db:\n  host: b\n", got.MD5); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			after, _, err := c.Get(ctx, k)
			if err != nil || after.MD5 != nacos.ContentMD5("db:\n  host: b\n") {
				t.Errorf("Get after publish = %+v, %v", after, err)
			}
			if _, typ, _ := srv.Config(key); typ != "yaml" {
				t.Errorf("type after publish = %q, want yaml kept", typ)
			}

			if err := c.Delete(ctx, k); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if _, exists, err := c.Get(ctx, k); err != nil || exists {
				t.Errorf("Get after delete = %v, %v; want not found", exists, err)
			}
			if _, _, ok := srv.Config(key); ok {
				t.Errorf("the server still has the deleted config")
			}
			if err := c.Delete(ctx, k); err != nil {
				t.Errorf("Delete of a missing config: %v", err)
			}
		})
	}
}

func TestPublishNewConfig(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := testContext(t)
			srv := nacostest.Start(t, m.opts)
			c := newClient(t, srv)
			k := nacos.ConfigKey{Group: "G", DataID: "new.json"}
			if err := c.Publish(ctx, k, `{"a": 1}`, ""); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			content, typ, ok := srv.Config(nacostest.Key{Group: "G", DataID: "new.json"})
			if !ok || content != `{"a": 1}` || typ != "json" {
				t.Errorf("server has %q, %q, %v; want the content with type json", content, typ, ok)
			}
		})
	}
}

func TestPublishConflict(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := testContext(t)
			srv := nacostest.Start(t, m.opts)
			key := nacostest.Key{Group: "DEFAULT_GROUP", DataID: "app.properties"}
			srv.Seed(key, "properties", "a=1\n")
			c := newClient(t, srv)
			k := nacos.ConfigKey{Group: "DEFAULT_GROUP", DataID: "app.properties"}
			seen, _, err := c.Get(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			srv.Publish(key, "a=2\n") // someone else edits in the console

			err = c.Publish(ctx, k, "a=3\n", seen.MD5)
			if !errors.Is(err, nacos.ErrConflict) {
				t.Fatalf("Publish with a stale md5 = %v, want ErrConflict", err)
			}
			if content, _, _ := srv.Config(key); content != "a=2\n" {
				t.Errorf("server content = %q, want the console edit kept", content)
			}
			if n := len(srv.History(key)); n != 2 {
				t.Errorf("history has %d rows, want 2 (nothing written)", n)
			}

			// The config changes between Rewind's check and its write: the server's
			// compare-and-swap refuses the write.
			cur, _, err := c.Get(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			srv.BeforePublish(func(nacostest.Key) {
				srv.BeforePublish(nil)
				srv.Publish(key, "a=4\n")
			})
			err = c.Publish(ctx, k, "a=5\n", cur.MD5)
			if !errors.Is(err, nacos.ErrConflict) {
				t.Fatalf("Publish losing the race = %v, want ErrConflict", err)
			}
			if content, _, _ := srv.Config(key); content != "a=4\n" {
				t.Errorf("server content = %q, want the racing edit kept", content)
			}

			srv.Delete(key)
			if err := c.Publish(ctx, k, "a=6\n", cur.MD5); !errors.Is(err, nacos.ErrConflict) {
				t.Errorf("Publish with casMd5 of a deleted config = %v, want ErrConflict", err)
			}
			if _, _, ok := srv.Config(key); ok {
				t.Errorf("the deleted config was created again")
			}
		})
	}
}

func TestPublishEmptyContent(t *testing.T) {
	srv := nacostest.Start(t, nacostest.Options{})
	c := newClient(t, srv)
	err := c.Publish(testContext(t), nacos.ConfigKey{Group: "G", DataID: "d"}, "", "")
	if !errors.Is(err, nacos.ErrEmptyContent) {
		t.Errorf("Publish(\"\") = %v, want ErrEmptyContent", err)
	}
	if n := srv.Count("grpc:ConfigPublishRequest"); n != 0 {
		t.Errorf("%d publish requests reached the server, want 0", n)
	}
}

func TestNacos1ReadOnly(t *testing.T) {
	ctx := testContext(t)
	srv := nacostest.Start(t, nacostest.Options{Mode: nacostest.Mode1})
	key := nacostest.Key{Group: "DEFAULT_GROUP", DataID: "legacy.properties"}
	srv.Seed(key, "properties", "a=1\n")
	srv.Publish(key, "a=2\n")
	c := newClient(t, srv)
	k := nacos.ConfigKey{Group: "DEFAULT_GROUP", DataID: "legacy.properties"}

	got, exists, err := c.Get(ctx, k)
	if err != nil || !exists || got.Content != "a=2\n" || got.Type != "properties" {
		t.Errorf("Get = %+v, %v, %v", got, exists, err)
	}
	if _, exists, err := c.Get(ctx, nacos.ConfigKey{Group: "DEFAULT_GROUP", DataID: "missing"}); err != nil || exists {
		t.Errorf("Get(missing) = %v, %v", exists, err)
	}
	list, err := c.ListConfigs(ctx, "", "")
	if err != nil || len(list) != 1 || list[0].Content != "a=2\n" || list[0].MD5 != got.MD5 {
		t.Errorf("ListConfigs = %+v, %v", list, err)
	}
	versions, err := c.History(ctx, k)
	if err != nil || len(versions) != 2 || versions[0].Content != "a=2\n" || versions[1].Content != "a=1\n" {
		t.Errorf("History = %+v, %v", versions, err)
	}
	if err := c.Publish(ctx, k, "a=3\n", got.MD5); !errors.Is(err, nacos.ErrReadOnly) {
		t.Errorf("Publish on 1.x = %v, want ErrReadOnly", err)
	}
	if err := c.Delete(ctx, k); !errors.Is(err, nacos.ErrReadOnly) {
		t.Errorf("Delete on 1.x = %v, want ErrReadOnly", err)
	}
}

func TestServerFailures(t *testing.T) {
	const password = "s3cret-Pa55"
	tests := []struct {
		name    string
		mode    nacostest.Mode
		failure nacostest.Failure
		badPass bool
		want    error
	}{
		{"down 2.x", nacostest.Mode2, nacostest.Down, false, nacos.ErrUnreachable},
		{"down 3.x", nacostest.Mode3, nacostest.Down, false, nacos.ErrUnreachable},
		{"down 1.x", nacostest.Mode1, nacostest.Down, false, nacos.ErrUnreachable},
		{"wrong password", nacostest.Mode2, nacostest.Healthy, true, nacos.ErrLoginRefused},
		{"login refused 3.x", nacostest.Mode3, nacostest.RefuseLogin, false, nacos.ErrLoginRefused},
		{"garbage 2.x", nacostest.Mode2, nacostest.Garbage, false, nacos.ErrUnexpectedAnswer},
		{"garbage 3.x", nacostest.Mode3, nacostest.Garbage, false, nacos.ErrUnexpectedAnswer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := nacostest.Start(t, nacostest.Options{Mode: tt.mode, Password: password})
			srv.Seed(nacostest.Key{Group: "G", DataID: "d"}, "text", "x")
			srv.Fail(tt.failure)
			c := newClient(t, srv, func(cfg *nacos.ServerConfig) {
				if tt.badPass {
					cfg.Password = "wrong-" + password
				}
			})
			ctx := testContext(t)
			k := nacos.ConfigKey{Group: "G", DataID: "d"}
			calls := map[string]func() error{
				"Check":       func() error { return c.Check(ctx) },
				"Get":         func() error { _, _, err := c.Get(ctx, k); return err },
				"ListConfigs": func() error { _, err := c.ListConfigs(ctx, "", ""); return err },
				"History":     func() error { _, err := c.History(ctx, k); return err },
				"Publish":     func() error { return c.Publish(ctx, k, "y", "") },
			}
			for name, call := range calls {
				err := call()
				if !errors.Is(err, tt.want) {
					t.Errorf("%s = %v, want %v", name, err, tt.want)
					continue
				}
				t.Logf("%s: %v", name, err)
				if msg := err.Error(); strings.Contains(msg, password) || !strings.Contains(msg, "test-nacos") {
					t.Errorf("%s error %q must name the server and hide the password", name, msg)
				}
			}
		})
	}
}

func TestServerGoesDownAndComesBack(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := testContext(t)
			srv := nacostest.Start(t, m.opts)
			srv.Seed(nacostest.Key{Group: "G", DataID: "d"}, "text", "x")
			c := newClient(t, srv)
			k := nacos.ConfigKey{Group: "G", DataID: "d"}
			if _, _, err := c.Get(ctx, k); err != nil {
				t.Fatalf("Get before: %v", err)
			}
			srv.Fail(nacostest.Down)
			if _, _, err := c.Get(ctx, k); !errors.Is(err, nacos.ErrUnreachable) {
				t.Errorf("Get while down = %v, want ErrUnreachable", err)
			}
			if err := c.Check(ctx); !errors.Is(err, nacos.ErrUnreachable) {
				t.Errorf("Check while down = %v, want ErrUnreachable", err)
			}
			// nacos-sdk-go v2.3.2 reconnects in the background with a data race of its own
			// (RpcClient.currentConnection), which the race detector reports; so the old
			// client is closed before the server comes back.
			c.Close()
			srv.Fail(nacostest.Healthy)
			c2 := newClient(t, srv)
			if got, _, err := c2.Get(ctx, k); err != nil || got.Content != "x" {
				t.Errorf("Get after recovery = %+v, %v", got, err)
			}
		})
	}
}

func TestServerConfigHidesPassword(t *testing.T) {
	cfg := nacos.ServerConfig{Name: "n", Addr: "h:8848", Username: "u", Password: "hunter2"}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if got := fmt.Sprintf(verb, cfg); strings.Contains(got, "hunter2") {
			t.Errorf("Sprintf(%s) = %q shows the password", verb, got)
		}
	}
}

func TestNewRejectsBadAddress(t *testing.T) {
	tests := []struct {
		addr    string
		wantErr bool
	}{
		{"127.0.0.1:8848", false},
		{"http://nacos.internal:8848", false},
		{"nacos.internal", true},
		{"127.0.0.1:notaport", true},
		{"127.0.0.1:65000", true}, // no room for the gRPC port
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			c, err := nacos.New(nacos.ServerConfig{Name: "n", Addr: tt.addr}, dataDir(t))
			if got := err != nil; got != tt.wantErr {
				t.Errorf("New(%q) error = %v, want error %v", tt.addr, err, tt.wantErr)
			}
			if c != nil {
				c.Close()
			}
		})
	}
}

func TestSDKFoldersInDataDir(t *testing.T) {
	srv := nacostest.Start(t, nacostest.Options{})
	srv.Seed(nacostest.Key{Group: "G", DataID: "d"}, "text", "x")
	dir := dataDir(t)
	c, err := nacos.New(nacos.ServerConfig{Name: "my nacos/1", Addr: srv.Addr(), Username: srv.Username(), Password: srv.Password()}, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.Get(testContext(t), nacos.ConfigKey{Group: "G", DataID: "d"}); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"nacos/my_nacos_1/cache/config", "nacos/log"} {
		if fi, err := os.Stat(filepath.Join(dir, sub)); err != nil || !fi.IsDir() {
			t.Errorf("%s: %v", sub, err)
		}
	}
}
