package nacos_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/nacos"
	"github.com/rewindhq/rewind/internal/nacos/nacostest"
)

func TestVersions(t *testing.T) {
	key := nacos.ConfigKey{Group: "G", DataID: "d"}
	at := func(min int) time.Time { return time.Date(2024, 1, 2, 15, min, 0, 0, time.UTC) }
	row := func(id, op, content string, min int) nacos.HistoryRow {
		return nacos.HistoryRow{ID: id, Op: op, Content: content, At: at(min)}
	}
	type want struct {
		id, op, content string
	}
	tests := []struct {
		name    string
		rows    []nacos.HistoryRow
		current string
		exists  bool
		want    []want
	}{
		{
			name: "insert then updates, padded ops",
			rows: []nacos.HistoryRow{
				row("3", "U         ", "b", 3), // before-image of the change to "c"
				row("2", "U         ", "a", 2), // before-image of the change to "b"
				row("1", "I         ", "a", 1),
			},
			current: "c", exists: true,
			want: []want{{"3", "U", "c"}, {"2", "U", "b"}, {"1", "I", "a"}},
		},
		{
			name: "delete and insert again",
			rows: []nacos.HistoryRow{
				row("6", "U", "e", 6),
				row("5", "I", "e", 5),
				row("4", "D", "d", 4), // the deleted content
				row("3", "U", "c", 3),
				row("2", "I", "c", 2),
			},
			current: "f", exists: true,
			want: []want{{"6", "U", "f"}, {"5", "I", "e"}, {"4", "D", ""}, {"3", "U", "d"}, {"2", "I", "c"}},
		},
		{
			name:    "newest update while the config is gone is unknowable",
			rows:    []nacos.HistoryRow{row("2", "U", "a", 2), row("1", "I", "a", 1)},
			current: "", exists: false,
			want: []want{{"1", "I", "a"}},
		},
		{
			name: "update followed by an insert means rows are missing",
			rows: []nacos.HistoryRow{
				row("9", "I", "x", 9),
				row("4", "U", "a", 4),
				row("3", "I", "a", 3),
			},
			current: "x", exists: true,
			want: []want{{"9", "I", "x"}, {"3", "I", "a"}},
		},
		{
			name:    "unknown operations are skipped",
			rows:    []nacos.HistoryRow{row("2", "G", "gray", 2), row("1", "i", "a", 1)},
			current: "a", exists: true,
			want: []want{{"1", "I", "a"}},
		},
		{name: "no history", current: "a", exists: true, want: []want{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			versions := nacos.Versions(key, tt.rows, tt.current, tt.exists)
			got := []want{}
			for _, v := range versions {
				got = append(got, want{v.HistoryID, v.Op, v.Content})
				if v.MD5 != nacos.ContentMD5(v.Content) {
					t.Errorf("version %s has md5 %q, want md5 of its content", v.HistoryID, v.MD5)
				}
				if !reflect.DeepEqual(v.Sources, []string{nacos.SourceImported}) || v.Key != key {
					t.Errorf("version %s: sources %v, key %v", v.HistoryID, v.Sources, v.Key)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Versions = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	want := time.Date(2024, 1, 2, 15, 4, 5, 0, time.FixedZone("", 8*3600))
	tests := []struct {
		in   string
		want time.Time
	}{
		{"1704179045000", want},
		{"2024-01-02T15:04:05.000+08:00", want},
		{"2024-01-02T15:04:05+08:00", want},
		{"2024-01-02T07:04:05.000+0000", want},
		{"2024-01-02T07:04:05.000Z", want},
		{"2024-01-02 15:04:05", time.Date(2024, 1, 2, 15, 4, 5, 0, time.Local)},
		{"2024-01-02 15:04:05.123", time.Date(2024, 1, 2, 15, 4, 5, 123e6, time.Local)},
		{"", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := nacos.ParseTime(tt.in)
			if err != nil {
				t.Fatalf("ParseTime: %v", err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("ParseTime(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
	if _, err := nacos.ParseTime("yesterday"); err == nil {
		t.Errorf("ParseTime(yesterday) succeeded")
	}
}

// historyModes are the server flavours with the history API each makes the client use.
var historyModes = []struct {
	name string
	opts nacostest.Options
	path string // the history list endpoint the client should use
}{
	{"1.x v1", nacostest.Options{Mode: nacostest.Mode1}, "/v1/cs/history"},
	{"2.1 v1", nacostest.Options{Mode: nacostest.Mode2, Version: "2.1.2"}, "/v1/cs/history"},
	{"2.3 v2", nacostest.Options{Mode: nacostest.Mode2, Version: "2.3.2"}, "/v2/cs/history/list"},
	{"3.x v3", nacostest.Options{Mode: nacostest.Mode3}, "/v3/admin/cs/history/list"},
}

func TestHistoryContentAsItWas(t *testing.T) {
	for _, m := range historyModes {
		t.Run(m.name, func(t *testing.T) {
			ctx := testContext(t)
			srv := nacostest.Start(t, m.opts)
			key := nacostest.Key{Group: "DEFAULT_GROUP", DataID: "app.yaml"}
			srv.Seed(key, "yaml", "v: a\n") // I
			srv.Publish(key, "v: b\n")      // U
			srv.Publish(key, "v: c\n")      // U
			srv.Delete(key)                 // D
			srv.Seed(key, "yaml", "v: d\n") // I
			srv.Publish(key, "v: e\n")      // U
			c := newClient(t, srv)

			versions, err := c.History(ctx, nacos.ConfigKey{Group: "DEFAULT_GROUP", DataID: "app.yaml"})
			if err != nil {
				t.Fatalf("History: %v", err)
			}
			type v struct{ op, content string }
			var got []v
			for _, ver := range versions {
				got = append(got, v{ver.Op, ver.Content})
			}
			want := []v{{"U", "v: e\n"}, {"I", "v: d\n"}, {"D", ""}, {"U", "v: c\n"}, {"U", "v: b\n"}, {"I", "v: a\n"}}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("History = %v, want %v", got, want)
			}
			rows := srv.History(key)
			for i, ver := range versions {
				if ver.HistoryID != fmt.Sprint(rows[i].ID) || !ver.At.Equal(rows[i].At) || ver.Operator != rows[i].SrcUser {
					t.Errorf("version %d = id %s at %v by %q; want row %d at %v by %q",
						i, ver.HistoryID, ver.At, ver.Operator, rows[i].ID, rows[i].At, rows[i].SrcUser)
				}
			}
			if srv.Count("http:GET "+m.path) == 0 {
				t.Errorf("the client did not use %s", m.path)
			}
			// One entry's stored content: for a U row, the content before that update.
			before, err := c.HistoryEntry(ctx, nacos.ConfigKey{Group: "DEFAULT_GROUP", DataID: "app.yaml"}, versions[0].HistoryID)
			if err != nil || before != "v: d\n" {
				t.Errorf("HistoryEntry(newest) = %q, %v; want the before-image", before, err)
			}
		})
	}
}

func TestHistoryPaging(t *testing.T) {
	tests := []struct {
		name        string
		opts        nacostest.Options
		clientPage  int
		wantListing int // list requests for the history, the consistency check included
	}{
		{"client pages of 50", nacostest.Options{Mode: nacostest.Mode2}, 50, 3 + 1},
		{"server caps pages at 50", nacostest.Options{Mode: nacostest.Mode3, MaxPageSize: 50}, 0, 3 + 1},
		{"v1 pages of 50", nacostest.Options{Mode: nacostest.Mode1}, 50, 3 + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			srv := nacostest.Start(t, tt.opts)
			key := nacostest.Key{Group: "G", DataID: "many.properties"}
			srv.Seed(key, "properties", "n=0\n")
			for i := 1; i < 120; i++ {
				srv.Publish(key, fmt.Sprintf("n=%d\n", i))
			}
			c := newClient(t, srv)
			if tt.clientPage > 0 {
				nacos.SetPageSize(c, tt.clientPage)
			}
			versions, err := c.History(ctx, nacos.ConfigKey{Group: "G", DataID: "many.properties"})
			if err != nil {
				t.Fatalf("History: %v", err)
			}
			if len(versions) != 120 {
				t.Fatalf("History returned %d versions, want 120", len(versions))
			}
			for i, v := range versions {
				if want := fmt.Sprintf("n=%d\n", 119-i); v.Content != want {
					t.Fatalf("version %d content = %q, want %q", i, v.Content, want)
				}
			}
			lists := srv.Count("history-page")
			if lists != tt.wantListing {
				t.Errorf("%d history list requests, want %d", lists, tt.wantListing)
			}
		})
	}
}

func TestHistoryTimeFormats(t *testing.T) {
	formats := []struct {
		name   string
		format nacostest.TimeFormat
		round  time.Duration
	}{
		{"millis", nacostest.TimeMillis, time.Millisecond},
		{"iso", nacostest.TimeISO, time.Millisecond},
		{"iso without colon", nacostest.TimeISONoColon, time.Millisecond},
		{"sql", nacostest.TimeSQL, time.Second},
	}
	for _, f := range formats {
		for _, version := range []string{"2.1.0", "2.3.2"} { // v1 and v2 API
			t.Run(f.name+" "+version, func(t *testing.T) {
				zone := time.FixedZone("", 8*3600)
				clock := time.Date(2024, 1, 2, 15, 4, 5, 678e6, zone)
				srv := nacostest.Start(t, nacostest.Options{
					Mode: nacostest.Mode2, Version: version, TimeFormat: f.format,
					Now: func() time.Time { clock = clock.Add(time.Minute); return clock },
				})
				key := nacostest.Key{Group: "G", DataID: "t"}
				srv.Seed(key, "text", "a")
				srv.Publish(key, "b")
				c := newClient(t, srv)
				versions, err := c.History(testContext(t), nacos.ConfigKey{Group: "G", DataID: "t"})
				if err != nil {
					t.Fatalf("History: %v", err)
				}
				rows := srv.History(key)
				for i, v := range versions {
					if want := rows[i].At.Truncate(f.round); !v.At.Equal(want) {
						t.Errorf("version %d at %v, want %v", i, v.At, want)
					}
				}
			})
		}
	}
}

func TestHistoryLeavesOutGrayReleases(t *testing.T) {
	srv := nacostest.Start(t, nacostest.Options{Mode: nacostest.Mode3})
	key := nacostest.Key{Group: "G", DataID: "d"}
	srv.Seed(key, "text", "a")
	srv.PublishGray(key, "gray content")
	srv.Publish(key, "b")
	c := newClient(t, srv)
	versions, err := c.History(testContext(t), nacos.ConfigKey{Group: "G", DataID: "d"})
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	if len(versions) != 2 || versions[0].Content != "b" || versions[1].Content != "a" {
		t.Errorf("History = %+v, want b then a", versions)
	}
}

func TestHistoryOfMissingConfig(t *testing.T) {
	srv := nacostest.Start(t, nacostest.Options{})
	c := newClient(t, srv)
	versions, err := c.History(testContext(t), nacos.ConfigKey{Group: "G", DataID: "never"})
	if err != nil || len(versions) != 0 {
		t.Errorf("History = %v, %v; want none", versions, err)
	}
}

// BenchmarkHistory500 loads the history of a config with 500 versions: 5 list pages, 500
// entry reads and the current content. It rotates over a few such configs because the SDK
// allows only a few reads of one config per second, which would otherwise be what is measured.
func BenchmarkHistory500(b *testing.B) {
	srv := nacostest.Start(b, nacostest.Options{Mode: nacostest.Mode2})
	var keys []nacos.ConfigKey
	for c := range 4 {
		key := nacostest.Key{Group: "G", DataID: fmt.Sprintf("big-%d.yaml", c)}
		srv.Seed(key, "yaml", "n: 0\n")
		for i := 1; i < 500; i++ {
			srv.Publish(key, fmt.Sprintf("n: %d\npadding: %0200d\n", i, i))
		}
		keys = append(keys, nacos.ConfigKey{Group: key.Group, DataID: key.DataID})
	}
	c := newClient(b, srv)
	ctx := testContext(b)
	i := 0
	for b.Loop() {
		versions, err := c.History(ctx, keys[i%len(keys)])
		if err != nil || len(versions) != 500 {
			b.Fatalf("History = %d versions, %v", len(versions), err)
		}
		i++
	}
}
