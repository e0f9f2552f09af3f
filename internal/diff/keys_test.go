package diff

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestKeyChanges(t *testing.T) {
	tests := []struct {
		name     string
		format   string
		old, new string
		want     []KeyChange
	}{
		{
			name:   "yaml nested maps and lists",
			format: "yaml",
			old: `spring:
  datasource:
    url: jdbc:mysql://db/app
    pool: 10
  profiles: [a, b]
server:
  port: 8080
`,
			new: `spring:
  datasource:
    url: jdbc:mysql://db2/app
    pool: 10
  profiles: [a, b, c]
logging:
  level: debug
`,
			want: []KeyChange{
				{Key: "logging.level", Kind: KindAdded, New: "debug"},
				{Key: "server.port", Kind: KindRemoved, Old: "8080"},
				{Key: "spring.datasource.url", Kind: KindChanged, Old: "jdbc:mysql://db/app", New: "jdbc:mysql://db2/app"},
				{Key: "spring.profiles[2]", Kind: KindAdded, New: "c"},
			},
		},
		{
			name:   "yaml type change with the same text counts",
			format: "yml",
			old:    "a: 1\nb: ~\n",
			new:    "a: \"1\"\nb: null\n",
			want:   []KeyChange{{Key: "a", Kind: KindChanged, Old: "1", New: "1"}},
		},
		{
			name:   "yaml anchors, aliases and merge keys",
			format: "yaml",
			old:    "base: &b {x: 1, y: 2}\nsvc:\n  <<: *b\n  y: 3\n",
			new:    "base: &b {x: 5, y: 2}\nsvc:\n  <<: *b\n  y: 3\n",
			want: []KeyChange{
				{Key: "base.x", Kind: KindChanged, Old: "1", New: "5"},
				{Key: "svc.x", Kind: KindChanged, Old: "1", New: "5"},
			},
		},
		{
			name:   "yaml keys with dots, empty collections and many items",
			format: "yaml",
			old:    "labels:\n  app.kubernetes.io/name: web\nlist: []\nitems: [0,1,2,3,4,5,6,7,8,9,10]\n",
			new:    "labels:\n  app.kubernetes.io/name: api\nlist: {}\nitems: [0,1,2,3,4,5,6,7,8,9,10]\n",
			want: []KeyChange{
				{Key: `labels["app.kubernetes.io/name"]`, Kind: KindChanged, Old: "web", New: "api"},
				{Key: "list", Kind: KindChanged, Old: "[]", New: "{}"},
			},
		},
		{
			name:   "yaml second document",
			format: "yaml",
			old:    "a: 1\n",
			new:    "a: 1\n---\nb: 2\n",
			want:   []KeyChange{{Key: "doc[1].b", Kind: KindAdded, New: "2"}},
		},
		{
			name:   "yaml from empty",
			format: "yaml",
			old:    "",
			new:    "a: x\n",
			want:   []KeyChange{{Key: "a", Kind: KindAdded, New: "x"}},
		},
		{
			name:   "json",
			format: "json",
			old:    `{"a": {"b": 1, "c": [true, null]}, "d": "x", "e": 1.50}`,
			new:    `{"a": {"b": 2, "c": [true, null, "n"]}, "d": "x", "f": {}, "e": 1.5}`,
			want: []KeyChange{
				{Key: "a.b", Kind: KindChanged, Old: "1", New: "2"},
				{Key: "a.c[2]", Kind: KindAdded, New: "n"},
				{Key: "e", Kind: KindChanged, Old: "1.50", New: "1.5"},
				{Key: "f", Kind: KindAdded, New: "{}"},
			},
		},
		{
			name:   "json string versus number",
			format: "JSON",
			old:    `{"port": 80}`,
			new:    `{"port": "80"}`,
			want:   []KeyChange{{Key: "port", Kind: KindChanged, Old: "80", New: "80"}},
		},
		{
			name:   "json top-level scalar",
			format: "json",
			old:    `1`,
			new:    `2`,
			want:   []KeyChange{{Key: "(root)", Kind: KindChanged, Old: "1", New: "2"}},
		},
		{
			name:   "properties separators, comments and continuations",
			format: "properties",
			old: `# comment
! also a comment
server.port=8080
spring.application.name : app
greeting Hello \
         World
path=c:\\temp
unicode=caf\u00e9
`,
			new: `# comment changed
server.port = 9090
spring.application.name: app
greeting Hello \
    there
path=c:\\temp2
unicode=café
empty=
key\ with\ spaces=v
`,
			want: []KeyChange{
				{Key: "empty", Kind: KindAdded, New: ""},
				{Key: "greeting", Kind: KindChanged, Old: "Hello World", New: "Hello there"},
				{Key: "key with spaces", Kind: KindAdded, New: "v"},
				{Key: "path", Kind: KindChanged, Old: `c:\temp`, New: `c:\temp2`},
				{Key: "server.port", Kind: KindChanged, Old: "8080", New: "9090"},
			},
		},
		{
			name:   "properties CRLF, escaped separators and later key wins",
			format: "properties",
			old:    "a\\=b=1\r\nx=1\r\nx=2\r\n# not\\\r\ny=3\r\n",
			new:    "a\\=b=1\nx=2\ny=4\n",
			want:   []KeyChange{{Key: "y", Kind: KindChanged, Old: "3", New: "4"}},
		},
		{
			name:   "identical",
			format: "properties",
			old:    "a=1\n",
			new:    "a=1\n",
			want:   nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := KeyChanges(tt.format, tt.old, tt.new)
			if err != nil {
				t.Fatalf("KeyChanges: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestKeyChangesErrors(t *testing.T) {
	tests := []struct {
		name     string
		format   string
		old, new string
		wantIs   error
	}{
		{name: "invalid yaml", format: "yaml", old: "a: 1\n", new: "a: [1, 2\n"},
		{name: "yaml complex key", format: "yaml", old: "? [a, b]\n: 1\n", new: "a: 1\n"},
		{name: "invalid json", format: "json", old: `{"a": 1}`, new: `{"a": }`},
		{name: "json trailing data", format: "json", old: `{"a": 1} {"b": 2}`, new: `{}`},
		{name: "bad unicode escape in properties", format: "properties", old: "a=\\u12zz\n", new: ""},
		{name: "deep yaml", format: "yaml", old: strings.Repeat("[", 150) + strings.Repeat("]", 150), new: ""},
		{name: "unsupported format", format: "xml", old: "<a/>", new: "<b/>", wantIs: ErrUnsupportedFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := KeyChanges(tt.format, tt.old, tt.new)
			if err == nil {
				t.Fatalf("KeyChanges = %+v, want an error", got)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v, want one that is %v", err, tt.wantIs)
			}
		})
	}
}

// TestKeyChangesAliasBomb checks that aliases that multiply a small text
// into a huge one stop with an error rather than running away.
func TestKeyChangesAliasBomb(t *testing.T) {
	bomb := `a: &a ["x","x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]
`
	if _, err := KeyChanges("yaml", bomb, ""); err == nil {
		t.Fatal("KeyChanges on an alias bomb succeeded, want an error")
	}
}
