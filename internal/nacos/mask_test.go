package nacos_test

import (
	"testing"

	"github.com/rewindhq/rewind/internal/nacos"
)

func TestMask(t *testing.T) {
	const m = nacos.MaskedValue
	tests := []struct {
		name    string
		format  string
		content string
		words   []string
		want    string
	}{
		{
			name:   "yaml values, quoted, commented, nested keys kept",
			format: "yaml",
			content: "spring:\n  datasource:\n    url: jdbc:mysql://db/app\n    password: \"p@ss # x\" # prod\n" +
				"    username: app\napi-key: abc\n",
			want: "spring:\n  datasource:\n    url: jdbc:mysql://db/app\n    password: " + m + " # prod\n" +
				"    username: app\napi-key: " + m + "\n",
		},
		{
			name:    "yaml block scalar and nested secrets",
			format:  "yaml",
			content: "tls:\n  privateKey: |\n    -----BEGIN-----\n    abc\n  cert: ok\nsecrets:\n  a: 1\n  list:\n    - x\n    - y\nafter: 2\n",
			want:    "tls:\n  privateKey: |\n    " + m + "\n    " + m + "\n  cert: ok\nsecrets:\n  a: " + m + "\n  list:\n    - " + m + "\n    - " + m + "\nafter: 2\n",
		},
		{
			name:    "yaml list of maps",
			format:  "yml",
			content: "users:\n  - name: a\n    token: t1\n  - name: b\n    token: t2\n",
			want:    "users:\n  - name: a\n    token: " + m + "\n  - name: b\n    token: " + m + "\n",
		},
		{
			name:    "properties with separators, comments and continuation",
			format:  "properties",
			content: "# password=commented\ndb.password=secret1\ndb.user = app\napp.secret : s2\nlong.token=abc\\\n    def\nempty.password=\nother=x\r\n",
			want:    "# password=commented\ndb.password=" + m + "\ndb.user = app\napp.secret : " + m + "\nlong.token=" + m + "\\\n    " + m + "\nempty.password=\nother=x\r\n",
		},
		{
			name:    "json keeps layout, masks scalars and subtrees",
			format:  "json",
			content: "{\n  \"user\": \"app\",\n  \"password\": \"p\",\n  \"apiKey\": 123,\n  \"secrets\": {\"a\": \"x\", \"b\": [1, true, null]},\n  \"n\": {\"token\": \"t\"}\n}",
			want:    "{\n  \"user\": \"app\",\n  \"password\": \"" + m + "\",\n  \"apiKey\": \"" + m + "\",\n  \"secrets\": {\"a\": \"" + m + "\", \"b\": [\"" + m + "\", \"" + m + "\", null]},\n  \"n\": {\"token\": \"" + m + "\"}\n}",
		},
		{
			name:    "xml elements and attributes",
			format:  "xml",
			content: "<cfg>\n  <password>p</password>\n  <user>u</user>\n  <property name=\"db.password\" value=\"p2\"/>\n  <conn url=\"x\" secret='s'/>\n</cfg>",
			want:    "<cfg>\n  <password>" + m + "</password>\n  <user>u</user>\n  <property name=\"db.password\" value=\"" + m + "\"/>\n  <conn url=\"x\" secret='" + m + "'/>\n</cfg>",
		},
		{
			name:    "text lines key=value and key: value",
			format:  "text",
			content: "hello world\nexport DB_PASSWORD=\"x\"\nToken: abc\nnote: a password is needed\n",
			want:    "hello world\nexport DB_PASSWORD=" + m + "\nToken: " + m + "\nnote: a password is needed\n",
		},
		{
			name:    "custom words",
			format:  "properties",
			content: "pin=1234\npassword=shown\n",
			words:   []string{"PIN"},
			want:    "pin=" + m + "\npassword=shown\n",
		},
		{
			name:    "text type sniffed as yaml",
			format:  "text",
			content: "server:\n  port: 8080\n  secret: s\n",
			want:    "server:\n  port: 8080\n  secret: " + m + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nacos.Mask(tt.format, tt.content, tt.words); got != tt.want {
				t.Errorf("Mask =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestDetectFormat(t *testing.T) {
	tests := []struct {
		name, nacosType, content, want string
	}{
		{"type yaml", "yaml", "a=b", nacos.FormatYAML},
		{"type properties", "Properties", "a: b", nacos.FormatProperties},
		{"type json", "json", "", nacos.FormatJSON},
		{"type xml", "xml", "", nacos.FormatXML},
		{"type html", "html", "", nacos.FormatHTML},
		{"sniff json", "text", ` {"a": [1, 2]}`, nacos.FormatJSON},
		{"sniff yaml", "", "server:\n  port: 80\n# c\nlist:\n  - a\n", nacos.FormatYAML},
		{"sniff properties", "text", "# c\na.b=1\nc.d = two\n", nacos.FormatProperties},
		{"sniff xml", "", "<?xml version=\"1.0\"?>\n<a><b>1</b></a>", nacos.FormatXML},
		{"sniff html", "", "<!DOCTYPE html><html><body></body></html>", nacos.FormatHTML},
		{"plain text", "text", "just some words\nand more", nacos.FormatText},
		{"broken json is text", "", "{not json", nacos.FormatText},
		{"empty", "", "", nacos.FormatText},
		{"unknown type sniffs", "toml", "a = 1\nb = 2\n", nacos.FormatProperties},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nacos.DetectFormat(tt.nacosType, tt.content); got != tt.want {
				t.Errorf("DetectFormat(%q, %q) = %q, want %q", tt.nacosType, tt.content, got, tt.want)
			}
		})
	}
}
