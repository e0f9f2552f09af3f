package web

import (
	"regexp"
	"strings"
	"unicode"

	"github.com/rewindhq/rewind/templates"
)

// Classes of highlighted tokens, styled by static/css/configs.css.
const (
	hlKey     = "hl-key"
	hlString  = "hl-str"
	hlNumber  = "hl-num"
	hlBool    = "hl-bool"
	hlNull    = "hl-null"
	hlComment = "hl-comment"
	hlPunct   = "hl-punct"
	hlTag     = "hl-tag"
	hlAttr    = "hl-attr"
	hlMasked  = "hl-masked"
)

// maxHighlightBytes bounds the content that is highlighted; larger content is
// shown as plain lines.
const maxHighlightBytes = 1 << 20

// maskedValue is how masked values appear (nacos.MaskedValue).
const maskedValue = "******"

// highlight splits content into lines of tokens classed for its format
// (yaml, properties, json, xml, html; anything else stays plain). The
// templates escape the text.
func highlight(format, content string) []templates.CodeLine {
	lines := strings.Split(strings.TrimSuffix(content, "\n"), "\n")
	if content == "" {
		return nil
	}
	out := make([]templates.CodeLine, len(lines))
	if len(content) > maxHighlightBytes {
		for i, l := range lines {
			out[i] = templates.CodeLine{{Text: l}}
		}
		return out
	}
	var x xmlState
	for i, l := range lines {
		l = strings.TrimSuffix(l, "\r")
		var b lineBuilder
		switch format {
		case "yaml":
			highlightYAML(&b, l)
		case "properties":
			highlightProperties(&b, l, i > 0 && continues(lines[i-1]))
		case "json":
			highlightJSON(&b, l)
		case "xml", "html":
			x.line(&b, l)
		default:
			b.add("", l)
		}
		out[i] = b.line
	}
	return out
}

// lineBuilder collects the tokens of one line, joining neighbours of one class.
type lineBuilder struct{ line templates.CodeLine }

func (b *lineBuilder) add(class, text string) {
	if text == "" {
		return
	}
	if strings.Trim(text, `"' `) == maskedValue {
		class = hlMasked
	}
	if n := len(b.line); n > 0 && b.line[n-1].Class == class {
		b.line[n-1].Text += text
		return
	}
	b.line = append(b.line, templates.CodeToken{Class: class, Text: text})
}

var (
	yamlKey    = regexp.MustCompile(`^(\s*)((?:-\s+)*)("[^"]*"|'[^']*'|[^\s#"'][^#]*?)(\s*:)(\s.*|$)`)
	yamlNumber = regexp.MustCompile(`^[-+]?(\d[\d_]*(\.\d*)?([eE][-+]?\d+)?|\.\d+|0x[0-9a-fA-F]+|\.inf|\.nan)$`)
)

func highlightYAML(b *lineBuilder, l string) {
	trimmed := strings.TrimSpace(l)
	indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
	switch {
	case strings.HasPrefix(trimmed, "#"):
		b.add("", indent)
		b.add(hlComment, trimmed)
		return
	case trimmed == "---" || trimmed == "...":
		b.add(hlPunct, l)
		return
	}
	if m := yamlKey.FindStringSubmatch(l); m != nil && !strings.Contains(m[3], ": ") {
		b.add("", m[1])
		b.add(hlPunct, m[2])
		b.add(hlKey, m[3])
		b.add(hlPunct, m[4])
		yamlValue(b, m[5])
		return
	}
	b.add("", indent)
	rest := l[len(indent):]
	for strings.HasPrefix(rest, "- ") || rest == "-" {
		b.add(hlPunct, rest[:1])
		rest = rest[1:]
		sp := rest[:len(rest)-len(strings.TrimLeft(rest, " "))]
		b.add("", sp)
		rest = rest[len(sp):]
	}
	yamlValue(b, rest)
}

// yamlValue classes a value and its trailing comment.
func yamlValue(b *lineBuilder, v string) {
	lead := v[:len(v)-len(strings.TrimLeft(v, " \t"))]
	b.add("", lead)
	v = v[len(lead):]
	comment := ""
	if strings.HasPrefix(v, "#") {
		v, comment = "", v
	} else if i := strings.Index(v, " #"); i >= 0 && !strings.HasPrefix(v, `"`) && !strings.HasPrefix(v, "'") {
		v, comment = v[:i], v[i:]
	}
	value := strings.TrimRight(v, " \t")
	b.add(scalarClass(value), value)
	b.add("", v[len(value):])
	b.add(hlComment, comment)
}

func scalarClass(v string) string {
	switch {
	case v == "":
		return ""
	case strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "'"):
		return hlString
	case v == "|" || v == ">" || v == "|-" || v == ">-" || v == "|+" || v == ">+" || v == "{}" || v == "[]":
		return hlPunct
	case yamlNumber.MatchString(v):
		return hlNumber
	}
	switch strings.ToLower(v) {
	case "true", "false", "yes", "no", "on", "off":
		return hlBool
	case "null", "~":
		return hlNull
	}
	return hlString
}

// continues says whether a properties line continues on the next one.
func continues(l string) bool {
	l = strings.TrimRight(l, "\r")
	n := 0
	for i := len(l) - 1; i >= 0 && l[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

func highlightProperties(b *lineBuilder, l string, continued bool) {
	trimmed := strings.TrimLeft(l, " \t\f")
	indent := l[:len(l)-len(trimmed)]
	if continued {
		b.add("", indent)
		b.add(hlString, trimmed)
		return
	}
	if trimmed == "" || trimmed[0] == '#' || trimmed[0] == '!' {
		b.add("", indent)
		b.add(hlComment, trimmed)
		return
	}
	i := len(indent)
	for i < len(l) {
		c := l[i]
		if c == '\\' {
			i += 2
			continue
		}
		if c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f' {
			break
		}
		i++
	}
	i = min(i, len(l))
	sepEnd := i
	for sepEnd < len(l) && (l[sepEnd] == ' ' || l[sepEnd] == '\t') {
		sepEnd++
	}
	if sepEnd < len(l) && (l[sepEnd] == '=' || l[sepEnd] == ':') {
		sepEnd++
		for sepEnd < len(l) && (l[sepEnd] == ' ' || l[sepEnd] == '\t') {
			sepEnd++
		}
	}
	b.add("", indent)
	b.add(hlKey, l[len(indent):i])
	b.add(hlPunct, l[i:sepEnd])
	b.add(hlString, l[sepEnd:])
}

func highlightJSON(b *lineBuilder, l string) {
	for i := 0; i < len(l); {
		c := l[i]
		switch {
		case c == '"':
			j := i + 1
			for j < len(l) && l[j] != '"' {
				if l[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(l))
			class := hlString
			if rest := strings.TrimLeft(l[j:], " \t"); strings.HasPrefix(rest, ":") {
				class = hlKey
			}
			b.add(class, l[i:j])
			i = j
		case strings.ContainsRune("{}[],:", rune(c)):
			b.add(hlPunct, l[i:i+1])
			i++
		case c == '-' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(l) && strings.ContainsRune("0123456789.eE+-", rune(l[j])) {
				j++
			}
			b.add(hlNumber, l[i:j])
			i = j
		case unicode.IsLetter(rune(c)):
			j := i
			for j < len(l) && unicode.IsLetter(rune(l[j])) {
				j++
			}
			word := l[i:j]
			switch word {
			case "true", "false":
				b.add(hlBool, word)
			case "null":
				b.add(hlNull, word)
			default:
				b.add("", word)
			}
			i = j
		default:
			b.add("", l[i:i+1])
			i++
		}
	}
}

// xmlState carries what spans lines in XML: a comment or a tag left open.
type xmlState struct {
	inComment, inTag bool
}

var xmlName = regexp.MustCompile(`^[A-Za-z_:][\w.\-:]*`)

func (x *xmlState) line(b *lineBuilder, l string) {
	for i := 0; i < len(l); {
		switch {
		case x.inComment:
			end := strings.Index(l[i:], "-->")
			if end < 0 {
				b.add(hlComment, l[i:])
				return
			}
			b.add(hlComment, l[i:i+end+3])
			i += end + 3
			x.inComment = false
		case x.inTag:
			c := l[i]
			switch {
			case c == '>' || (c == '/' || c == '?') && i+1 < len(l) && l[i+1] == '>':
				j := i + 1
				if c != '>' {
					j = i + 2
				}
				b.add(hlPunct, l[i:j])
				i = j
				x.inTag = false
			case c == '"' || c == '\'':
				end := strings.IndexByte(l[i+1:], c)
				if end < 0 {
					b.add(hlString, l[i:])
					return
				}
				b.add(hlString, l[i:i+end+2])
				i += end + 2
			case c == '=':
				b.add(hlPunct, "=")
				i++
			default:
				if m := xmlName.FindString(l[i:]); m != "" {
					b.add(hlAttr, m)
					i += len(m)
				} else {
					b.add("", l[i:i+1])
					i++
				}
			}
		case strings.HasPrefix(l[i:], "<!--"):
			x.inComment = true
		case l[i] == '<':
			j := i + 1
			for j < len(l) && (l[j] == '/' || l[j] == '?' || l[j] == '!') {
				j++
			}
			b.add(hlPunct, l[i:j])
			name := xmlName.FindString(l[j:])
			b.add(hlTag, name)
			i = j + len(name)
			x.inTag = true
		default:
			end := strings.IndexByte(l[i:], '<')
			if end < 0 {
				end = len(l) - i
			}
			b.add("", l[i:i+end])
			i += end
		}
	}
}
