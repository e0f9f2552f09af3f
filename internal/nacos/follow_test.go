package nacos_test

import (
	"context"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/nacos"
	"github.com/rewindhq/rewind/internal/nacos/nacostest"
)

type change struct {
	key     nacos.ConfigKey
	content string
	md5     string
}

// follow runs a Follower until the test ends and returns its reports.
func follow(t *testing.T, c *nacos.Client, interval time.Duration, known map[nacos.ConfigKey]string) <-chan change {
	t.Helper()
	changes := make(chan change, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	f := &nacos.Follower{
		Client:   c,
		Interval: interval,
		Known:    known,
		OnChange: func(key nacos.ConfigKey, content, md5 string, at time.Time) {
			if at.IsZero() {
				t.Errorf("change of %v reported without a time", key)
			}
			changes <- change{key, content, md5}
		},
		OnError: func(err error) { t.Logf("follower: %v", err) },
	}
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil after cancel", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not stop after cancel")
		}
	})
	return changes
}

// next waits for the next report; the deadline only keeps a broken test from hanging.
func next(t *testing.T, changes <-chan change) change {
	t.Helper()
	select {
	case ch := <-changes:
		return ch
	case <-time.After(30 * time.Second):
		t.Fatalf("no change reported")
		return change{}
	}
}

func expect(t *testing.T, changes <-chan change, key nacos.ConfigKey, content string) {
	t.Helper()
	got := next(t, changes)
	if got.key != key || got.content != content || got.md5 != nacos.ContentMD5(content) {
		t.Errorf("reported %v %q (md5 %q), want %v %q", got.key, got.content, got.md5, key, content)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sdkSettles waits until the SDK has finished its listen rounds after a change. nacos-sdk-go
// v2.3.2 loses a push that arrives while it finishes a round (it writes back a stale copy of
// its "in sync" flag); in production the Follower's periodic check covers that, but this test
// has none, so it waits until the SDK has sent no listen request for a moment.
func sdkSettles(t *testing.T, srv *nacostest.Server) {
	t.Helper()
	last, quietSince := srv.Count("grpc:ConfigBatchListenRequest"), time.Now()
	waitUntil(t, "the SDK settles", func() bool {
		if n := srv.Count("grpc:ConfigBatchListenRequest"); n != last {
			last, quietSince = n, time.Now()
		}
		return time.Since(quietSince) > 300*time.Millisecond
	})
}

func TestFollowerSeesConsoleEditsByPush(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			srv := nacostest.Start(t, m.opts)
			key := nacostest.Key{Group: "DEFAULT_GROUP", DataID: "app.yaml"}
			srv.Seed(key, "yaml", "v: 1\n")
			c := newClient(t, srv)
			k := nacos.ConfigKey{Group: "DEFAULT_GROUP", DataID: "app.yaml"}

			changes := follow(t, c, time.Hour, nil) // no periodic check during the test
			expect(t, changes, k, "v: 1\n")
			waitUntil(t, "the client listens", func() bool { return srv.Listening(key) })
			sdkSettles(t, srv)

			srv.Publish(key, "v: 2\n")
			expect(t, changes, k, "v: 2\n")
			sdkSettles(t, srv)
			srv.Publish(key, "v: 3\n")
			expect(t, changes, k, "v: 3\n")
			sdkSettles(t, srv)
			srv.Delete(key)
			expect(t, changes, k, "")
		})
	}
}

func TestFollowerPeriodicCheck(t *testing.T) {
	tests := []struct {
		name string
		opts nacostest.Options
	}{
		{"1.x", nacostest.Options{Mode: nacostest.Mode1}},
		{"2.x without push", nacostest.Options{Mode: nacostest.Mode2}},
		{"3.x without push", nacostest.Options{Mode: nacostest.Mode3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := nacostest.Start(t, tt.opts)
			srv.SetPush(false)
			key := nacostest.Key{Group: "G", DataID: "app.properties"}
			srv.Seed(key, "properties", "a=1\n")
			c := newClient(t, srv)
			k := nacos.ConfigKey{Group: "G", DataID: "app.properties"}

			changes := follow(t, c, 100*time.Millisecond, nil)
			expect(t, changes, k, "a=1\n")
			srv.Publish(key, "a=2\n")
			expect(t, changes, k, "a=2\n")

			newKey := nacostest.Key{Group: "G", DataID: "new.properties"}
			srv.Seed(newKey, "properties", "b=1\n")
			expect(t, changes, nacos.ConfigKey{Group: "G", DataID: "new.properties"}, "b=1\n")

			srv.Delete(key)
			expect(t, changes, k, "")
		})
	}
}

func TestFollowerKnownContentIsNotReportedAgain(t *testing.T) {
	srv := nacostest.Start(t, nacostest.Options{})
	srv.SetPush(false)
	srv.Seed(nacostest.Key{Group: "G", DataID: "same"}, "text", "s")
	srv.Seed(nacostest.Key{Group: "G", DataID: "changed"}, "text", "new")
	c := newClient(t, srv)
	known := map[nacos.ConfigKey]string{
		{Group: "G", DataID: "same"}:    nacos.ContentMD5("s"),
		{Group: "G", DataID: "changed"}: nacos.ContentMD5("old"),
		{Group: "G", DataID: "gone"}:    nacos.ContentMD5("x"),
	}
	changes := follow(t, c, time.Hour, known)
	got := map[nacos.ConfigKey]string{}
	for range 2 {
		ch := next(t, changes)
		got[ch.key] = ch.content
	}
	want := map[nacos.ConfigKey]string{{Group: "G", DataID: "changed"}: "new", {Group: "G", DataID: "gone"}: ""}
	if len(got) != len(want) || got[nacos.ConfigKey{Group: "G", DataID: "changed"}] != "new" {
		t.Errorf("reported %v, want %v", got, want)
	}
	if content, ok := got[nacos.ConfigKey{Group: "G", DataID: "gone"}]; !ok || content != "" {
		t.Errorf("the deleted config was not reported as deleted: %v", got)
	}
	select {
	case ch := <-changes:
		t.Errorf("unexpected report %v", ch)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestFollowerReportsErrorsAndGoesOn(t *testing.T) {
	srv := nacostest.Start(t, nacostest.Options{})
	srv.SetPush(false)
	key := nacostest.Key{Group: "G", DataID: "d"}
	srv.Seed(key, "text", "1")
	c := newClient(t, srv)
	errs := make(chan error, 100)
	changes := make(chan change, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv.Fail(nacostest.Garbage)
	f := &nacos.Follower{
		Client: c, Interval: 50 * time.Millisecond,
		OnChange: func(k nacos.ConfigKey, content, md5 string, _ time.Time) { changes <- change{k, content, md5} },
		OnError: func(err error) {
			select {
			case errs <- err:
			default:
			}
		},
	}
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	select {
	case <-errs:
	case <-time.After(30 * time.Second):
		t.Fatal("no error reported while the server answers garbage")
	}
	srv.Fail(nacostest.Healthy)
	expect(t, changes, nacos.ConfigKey{Group: "G", DataID: "d"}, "1")
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}

func TestFollowerNamespaces(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			srv := nacostest.Start(t, m.opts)
			pub := nacostest.Key{Namespace: "public", Group: "G", DataID: "a"}
			dev := nacostest.Key{Namespace: "dev", Group: "G", DataID: "a"}
			srv.Seed(pub, "text", "public 1")
			srv.Seed(dev, "text", "dev 1")
			srv.Seed(nacostest.Key{Namespace: "unfollowed", Group: "G", DataID: "a"}, "text", "x")
			c := newClient(t, srv, func(cfg *nacos.ServerConfig) { cfg.Namespaces = []string{"public", "dev"} })
			kPub := nacos.ConfigKey{Namespace: "public", Group: "G", DataID: "a"}
			kDev := nacos.ConfigKey{Namespace: "dev", Group: "G", DataID: "a"}

			changes := follow(t, c, time.Hour, nil)
			got := map[nacos.ConfigKey]string{}
			for range 2 {
				ch := next(t, changes)
				got[ch.key] = ch.content
			}
			if got[kPub] != "public 1" || got[kDev] != "dev 1" || len(got) != 2 {
				t.Fatalf("first reports = %v", got)
			}
			waitUntil(t, "the client listens", func() bool { return srv.Listening(pub) && srv.Listening(dev) })
			sdkSettles(t, srv)
			srv.Publish(dev, "dev 2")
			expect(t, changes, kDev, "dev 2")
			sdkSettles(t, srv)
			srv.Publish(pub, "public 2")
			expect(t, changes, kPub, "public 2")
		})
	}
}
