package sqlite

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/rewind"
)

func seedNacos(t *testing.T, s *Store) (*rewind.NacosServer, *rewind.Target) {
	t.Helper()
	ctx := context.Background()
	env := &rewind.Environment{Name: "prod", RequiredApprovals: 1}
	if err := s.SaveEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	n := &rewind.NacosServer{Name: "nacos-prod", EnvironmentID: env.ID, Addr: "10.0.0.1:8848", Username: "nacos", Password: "s3cret-pass",
		Namespaces: []string{"", "shop"}}
	if err := s.SaveNacosServer(ctx, n); err != nil {
		t.Fatal(err)
	}
	tg := &rewind.Target{Kind: rewind.KindConfig, EnvironmentID: env.ID, OwnerID: n.ID, Namespace: "shop", Group: "DEFAULT_GROUP", Name: "app.yaml"}
	if _, err := s.EnsureTarget(ctx, tg); err != nil {
		t.Fatal(err)
	}
	return n, tg
}

func TestSaveNacosServerSealsPassword(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	n, _ := seedNacos(t, s)

	var sealed []byte
	if err := s.DB().QueryRowContext(ctx, `SELECT password_enc FROM nacos_servers WHERE id = ?`, n.ID).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if len(sealed) == 0 || bytes.Contains(sealed, []byte("s3cret-pass")) {
		t.Fatalf("password stored as %q, want it sealed", sealed)
	}
	got, err := s.NacosServer(ctx, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Password != "s3cret-pass" || got.Username != "nacos" {
		t.Errorf("opened credentials = %q/%q", got.Username, got.Password)
	}
	if want := []string{"public", "shop"}; len(got.Namespaces) != 2 || got.Namespaces[0] != want[0] || got.Namespaces[1] != want[1] {
		t.Errorf("namespaces = %q, want %q", got.Namespaces, want)
	}

	// An update without a password keeps the old one.
	got.Password, got.MaskKeys = "", []string{"Passwd", " credential "}
	if err := s.SaveNacosServer(ctx, got); err != nil {
		t.Fatal(err)
	}
	again, err := s.NacosServerByName(ctx, "nacos-prod")
	if err != nil {
		t.Fatal(err)
	}
	if again.Password != "s3cret-pass" {
		t.Errorf("password after update without one = %q, want the old one", again.Password)
	}
	if want := "passwd,credential"; joinList(again.MaskKeys) != want {
		t.Errorf("mask keys = %q, want %q", again.MaskKeys, want)
	}
}

func joinList(l []string) string {
	out := ""
	for i, s := range l {
		if i > 0 {
			out += ","
		}
		out += s
	}
	return out
}

func TestSaveNacosServerValidates(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	env := &rewind.Environment{Name: "dev"}
	if err := s.SaveEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		n    rewind.NacosServer
	}{
		{"no address", rewind.NacosServer{Name: "a", EnvironmentID: env.ID}},
		{"no port", rewind.NacosServer{Name: "a", EnvironmentID: env.ID, Addr: "nacos"}},
		{"port without room for gRPC", rewind.NacosServer{Name: "a", EnvironmentID: env.ID, Addr: "nacos:65000"}},
		{"bad name", rewind.NacosServer{Name: "A B", EnvironmentID: env.ID, Addr: "nacos:8848"}},
		{"no environment", rewind.NacosServer{Name: "a", Addr: "nacos:8848"}},
		{"password without user", rewind.NacosServer{Name: "a", EnvironmentID: env.ID, Addr: "nacos:8848", Password: "x"}},
		{"bad context path", rewind.NacosServer{Name: "a", EnvironmentID: env.ID, Addr: "nacos:8848", ContextPath: "nacos"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.n
			err := s.SaveNacosServer(ctx, &n)
			if got, want := rewind.ErrorCode(err), rewind.EINVALID; got != want {
				t.Fatalf("error code = %q (%v), want %q", got, err, want)
			}
		})
	}
	dup := &rewind.NacosServer{Name: "a", EnvironmentID: env.ID, Addr: "http://nacos:8848"}
	if err := s.SaveNacosServer(ctx, dup); err != nil {
		t.Fatal(err)
	}
	dup2 := &rewind.NacosServer{Name: "a", EnvironmentID: env.ID, Addr: "nacos:8848"}
	if got, want := rewind.ErrorCode(s.SaveNacosServer(ctx, dup2)), rewind.ECONFLICT; got != want {
		t.Errorf("duplicate name: code %q, want %q", got, want)
	}
}

func TestRecordConfigVersionIgnoresImported(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	_, tg := seedNacos(t, s)
	at := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

	record := func(hash string) (int64, bool) {
		t.Helper()
		v, added, err := s.RecordConfigVersion(ctx, &rewind.Version{TargetID: tg.ID, Content: "c" + hash, Hash: hash, Source: rewind.SourceObserved})
		if err != nil {
			t.Fatal(err)
		}
		return v.Number, added
	}
	if n, added := record("a"); n != 1 || !added {
		t.Fatalf("first snapshot = %d, %v", n, added)
	}
	imported := []*rewind.Version{
		{Revision: "12", Content: "cb", Hash: "b", CreatedAt: at.Add(time.Hour), Meta: map[string]string{rewind.MetaOp: "U"}},
		{Revision: "11", Content: "ca", Hash: "a", CreatedAt: at, Meta: map[string]string{rewind.MetaOp: "I"}},
	}
	added, err := s.ImportConfigHistory(ctx, tg.ID, imported)
	if err != nil || added != 2 {
		t.Fatalf("import = %d, %v; want 2", added, err)
	}
	if added, err := s.ImportConfigHistory(ctx, tg.ID, imported); err != nil || added != 0 {
		t.Fatalf("second import = %d, %v; want 0", added, err)
	}
	// The newest version is imported ("b"), but the newest seen live is "a":
	// the same "a" seen again is no new version.
	if n, added := record("a"); n != 1 || added {
		t.Errorf("snapshot a again = %d, %v; want 1, false", n, added)
	}
	if n, added := record("b"); n != 4 || !added {
		t.Errorf("snapshot b = %d, %v; want 4, true", n, added)
	}

	list, err := s.ConfigVersionList(ctx, tg.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range list {
		if v.Content != "" {
			t.Errorf("version %d listed with content", v.Number)
		}
		got = append(got, string(v.Source)+":"+v.Revision+":"+v.Hash)
	}
	// Imported oldest first, so that numbers follow Nacos' order.
	want := []string{"observed::a", "imported:11:a", "imported:12:b", "observed::b"}
	if joinList(got) != joinList(want) {
		t.Errorf("versions = %q, want %q", got, want)
	}
	if v, err := s.Version(ctx, list[1].ID); err != nil || v.Meta[rewind.MetaOp] != "I" || !v.CreatedAt.Equal(at) {
		t.Errorf("imported version = %+v, %v", v, err)
	}

	known, err := s.KnownConfigs(ctx, tg.OwnerID)
	if err != nil {
		t.Fatal(err)
	}
	if len(known) != 1 || known[0].Target.ID != tg.ID || known[0].Hash != "b" {
		t.Errorf("known configs = %+v", known)
	}
	live, err := s.LiveConfigVersion(ctx, tg.ID)
	if err != nil || live.Number != 4 {
		t.Errorf("live version = %+v, %v", live, err)
	}
}

func TestConfigSummariesAndDelete(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	n, tg := seedNacos(t, s)
	other := &rewind.Target{Kind: rewind.KindConfig, EnvironmentID: tg.EnvironmentID, OwnerID: n.ID, Namespace: "shop", Group: "PAY", Name: "pay.properties"}
	if _, err := s.EnsureTarget(ctx, other); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour).UTC()
	if _, _, err := s.RecordConfigVersion(ctx, &rewind.Version{TargetID: tg.ID, Content: "x", Hash: "x", Source: rewind.SourceObserved, CreatedAt: old}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ImportConfigHistory(ctx, tg.ID, []*rewind.Version{{Revision: "1", Content: "y", Hash: "y", Author: "alice", CreatedAt: old.Add(-time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		f    ConfigFilter
		want []string
	}{
		{"all", ConfigFilter{ServerID: n.ID}, []string{"app.yaml", "pay.properties"}},
		{"data id", ConfigFilter{DataID: "APP"}, []string{"app.yaml"}},
		{"group", ConfigFilter{Group: "pa"}, []string{"pay.properties"}},
		{"like escaped", ConfigFilter{DataID: "%"}, nil},
		{"other namespace", ConfigFilter{Namespace: "public"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ConfigSummaries(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, c := range got {
				names = append(names, c.Target.Name)
			}
			if joinList(names) != joinList(tt.want) {
				t.Errorf("configs = %q, want %q", names, tt.want)
			}
		})
	}
	got, _ := s.ConfigSummaries(ctx, ConfigFilter{DataID: "app"})
	// The last change is the newest by time, not the last recorded.
	if len(got) != 1 || !got[0].LastChange.Equal(old) || got[0].Count != 2 || got[0].LastAuthor != "" {
		t.Errorf("summary = %+v, want last change %v and 2 versions", got, old)
	}

	if got, want := rewind.ErrorCode(s.DeleteNacosServer(ctx, n.ID)), rewind.ECONFLICT; got != want {
		t.Errorf("delete with history: code %q, want %q", got, want)
	}
	empty := &rewind.NacosServer{Name: "empty", EnvironmentID: tg.EnvironmentID, Addr: "h:1"}
	if err := s.SaveNacosServer(ctx, empty); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteNacosServer(ctx, empty.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NacosServer(ctx, empty.ID); rewind.ErrorCode(err) != rewind.ENOTFOUND {
		t.Errorf("deleted server still found: %v", err)
	}
}
