package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/nacos"
	"github.com/rewindhq/rewind/internal/rewind"
)

// BenchmarkConfigPage500 measures the config page (current content read from
// the stand-in Nacos, 500 versions merged from Nacos history and Rewind's
// snapshots, the first 100 listed) and the compare page of its oldest
// version against the current one.
func BenchmarkConfigPage500(b *testing.B) {
	t := &testing.T{}
	s := newCfgServer(b)
	tg := s.target(b, "app.yaml", 1)
	ctx := context.Background()
	start := time.Now().Add(-1000 * time.Hour)
	var imported []*rewind.Version
	for i := 250; i >= 1; i-- { // newest first, as Nacos lists history
		var flags strings.Builder
		for f := range 60 {
			fmt.Fprintf(&flags, "  feature-%d-%d: on\n", i, f)
		}
		content := "server:\n  port: 8080\nflags:\n" + flags.String()
		imported = append(imported, &rewind.Version{Revision: strconv.Itoa(1000 + i), Content: content, Hash: nacos.ContentMD5(content),
			Author: "nacos", CreatedAt: start.Add(time.Duration(2*i) * time.Hour),
			Meta: map[string]string{rewind.MetaOp: rewind.NacosUpdate, rewind.MetaSourceIP: "10.0.0.1", rewind.MetaHistoryID: strconv.Itoa(1000 + i)}})
	}
	if _, err := s.store.ImportConfigHistory(ctx, tg.ID, imported); err != nil {
		b.Fatal(err)
	}
	for i := 1; i <= 249; i++ {
		content := fmt.Sprintf("server:\n  port: %d\n", 9000+i)
		if _, _, err := s.store.RecordConfigVersion(ctx, &rewind.Version{TargetID: tg.ID, Content: content, Hash: nacos.ContentMD5(content),
			Source: rewind.SourceObserved, CreatedAt: start.Add(time.Duration(2*i+1) * time.Hour)}); err != nil {
			b.Fatal(err)
		}
	}
	// The seeded content is current again, so that the page reads it from Nacos.
	s.nacos.Publish(appKey, appYAML+"# again\n")
	waitUntil(b, "the current content is recorded", func() bool {
		vs, err := s.m.Versions(ctx, tg)
		return err == nil && len(vs) >= 500
	})
	vs, _ := s.m.Versions(ctx, tg)
	b.Logf("versions: %d", len(vs))
	c := newClient(t, s.url)
	c.login("vera")
	oldest := vs[len(vs)-1].Number
	for _, bc := range []struct{ name, path string }{
		{"config-page", s.path(tg, "")},
		{"compare-oldest-vs-current", s.path(tg, "/compare?a="+strconv.FormatInt(oldest, 10))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if code, _ := c.get(bc.path); code != http.StatusOK {
					b.Fatalf("%s: status %d", bc.path, code)
				}
			}
		})
	}
	if t.Failed() {
		b.Fatal("setup failed")
	}
}
