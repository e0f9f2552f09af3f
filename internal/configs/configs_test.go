package configs_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/configs"
	"github.com/rewindhq/rewind/internal/nacos"
	"github.com/rewindhq/rewind/internal/nacos/nacostest"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/rollback"
	"github.com/rewindhq/rewind/internal/secret"
	"github.com/rewindhq/rewind/internal/sqlite"
)

// fixture is a Rewind with a real store following one stand-in Nacos server.
type fixture struct {
	t      *testing.T
	ctx    context.Context
	store  *sqlite.Store
	nacos  *nacostest.Server
	server *rewind.NacosServer
	env    *rewind.Environment
	m      *configs.Manager
	runner *rollback.Runner
	caFile string // trusted for https; the stand-in's CA when it serves TLS
}

func newFixture(t *testing.T, opts nacostest.Options, approvals int) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	box, err := secret.NewBox(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "rewind.db"), box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	env := &rewind.Environment{Name: "prod", RequiredApprovals: approvals}
	if err := store.SaveEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	srv := nacostest.Start(t, opts)
	reg := &rewind.NacosServer{Name: "nacos-prod", EnvironmentID: env.ID, Addr: srv.Addr(), Username: srv.Username(), Password: srv.Password()}
	if opts.TLS {
		reg.Addr = srv.URL()
	}
	if err := store.SaveNacosServer(ctx, reg); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, ctx: ctx, store: store, nacos: srv, server: reg, env: env, caFile: srv.CAFile()}
}

// start starts the Manager, stopped when the test ends.
func (f *fixture) start(followEvery time.Duration) {
	f.t.Helper()
	// The SDK's log may still be written just after a client closes, so the
	// data folder is removed at best effort.
	dir, err := os.MkdirTemp("", "rewind-configs-test-")
	if err != nil {
		f.t.Fatal(err)
	}
	f.m = configs.New(f.store, configs.Options{DataDir: dir, FollowInterval: followEvery, HealthInterval: 200 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), CAFile: f.caFile})
	runCtx, stop := context.WithCancel(f.ctx)
	f.m.Start(runCtx, []*rewind.NacosServer{f.server})
	f.t.Cleanup(func() { stop(); f.m.Stop(); _ = os.RemoveAll(dir) })
}

// waitUntil polls cond; the deadline only keeps a broken test from hanging.
func (f *fixture) waitUntil(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			f.t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// target waits until Rewind records the config and returns its target.
func (f *fixture) target(key nacostest.Key) *rewind.Target {
	f.t.Helper()
	var tg *rewind.Target
	f.waitUntil("config "+key.DataID+" is recorded", func() bool {
		sums, err := f.store.ConfigSummaries(f.ctx, sqlite.ConfigFilter{ServerID: f.server.ID, DataID: key.DataID, WithDeleted: true})
		if err != nil {
			f.t.Fatal(err)
		}
		for _, s := range sums {
			if s.Target.Name == key.DataID {
				tg = s.Target
				return true
			}
		}
		return false
	})
	return tg
}

// versions waits until the config's merged versions satisfy cond and returns them.
func (f *fixture) versions(tg *rewind.Target, what string, cond func([]rewind.ConfigVersion) bool) []rewind.ConfigVersion {
	f.t.Helper()
	var vs []rewind.ConfigVersion
	f.waitUntil(what, func() bool {
		var err error
		if vs, err = f.m.Versions(f.ctx, tg); err != nil {
			f.t.Fatal(err)
		}
		return cond(vs)
	})
	return vs
}

// content returns the content of a recorded version.
func (f *fixture) content(tg *rewind.Target, number int64) string {
	f.t.Helper()
	v, err := f.store.VersionByNumber(f.ctx, tg.ID, number)
	if err != nil {
		f.t.Fatal(err)
	}
	return v.Content
}

func hasSources(v rewind.ConfigVersion, want ...rewind.Source) bool {
	for _, w := range want {
		if !slices.Contains(v.Sources, w) {
			return false
		}
	}
	return true
}

var appKey = nacostest.Key{Group: "DEFAULT_GROUP", DataID: "app.yaml"}

func TestSnapshotsMergeWithHistory(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts nacostest.Options
	}{
		{"2.x", nacostest.Options{Mode: nacostest.Mode2}},
		{"3.x", nacostest.Options{Mode: nacostest.Mode3}},
		{"1.x", nacostest.Options{Mode: nacostest.Mode1}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			f := newFixture(t, mode.opts, 1)
			f.nacos.Seed(appKey, "yaml", "db:\n  password: first\nport: 1\n")
			f.start(300 * time.Millisecond)
			tg := f.target(appKey)

			// Edits in the Nacos console are recorded; each content once.
			f.versions(tg, "the first content is known from both sides", func(vs []rewind.ConfigVersion) bool {
				return len(vs) == 1 && hasSources(vs[0], rewind.SourceImported, rewind.SourceObserved)
			})
			f.nacos.Publish(appKey, "db:\n  password: second\nport: 2\n")
			f.versions(tg, "the second content is recorded", func(vs []rewind.ConfigVersion) bool {
				return len(vs) == 2 && hasSources(vs[0], rewind.SourceImported, rewind.SourceObserved)
			})
			f.nacos.Publish(appKey, "db:\n  password: third\nport: 3\n")
			vs := f.versions(tg, "the third content is recorded", func(vs []rewind.ConfigVersion) bool {
				return len(vs) == 3 && hasSources(vs[0], rewind.SourceImported, rewind.SourceObserved)
			})

			want := []struct{ op, content string }{
				{"U", "db:\n  password: third\nport: 3\n"},
				{"U", "db:\n  password: second\nport: 2\n"},
				{"I", "db:\n  password: first\nport: 1\n"},
			}
			for i, w := range want {
				v := vs[i]
				if got := f.content(tg, v.Number); got != w.content {
					t.Errorf("version %d content = %q, want %q", i, got, w.content)
				}
				if v.Op != w.op || v.MD5 != nacos.ContentMD5(w.content) || v.Operator != nacostest.DefaultUsername || v.SourceIP == "" {
					t.Errorf("version %d = %+v, want op %s, md5 of its content, operator and source IP", i, v, w.op)
				}
				if i > 0 && !v.At.Before(vs[i-1].At.Add(time.Millisecond)) {
					t.Errorf("versions not newest first: %v then %v", vs[i-1].At, v.At)
				}
			}
			if got := f.m.Status(f.server.ID); got.Problem != "" || got.Version == "" {
				t.Errorf("status = %+v, want a version and no problem", got)
			}
		})
	}
}

func TestHistoryBeforeRewindIsImported(t *testing.T) {
	past := time.Now().Add(-48 * time.Hour)
	clock := past
	f := newFixture(t, nacostest.Options{Mode: nacostest.Mode2, Now: func() time.Time { return clock }}, 1)
	key := nacostest.Key{Group: "PAY", DataID: "pay.properties"}
	f.nacos.Seed(key, "properties", "a=1\n")
	clock = past.Add(time.Hour)
	f.nacos.Publish(key, "a=2\n")
	clock = past.Add(2 * time.Hour)
	f.nacos.Delete(key)
	clock = past.Add(3 * time.Hour)
	f.nacos.Seed(key, "properties", "a=3\n")
	clock = time.Now()

	f.start(time.Hour)
	tg := f.target(key)
	vs := f.versions(tg, "the history is imported", func(vs []rewind.ConfigVersion) bool { return len(vs) == 4 })
	var got []string
	for _, v := range vs {
		got = append(got, v.Op+":"+f.content(tg, v.Number))
	}
	// The snapshot of a=3 joins the I row that created it: that content has been
	// live since, though Nacos wrote the row hours before Rewind saw it.
	want := []string{"I:a=3\n", "D:", "U:a=2\n", "I:a=1\n"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("versions = %q, want %q", got, want)
	}
	if !vs[1].Deleted || vs[0].Deleted {
		t.Errorf("deleted flags = %v, %v; want the D row deleted", vs[0].Deleted, vs[1].Deleted)
	}
	if !hasSources(vs[0], rewind.SourceImported, rewind.SourceObserved) {
		t.Errorf("current version sources = %v, want imported and observed", vs[0].Sources)
	}
}

func TestFailingServers(t *testing.T) {
	tests := []struct {
		name    string
		failure nacostest.Failure
		want    string
	}{
		{"down", nacostest.Down, "cannot reach"},
		{"login refused", nacostest.RefuseLogin, "refused Rewind's user name and password"},
		{"garbage", nacostest.Garbage, "answered something Rewind cannot read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nacostest.Options{Mode: nacostest.Mode2}, 1)
			f.nacos.Seed(appKey, "yaml", "a: 1\n")
			f.start(time.Hour)
			tg := f.target(appKey)
			f.waitUntil("the server is healthy", func() bool { return f.m.Health(f.ctx)["nacos-prod"] == nil && f.m.Status(f.server.ID).Version != "" })

			f.nacos.Fail(tt.failure)
			f.waitUntil("the problem is reported", func() bool {
				err := f.m.Health(f.ctx)["nacos-prod"]
				return err != nil && strings.Contains(err.Error(), tt.want)
			})
			msg := f.m.Health(f.ctx)["nacos-prod"].Error()
			if strings.Contains(msg, f.nacos.Password()+"\"") || strings.Contains(msg, "accessToken") {
				t.Errorf("health message shows a credential: %q", msg)
			}
			_, err := f.m.Current(f.ctx, tg)
			if got := rewind.ErrorCode(err); got != rewind.EUNAVAILABLE {
				t.Errorf("Current error code = %q (%v), want %q", got, err, rewind.EUNAVAILABLE)
			}
			// Rewind's own record still answers.
			if vs, err := f.m.Versions(f.ctx, tg); err != nil || len(vs) == 0 {
				t.Errorf("Versions while the server fails = %v, %v", vs, err)
			}

			// An edit made while Rewind could not follow is recorded once the server is back.
			f.nacos.Publish(appKey, "a: 2 (edited during the outage)\n")
			f.nacos.Fail(nacostest.Healthy)
			f.waitUntil("the server is healthy again", func() bool { return f.m.Health(f.ctx)["nacos-prod"] == nil })
			f.versions(tg, "the edit made during the outage is recorded", func(vs []rewind.ConfigVersion) bool {
				return len(vs) > 0 && vs[0].MD5 == nacos.ContentMD5("a: 2 (edited during the outage)\n") && hasSources(vs[0], rewind.SourceObserved)
			})
		})
	}
}

func TestUnusableRegistration(t *testing.T) {
	f := newFixture(t, nacostest.Options{Mode: nacostest.Mode2}, 1)
	f.server.Password = "wrong-password"
	f.start(time.Hour)
	f.waitUntil("the refused login is reported", func() bool {
		err := f.m.Health(f.ctx)["nacos-prod"]
		return err != nil && strings.Contains(err.Error(), "refused")
	})
	if msg := f.m.Health(f.ctx)["nacos-prod"].Error(); strings.Contains(msg, "wrong-password") {
		t.Errorf("health message shows the password: %q", msg)
	}
}

func TestReadOnlyOnNacos1(t *testing.T) {
	f := newFixture(t, nacostest.Options{Mode: nacostest.Mode1}, 1)
	f.nacos.Seed(appKey, "yaml", "a: 1\n")
	f.start(300 * time.Millisecond)
	tg := f.target(appKey)
	err := f.m.Preflight(f.ctx, tg)
	if rewind.ErrorCode(err) != rewind.EINVALID || !strings.Contains(rewind.ErrorMessage(err), "Nacos 1.x") {
		t.Errorf("Preflight on 1.x = %v, want the read-only message", err)
	}
	f.waitUntil("the status says read-only", func() bool { return f.m.Status(f.server.ID).ReadOnly })
}

func TestMaskAndFormat(t *testing.T) {
	f := newFixture(t, nacostest.Options{Mode: nacostest.Mode2}, 1)
	f.server.MaskKeys = []string{"passwd"}
	f.nacos.Seed(appKey, "yaml", "db:\n  passwd: hunter2\n  password: visible\n")
	f.start(300 * time.Millisecond)
	tg := f.target(appKey)
	f.waitUntil("the type is known", func() bool { return f.m.Type(tg) == "yaml" })
	got := f.m.Mask(tg, "db:\n  passwd: hunter2\n  password: visible\n")
	if want := "db:\n  passwd: " + nacos.MaskedValue + "\n  password: visible\n"; got != want {
		t.Errorf("Mask = %q, want %q", got, want)
	}
	for path, want := range map[string]bool{"db.passwd": true, "db.passwd[0].x": true, "db.host": false, "password": false} {
		if got := f.m.SecretKey(tg, path); got != want {
			t.Errorf("SecretKey(%q) = %v, want %v", path, got, want)
		}
	}
}

// restoreFixture runs rollback requests through the real runner.
type restoreFixture struct {
	*fixture
	runner *rollback.Runner
}

func newRestoreFixture(t *testing.T, approvals int, mode ...nacostest.Mode) *restoreFixture {
	opts := nacostest.Options{Mode: nacostest.Mode2}
	if len(mode) > 0 {
		opts.Mode = mode[0]
	}
	f := newFixture(t, opts, approvals)
	f.start(time.Hour)
	f.startRunner()
	return &restoreFixture{fixture: f, runner: f.runner}
}

// startRunner runs rollback requests with the real runner until the test ends.
func (f *fixture) startRunner() {
	f.t.Helper()
	f.runner = rollback.NewRunner(f.store, map[rewind.TargetKind]rewind.Executor{rewind.KindConfig: f.m}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, stop := context.WithCancel(f.ctx)
	done := make(chan struct{})
	go func() { defer close(done); f.runner.Run(ctx) }()
	f.t.Cleanup(func() { stop(); <-done })
}

// request asks to restore version number of tg; expected is the md5 the requester saw.
func (f *restoreFixture) request(tg *rewind.Target, number int64, action, expected string) *rewind.Request {
	f.t.Helper()
	v, err := f.store.VersionByNumber(f.ctx, tg.ID, number)
	if err != nil {
		f.t.Fatal(err)
	}
	base, err := f.store.LiveConfigVersion(f.ctx, tg.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	payload, err := rewind.ConfigRestore{Action: action}.Encode()
	if err != nil {
		f.t.Fatal(err)
	}
	r := &rewind.Request{Requester: "otto", Reason: "test", RequiredApprovals: f.env.RequiredApprovals, Steps: []rewind.Step{{TargetID: tg.ID, VersionID: v.ID, BaseVersionID: base.ID, Expected: expected, Payload: payload}}}
	if err := f.store.CreateRequest(f.ctx, r, rewind.AuditEvent{Actor: "otto", Action: rewind.ActionRequest}); err != nil {
		f.t.Fatal(err)
	}
	return r
}

// approve approves r as an approver and waits for it to end; it returns the
// request and the time from the approval to its end.
func (f *restoreFixture) approve(r *rewind.Request) (*rewind.Request, time.Duration) {
	f.t.Helper()
	start := time.Now()
	if r.State == rewind.StatePending {
		if _, err := f.store.Decide(f.ctx, r.ID, rewind.User{Username: "anna", Role: rewind.RoleApprover}, true, "ok",
			rewind.AuditEvent{Actor: "anna", Action: rewind.ActionApprove}); err != nil {
			f.t.Fatal(err)
		}
	}
	f.runner.Wake()
	var got *rewind.Request
	f.waitUntil("the request ends", func() bool {
		var err error
		if got, err = f.store.Request(f.ctx, r.ID); err != nil {
			f.t.Fatal(err)
		}
		return got.State.Final()
	})
	return got, time.Since(start)
}

func TestRestorePublishesAndVerifies(t *testing.T) {
	for _, mode := range []nacostest.Mode{nacostest.Mode2, nacostest.Mode3} {
		t.Run(fmt.Sprintf("%d.x", mode), func(t *testing.T) { testRestorePublishesAndVerifies(t, mode) })
	}
}

func testRestorePublishesAndVerifies(t *testing.T, mode nacostest.Mode) {
	f := newRestoreFixture(t, 1, mode)
	f.nacos.Seed(appKey, "yaml", "replicas: 1\n")
	tg := f.target(appKey)
	f.versions(tg, "the first version", func(vs []rewind.ConfigVersion) bool { return len(vs) == 1 })
	f.nacos.Publish(appKey, "replicas: 2\n")
	vs := f.versions(tg, "the console edit", func(vs []rewind.ConfigVersion) bool { return len(vs) == 2 })

	r := f.request(tg, vs[1].Number, rewind.ConfigPublish, nacos.ContentMD5("replicas: 2\n"))
	got, took := f.approve(r)
	t.Logf("time from approval to the config published and verified: %s (%s)", took, got.Outcome)
	if got.State != rewind.StateSucceeded {
		t.Fatalf("request %s: %s", got.State, got.Outcome)
	}
	if !strings.Contains(got.Outcome, "read it back") {
		t.Errorf("outcome = %q", got.Outcome)
	}
	if content, typ, _ := f.nacos.Config(appKey); content != "replicas: 1\n" || typ != "yaml" {
		t.Errorf("stand-in holds %q (%s), want the restored content, type kept", content, typ)
	}
	result, err := f.store.Version(f.ctx, got.First().ResultVersionID)
	if err != nil {
		t.Fatalf("result version: %v", err)
	}
	if result.Source != rewind.SourceRollback || result.RequestID != r.ID || result.Content != "replicas: 1\n" || result.Author != "otto" {
		t.Errorf("result version = %+v", result)
	}
	vs = f.versions(tg, "the restore is listed", func(vs []rewind.ConfigVersion) bool {
		return len(vs) == 3 && hasSources(vs[0], rewind.SourceRollback, rewind.SourceImported)
	})
	if vs[0].RequestID != r.ID {
		t.Errorf("newest version's request = %d, want %d", vs[0].RequestID, r.ID)
	}
}

func TestRestoreConflictWritesNothing(t *testing.T) {
	f := newRestoreFixture(t, 0)
	f.nacos.Seed(appKey, "yaml", "v: 1\n")
	tg := f.target(appKey)
	f.nacos.Publish(appKey, "v: 2\n")
	vs := f.versions(tg, "two versions", func(vs []rewind.ConfigVersion) bool { return len(vs) == 2 })

	// Somebody edits the config in the console after the request was made, right
	// before Rewind's publish arrives.
	f.nacos.BeforePublish(func(nacostest.Key) {
		f.nacos.BeforePublish(nil)
		f.nacos.Publish(appKey, "v: 3 (newer edit)\n")
	})
	r := f.request(tg, vs[1].Number, rewind.ConfigPublish, nacos.ContentMD5("v: 2\n"))
	got, _ := f.approve(r)
	if got.State != rewind.StateFailed {
		t.Fatalf("request %s: %s; want failed", got.State, got.Outcome)
	}
	if !strings.Contains(got.Outcome, "Nothing was written") || !strings.Contains(got.Outcome, nacos.ContentMD5("v: 3 (newer edit)\n")) {
		t.Errorf("outcome = %q, want the conflict explained with the new md5", got.Outcome)
	}
	if content, _, _ := f.nacos.Config(appKey); content != "v: 3 (newer edit)\n" {
		t.Errorf("stand-in holds %q, want the newer edit kept", content)
	}
	live, err := f.store.LiveConfigVersion(f.ctx, tg.ID)
	if err != nil || live.Content != "v: 3 (newer edit)\n" {
		t.Errorf("newest recorded version = %+v, %v; want the newer edit, for the new diff", live, err)
	}
}

func TestRestoreOfInsertDeletesTheConfig(t *testing.T) {
	f := newRestoreFixture(t, 1)
	f.nacos.Seed(appKey, "yaml", "v: 1\n")
	tg := f.target(appKey)
	f.nacos.Publish(appKey, "v: 2\n")
	vs := f.versions(tg, "two versions, history imported", func(vs []rewind.ConfigVersion) bool {
		return len(vs) == 2 && hasSources(vs[0], rewind.SourceImported) && hasSources(vs[1], rewind.SourceImported)
	})
	if vs[1].Op != rewind.NacosInsert {
		t.Fatalf("oldest version op = %q, want I", vs[1].Op)
	}
	r := f.request(tg, vs[1].Number, rewind.ConfigDelete, nacos.ContentMD5("v: 2\n"))
	got, _ := f.approve(r)
	if got.State != rewind.StateSucceeded {
		t.Fatalf("request %s: %s", got.State, got.Outcome)
	}
	if _, _, exists := f.nacos.Config(appKey); exists {
		t.Errorf("config still exists after the deletion")
	}
	result, err := f.store.Version(f.ctx, got.First().ResultVersionID)
	if err != nil || result.Hash != "" || result.Source != rewind.SourceRollback {
		t.Errorf("result version = %+v, %v; want an empty rollback version", result, err)
	}
	if tg2, _ := f.store.Target(f.ctx, tg.ID); tg2.DeletedAt == nil {
		t.Errorf("target not marked deleted")
	}

	// The deleted config can be restored: the requester saw no config (md5 "").
	r2 := f.request(tg, vs[0].Number, rewind.ConfigPublish, "")
	got2, _ := f.approve(r2)
	if got2.State != rewind.StateSucceeded {
		t.Fatalf("restore of the deleted config %s: %s", got2.State, got2.Outcome)
	}
	if content, _, exists := f.nacos.Config(appKey); !exists || content != "v: 2\n" {
		t.Errorf("stand-in holds %q (exists %v), want the restored content", content, exists)
	}
	if tg3, _ := f.store.Target(f.ctx, tg.ID); tg3.DeletedAt != nil {
		t.Errorf("target still marked deleted")
	}
	f.versions(tg, "insert, update, delete and the new insert", func(vs []rewind.ConfigVersion) bool {
		ops := ""
		for _, v := range vs {
			ops += v.Op
		}
		return ops == "IDUI"
	})
}

func TestRestoreRefusesWhenConfigReappeared(t *testing.T) {
	f := newRestoreFixture(t, 0)
	f.nacos.Seed(appKey, "yaml", "v: 1\n")
	tg := f.target(appKey)
	f.nacos.Delete(appKey)
	f.versions(tg, "the deletion", func(vs []rewind.ConfigVersion) bool { return len(vs) == 2 && vs[0].Deleted })
	f.nacos.Seed(appKey, "yaml", "v: new\n")
	vs, _ := f.m.Versions(f.ctx, tg)
	r := f.request(tg, vs[len(vs)-1].Number, rewind.ConfigPublish, "")
	got, _ := f.approve(r)
	if got.State != rewind.StateFailed || !strings.Contains(got.Outcome, "Nothing was written") {
		t.Fatalf("request %s: %s; want failed, nothing written", got.State, got.Outcome)
	}
	if content, _, _ := f.nacos.Config(appKey); content != "v: new\n" {
		t.Errorf("stand-in holds %q, want the new config kept", content)
	}
}

func TestReconcileAfterStop(t *testing.T) {
	tests := []struct {
		name      string
		nacosHas  string // what Nacos holds when Rewind starts again
		wantState rewind.State
	}{
		{"the publish reached nacos", "v: 1\n", rewind.StateSucceeded},
		{"it did not", "v: 2\n", rewind.StateFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nacostest.Options{Mode: nacostest.Mode2}, 0)
			f.nacos.Seed(appKey, "yaml", "v: 1\n")
			f.start(time.Hour)
			tg := f.target(appKey)
			f.nacos.Publish(appKey, "v: 2\n")
			vs := f.versions(tg, "two versions", func(vs []rewind.ConfigVersion) bool { return len(vs) == 2 })
			rf := &restoreFixture{fixture: f}
			r := rf.request(tg, vs[1].Number, rewind.ConfigPublish, nacos.ContentMD5("v: 2\n"))
			// Rewind stopped right after claiming the request.
			if _, err := f.store.Move(f.ctx, r.ID, []rewind.State{rewind.StateApproved}, rewind.StateRunning, "Started.", nil); err != nil {
				t.Fatal(err)
			}
			if _, err := f.store.MoveStep(f.ctx, r.First().ID, []rewind.StepState{rewind.StepWaiting}, rewind.StepRunning, "Started.", nil); err != nil {
				t.Fatal(err)
			}
			f.nacos.Publish(appKey, tt.nacosHas)
			f.startRunner()
			var got *rewind.Request
			f.waitUntil("the request is reconciled", func() bool {
				got, _ = f.store.Request(f.ctx, r.ID)
				return got.State.Final()
			})
			if got.State != tt.wantState || !strings.Contains(got.Outcome, "Checked after Rewind stopped") {
				t.Errorf("request %s: %s; want %s", got.State, got.Outcome, tt.wantState)
			}
			if tt.wantState == rewind.StateSucceeded {
				live, err := f.store.LiveConfigVersion(f.ctx, tg.ID)
				if err != nil || live.Content != "v: 1\n" {
					t.Errorf("newest live version = %+v, %v", live, err)
				}
			}
		})
	}
}

func TestRestoreOutcomeHidesMD5OfMaskedContent(t *testing.T) {
	tests := []struct {
		name       string
		v1, v2, v3 string
		hidden     bool
	}{
		{"no secrets", "v: 1\n", "v: 2\n", "v: 3\n", false},
		{"secrets", "v: 1\npassword: one\n", "v: 2\npassword: two\n", "v: 3\npassword: three\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRestoreFixture(t, 0)
			f.nacos.Seed(appKey, "yaml", tt.v1)
			tg := f.target(appKey)
			f.nacos.Publish(appKey, tt.v2)
			vs := f.versions(tg, "two versions", func(vs []rewind.ConfigVersion) bool { return len(vs) == 2 })
			f.nacos.BeforePublish(func(nacostest.Key) {
				f.nacos.BeforePublish(nil)
				f.nacos.Publish(appKey, tt.v3)
			})
			conflict, _ := f.approve(f.request(tg, vs[1].Number, rewind.ConfigPublish, nacos.ContentMD5(tt.v2)))
			if conflict.State != rewind.StateFailed || !strings.Contains(conflict.Outcome, "Nothing was written") {
				t.Fatalf("request %s: %s; want failed, nothing written", conflict.State, conflict.Outcome)
			}
			f.versions(tg, "three versions", func(vs []rewind.ConfigVersion) bool { return len(vs) == 3 })
			ok, _ := f.approve(f.request(tg, vs[1].Number, rewind.ConfigPublish, nacos.ContentMD5(tt.v3)))
			if ok.State != rewind.StateSucceeded {
				t.Fatalf("request %s: %s; want succeeded", ok.State, ok.Outcome)
			}
			events, _, err := f.store.Audit(f.ctx, rewind.AuditFilter{})
			if err != nil {
				t.Fatal(err)
			}
			texts := []string{conflict.Outcome, ok.Outcome}
			for _, e := range events {
				texts = append(texts, e.Detail+" "+e.Outcome)
			}
			all := strings.Join(texts, "\n")
			for _, content := range []string{tt.v1, tt.v2, tt.v3} {
				if got := strings.Contains(all, nacos.ContentMD5(content)); got == tt.hidden {
					t.Errorf("outcomes and audit show the md5 of %q: %v, want %v:\n%s", content, got, !tt.hidden, all)
				}
			}
			if got := strings.Contains(conflict.Outcome, nacos.HiddenMD5) && strings.Contains(ok.Outcome, nacos.HiddenMD5); got != tt.hidden {
				t.Errorf("outcomes say the md5 is hidden: %v, want %v:\n%s", got, tt.hidden, all)
			}
		})
	}
}

// TestFollowAndRestoreOverTLS reads a server's configs and their history
// and publishes a restore over https and gRPC with TLS, trusting the CA file.
func TestFollowAndRestoreOverTLS(t *testing.T) {
	for _, mode := range []nacostest.Mode{nacostest.Mode2, nacostest.Mode3} {
		t.Run(fmt.Sprintf("%d.x", mode), func(t *testing.T) {
			f := newFixture(t, nacostest.Options{Mode: mode, TLS: true}, 0)
			if !strings.HasPrefix(f.server.Addr, "https://") {
				t.Fatalf("server registered at %s, want https", f.server.Addr)
			}
			f.nacos.Seed(appKey, "yaml", "replicas: 1\n")
			f.nacos.Publish(appKey, "replicas: 2\n")
			f.start(time.Hour)
			f.startRunner()
			rf := &restoreFixture{fixture: f, runner: f.runner}
			tg := f.target(appKey)
			vs := f.versions(tg, "both versions, from history", func(vs []rewind.ConfigVersion) bool {
				return len(vs) == 2 && hasSources(vs[1], rewind.SourceImported)
			})
			if st, err := f.m.Current(f.ctx, tg); err != nil || st.Content != "replicas: 2\n" {
				t.Fatalf("Current = %+v, %v", st, err)
			}
			got, _ := rf.approve(rf.request(tg, vs[1].Number, rewind.ConfigPublish, nacos.ContentMD5("replicas: 2\n")))
			if got.State != rewind.StateSucceeded {
				t.Fatalf("restore over TLS %s: %s", got.State, got.Outcome)
			}
			if content, _, _ := f.nacos.Config(appKey); content != "replicas: 1\n" {
				t.Errorf("stand-in holds %q, want the restored content", content)
			}
			if st := f.m.Status(f.server.ID); st.Problem != "" || st.Version == "" {
				t.Errorf("status = %+v, want the version and no problem", st)
			}
		})
	}
}

func TestUntrustedCertificateIsAClearProblem(t *testing.T) {
	f := newFixture(t, nacostest.Options{Mode: nacostest.Mode2, TLS: true}, 0)
	f.caFile = ""
	f.nacos.Seed(appKey, "yaml", "replicas: 1\n")
	f.start(time.Hour)
	f.waitUntil("the problem is known", func() bool { return f.m.Status(f.server.ID).Problem != "" })
	problem := f.m.Status(f.server.ID).Problem
	if !strings.Contains(problem, "does not trust the TLS certificate of Nacos server nacos-prod") || !strings.Contains(problem, "nacos_ca_file") {
		t.Errorf("problem = %q, want the untrusted certificate named", problem)
	}
	if err := f.m.Health(f.ctx)["nacos-prod"]; err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("health = %v, want the untrusted certificate", err)
	}
	if n := f.nacos.Count("http:POST /v1/auth/users/login") + f.nacos.Count("http:POST /v1/auth/login"); n != 0 {
		t.Errorf("%d logins reached the untrusted server", n)
	}
}
