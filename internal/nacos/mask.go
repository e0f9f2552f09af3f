package nacos

import (
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strings"
)

// MaskedValue replaces every masked value; its length says nothing about the secret.
const MaskedValue = "******"

// HiddenMD5 stands for the md5 of a content with masked values wherever the
// content is shown masked: the hash would let a reader guess the secrets.
const HiddenMD5 = "hidden (content has masked values)"

// DefaultMaskWords are the words that mark a key as secret when none are configured.
var DefaultMaskWords = []string{"password", "secret", "token", "key"}

// Mask hides the values of keys whose name contains one of words (case-insensitive;
// DefaultMaskWords when words is empty), keeping everything else, lines included, as it is.
// format is a Nacos type or a format from DetectFormat; YAML, properties, JSON and XML are
// understood, anything else is read as text lines of the form key=value or key: value.
func Mask(format, content string, words []string) string {
	if len(words) == 0 {
		words = DefaultMaskWords
	}
	lower := make([]string, 0, len(words))
	for _, w := range words {
		if w = strings.ToLower(strings.TrimSpace(w)); w != "" {
			lower = append(lower, w)
		}
	}
	secret := func(name string) bool {
		name = strings.ToLower(strings.Trim(name, `"' `))
		for _, w := range lower {
			if strings.Contains(name, w) {
				return true
			}
		}
		return false
	}
	switch DetectFormat(format, content) {
	case FormatYAML:
		return maskYAML(content, secret)
	case FormatProperties:
		return maskProperties(content, secret)
	case FormatJSON:
		if masked, err := maskJSON(content, secret); err == nil {
			return masked
		}
		return maskText(content, secret)
	case FormatXML, FormatHTML:
		return maskXML(content, secret)
	default:
		return maskText(content, secret)
	}
}

// splitLines splits content into lines, each keeping its line ending.
func splitLines(content string) []string {
	return strings.SplitAfter(content, "\n")
}

// cutEOL separates a line from its line ending.
func cutEOL(line string) (body, eol string) {
	body = strings.TrimRight(line, "\r\n")
	return body, line[len(body):]
}

func indentOf(s string) int {
	return len(s) - len(strings.TrimLeft(s, " \t"))
}

// yamlKeyLine matches "key: value", "- key: value" and quoted keys.
var yamlKeyLine = regexp.MustCompile(`^(\s*(?:-\s+)?)("[^"]*"|'[^']*'|[^\s"'#:][^#:]*?)(\s*:)(\s+|$)(.*)$`)

// maskYAML masks the values of secret keys, including block scalars (|, >) and whole nested
// mappings or lists under a secret key.
func maskYAML(content string, secret func(string) bool) string {
	lines := splitLines(content)
	under := -1 // indentation of a secret key whose nested lines are being masked
	for i, line := range lines {
		body, eol := cutEOL(line)
		trimmed := strings.TrimSpace(body)
		if under >= 0 {
			if trimmed == "" || strings.HasPrefix(trimmed, "#") {
				continue
			}
			if indentOf(body) > under {
				lines[i] = maskNestedYAML(body) + eol
				continue
			}
			under = -1
		}
		m := yamlKeyLine.FindStringSubmatch(body)
		if m == nil || strings.HasPrefix(trimmed, "#") || !secret(m[2]) {
			continue
		}
		value := m[5]
		switch {
		case value == "" || strings.HasPrefix(value, "#") || strings.HasPrefix(value, "|") || strings.HasPrefix(value, ">"):
			// A nested mapping, list or block scalar follows.
			under = len(m[1])
			if strings.HasPrefix(strings.TrimSpace(m[1]), "-") {
				under = len(m[1]) - 1
			}
		default:
			lines[i] = m[1] + m[2] + m[3] + m[4] + MaskedValue + yamlComment(value) + eol
		}
	}
	return strings.Join(lines, "")
}

// maskNestedYAML masks a line below a secret key: a value, a list item, or block text.
func maskNestedYAML(body string) string {
	if m := yamlKeyLine.FindStringSubmatch(body); m != nil {
		if m[5] == "" || strings.HasPrefix(m[5], "#") || strings.HasPrefix(m[5], "|") || strings.HasPrefix(m[5], ">") {
			return body
		}
		return m[1] + m[2] + m[3] + m[4] + MaskedValue + yamlComment(m[5])
	}
	indent := body[:indentOf(body)]
	rest := body[len(indent):]
	if item, ok := strings.CutPrefix(rest, "- "); ok && strings.TrimSpace(item) != "" {
		return indent + "- " + MaskedValue + yamlComment(item)
	}
	return indent + MaskedValue
}

// yamlComment returns the trailing " # comment" of a plain or quoted YAML value, if any.
func yamlComment(value string) string {
	if value == "" {
		return ""
	}
	if q := value[0]; q == '"' || q == '\'' {
		if end := strings.IndexByte(value[1:], q); end >= 0 {
			rest := value[end+2:]
			if i := strings.Index(rest, "#"); i >= 0 {
				return " " + rest[i:]
			}
		}
		return ""
	}
	if i := strings.Index(value, " #"); i >= 0 {
		return value[i:]
	}
	return ""
}

// maskProperties masks the values of secret keys of a .properties file, continuation lines
// included.
func maskProperties(content string, secret func(string) bool) string {
	lines := splitLines(content)
	continued, masking := false, false
	for i, line := range lines {
		body, eol := cutEOL(line)
		wasContinued := continued
		continued = endsWithContinuation(body)
		if wasContinued {
			if masking {
				lines[i] = body[:indentOf(body)] + MaskedValue + continuation(continued) + eol
			}
			continue
		}
		masking = false
		trimmed := strings.TrimLeft(body, " \t\f")
		if trimmed == "" || trimmed[0] == '#' || trimmed[0] == '!' {
			continued = false
			continue
		}
		key, sepEnd := propertiesKey(body)
		if !secret(key) || strings.TrimSpace(body[sepEnd:]) == "" {
			continue
		}
		masking = true
		lines[i] = body[:sepEnd] + MaskedValue + continuation(continued) + eol
	}
	return strings.Join(lines, "")
}

func continuation(on bool) string {
	if on {
		return `\`
	}
	return ""
}

// endsWithContinuation says whether a properties line ends in an odd number of backslashes.
func endsWithContinuation(s string) bool {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// propertiesKey returns a line's key and where its value starts: the key ends at an unescaped
// '=', ':' or white space, and the separator takes the blanks around one '=' or ':'.
func propertiesKey(line string) (key string, valueStart int) {
	i := indentOf(line)
	start := i
	for i < len(line) {
		c := line[i]
		if c == '\\' {
			i += 2
			continue
		}
		if c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f' {
			break
		}
		i++
	}
	i = min(i, len(line))
	key = line[start:i]
	for i < len(line) && (line[i] == ' ' || line[i] == '\t' || line[i] == '\f') {
		i++
	}
	if i < len(line) && (line[i] == '=' || line[i] == ':') {
		i++
		for i < len(line) && (line[i] == ' ' || line[i] == '\t' || line[i] == '\f') {
			i++
		}
	}
	return key, i
}

// textKeyLine matches "key=value", "key: value" and "export KEY=value" lines.
var textKeyLine = regexp.MustCompile(`^(\s*(?:export\s+)?)(["']?[A-Za-z0-9_.\-\[\]]+["']?)(\s*[=:]\s*)(.*)$`)

// maskText masks the values of key=value and key: value lines.
func maskText(content string, secret func(string) bool) string {
	lines := splitLines(content)
	for i, line := range lines {
		body, eol := cutEOL(line)
		m := textKeyLine.FindStringSubmatch(body)
		if m == nil || strings.TrimSpace(m[4]) == "" || !secret(m[2]) {
			continue
		}
		lines[i] = m[1] + m[2] + m[3] + MaskedValue + eol
	}
	return strings.Join(lines, "")
}

// maskJSON masks, keeping the layout, every value under a secret key: a scalar, or each
// scalar inside an object or array.
func maskJSON(content string, secret func(string) bool) (string, error) {
	type frame struct {
		object, expectKey, masked bool
	}
	dec := json.NewDecoder(strings.NewReader(content))
	dec.UseNumber()
	var (
		stack   []frame
		spans   [][2]int
		pending bool // the next value belongs to a secret key
	)
	for {
		before := int(dec.InputOffset())
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
		after := int(dec.InputOffset())
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				masked := pending || (top != nil && top.masked)
				pending = false
				stack = append(stack, frame{object: d == '{', expectKey: d == '{', masked: masked})
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].expectKey = true
				}
			}
			continue
		}
		if top != nil && top.object && top.expectKey {
			top.expectKey = false
			if name, ok := tok.(string); ok && !top.masked && secret(name) {
				pending = true
			}
			continue
		}
		if tok != nil && (pending || (top != nil && top.masked)) {
			start := before
			for start < after && strings.IndexByte(" \t\r\n:,", content[start]) >= 0 {
				start++
			}
			spans = append(spans, [2]int{start, after})
		}
		pending = false
		if top != nil && top.object {
			top.expectKey = true
		}
	}
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		b.WriteString(content[last:sp[0]])
		b.WriteString(`"` + MaskedValue + `"`)
		last = sp[1]
	}
	b.WriteString(content[last:])
	return b.String(), nil
}

var (
	xmlElement   = regexp.MustCompile(`<([A-Za-z_][\w.\-:]*)((?:\s[^<>]*?)?)(/?)>(?:([^<]*)</([A-Za-z_][\w.\-:]*)(\s*)>)?`)
	xmlAttribute = regexp.MustCompile(`([A-Za-z_][\w.\-:]*)(\s*=\s*)("[^"]*"|'[^']*')`)
)

// maskXML masks the text of secret elements (<password>x</password>), secret attributes
// (password="x"), and the value of entries named by a secret name or key attribute
// (<property name="password" value="x"/>, <entry key="token">x</entry>).
func maskXML(content string, secret func(string) bool) string {
	return xmlElement.ReplaceAllStringFunc(content, func(el string) string {
		m := xmlElement.FindStringSubmatch(el)
		name, attrs, selfClose, text, closeName, closeSpace := m[1], m[2], m[3], m[4], m[5], m[6]
		named := false
		for _, am := range xmlAttribute.FindAllStringSubmatch(attrs, -1) {
			attrName := strings.ToLower(am[1])
			if (attrName == "name" || attrName == "key") && secret(am[3][1:len(am[3])-1]) {
				named = true
			}
		}
		attrs = xmlAttribute.ReplaceAllStringFunc(attrs, func(a string) string {
			am := xmlAttribute.FindStringSubmatch(a)
			attrName := strings.ToLower(am[1])
			if (secret(am[1]) && attrName != "name" && attrName != "key") || (named && attrName == "value") {
				q := am[3][:1]
				return am[1] + am[2] + q + MaskedValue + q
			}
			return a
		})
		out := "<" + name + attrs + selfClose + ">"
		if closeName == "" {
			return out
		}
		if closeName == name && (secret(name) || named) && strings.TrimSpace(text) != "" {
			text = MaskedValue
		}
		return out + text + "</" + closeName + closeSpace + ">"
	})
}
