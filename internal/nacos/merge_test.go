package nacos_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/nacos"
)

func TestMerge(t *testing.T) {
	t0 := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	md5 := nacos.ContentMD5
	hist := func(id, content string, d time.Duration) nacos.Version {
		return nacos.Version{Content: content, MD5: md5(content), At: at(d), Op: "U", HistoryID: id,
			Sources: []string{nacos.SourceImported}}
	}
	snap := func(content string, d time.Duration, source string) nacos.Version {
		return nacos.Version{Content: content, MD5: md5(content), At: at(d), Sources: []string{source}}
	}
	type entry struct {
		content string
		at      time.Duration
		sources []string
		id      string
	}
	imported := []string{nacos.SourceImported}
	both := []string{nacos.SourceImported, nacos.SourceObserved}
	tests := []struct {
		name      string
		history   []nacos.Version
		snapshots []nacos.Version
		want      []entry
	}{
		{
			name:      "snapshot seconds after the change joins it",
			history:   []nacos.Version{hist("2", "b", 10*time.Minute), hist("1", "a", 0)},
			snapshots: []nacos.Version{snap("b", 10*time.Minute+20*time.Second, nacos.SourceObserved)},
			want:      []entry{{"b", 10 * time.Minute, both, "2"}, {"a", 0, imported, "1"}},
		},
		{
			name:      "snapshot taken slightly before Nacos' clock joins it",
			history:   []nacos.Version{hist("1", "a", time.Minute)},
			snapshots: []nacos.Version{snap("a", 30*time.Second, nacos.SourceObserved)},
			want:      []entry{{"a", time.Minute, both, "1"}},
		},
		{
			name:    "same content back again goes to the version live at the time",
			history: []nacos.Version{hist("3", "a", 20*time.Minute), hist("2", "b", 10*time.Minute), hist("1", "a", 0)},
			snapshots: []nacos.Version{
				snap("a", 5*time.Minute, nacos.SourceObserved),
				snap("a", 25*time.Minute, nacos.SourceRollback),
			},
			want: []entry{
				{"a", 20 * time.Minute, []string{nacos.SourceImported, nacos.SourceRollback}, "3"},
				{"b", 10 * time.Minute, imported, "2"},
				{"a", 0, both, "1"},
			},
		},
		{
			name:      "old content seen after a later change is a change history lacks",
			history:   []nacos.Version{hist("2", "b", 10*time.Minute), hist("1", "a", 0)},
			snapshots: []nacos.Version{snap("a", 30*time.Minute, nacos.SourceRollback)},
			want: []entry{
				{"a", 30 * time.Minute, []string{nacos.SourceRollback}, ""},
				{"b", 10 * time.Minute, imported, "2"},
				{"a", 0, imported, "1"},
			},
		},
		{
			name:      "snapshot long after, content unchanged since, is the same version",
			history:   []nacos.Version{hist("1", "a", 0)},
			snapshots: []nacos.Version{snap("a", 48*time.Hour, nacos.SourceObserved)},
			want:      []entry{{"a", 0, both, "1"}},
		},
		{
			name:      "snapshot older than the history stays separate",
			history:   []nacos.Version{hist("1", "a", 24*time.Hour)},
			snapshots: []nacos.Version{snap("a", 0, nacos.SourceObserved)},
			want:      []entry{{"a", 24 * time.Hour, imported, "1"}, {"a", 0, []string{nacos.SourceObserved}, ""}},
		},
		{
			name:    "snapshot of content Nacos history lacks stays separate",
			history: []nacos.Version{hist("1", "a", 0)},
			snapshots: []nacos.Version{
				snap("z", 5*time.Minute, nacos.SourceObserved),
			},
			want: []entry{{"z", 5 * time.Minute, []string{nacos.SourceObserved}, ""}, {"a", 0, imported, "1"}},
		},
		{
			name: "neighbouring snapshots of one content are one version",
			snapshots: []nacos.Version{
				snap("a", 0, nacos.SourceObserved),
				snap("a", 30*time.Second, nacos.SourceRollback),
				snap("b", time.Hour, nacos.SourceObserved),
			},
			want: []entry{
				{"b", time.Hour, []string{nacos.SourceObserved}, ""},
				{"a", 0, []string{nacos.SourceObserved, nacos.SourceRollback}, ""},
			},
		},
		{
			name:    "deletion snapshot joins the D version",
			history: []nacos.Version{{MD5: "", At: at(time.Hour), Op: "D", HistoryID: "2"}, hist("1", "a", 0)},
			snapshots: []nacos.Version{
				{At: at(time.Hour + time.Second), Sources: []string{nacos.SourceObserved}},
			},
			want: []entry{{"", time.Hour, both, "2"}, {"a", 0, imported, "1"}},
		},
		{name: "nothing", want: []entry{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := []entry{}
			for _, v := range nacos.Merge(tt.history, tt.snapshots) {
				got = append(got, entry{v.Content, v.At.Sub(t0), v.Sources, v.HistoryID})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Merge =\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
}

func TestMergeDoesNotChangeItsInput(t *testing.T) {
	history := []nacos.Version{{Content: "a", MD5: nacos.ContentMD5("a"), Sources: []string{nacos.SourceImported}}}
	snapshots := []nacos.Version{{Content: "a", MD5: nacos.ContentMD5("a"), Sources: []string{nacos.SourceObserved}}}
	_ = nacos.Merge(history, snapshots)
	if !reflect.DeepEqual(history[0].Sources, []string{nacos.SourceImported}) {
		t.Errorf("Merge changed its input: %v", history[0].Sources)
	}
}
