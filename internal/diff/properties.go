package diff

import (
	"fmt"
	"strconv"
	"strings"
)

// flattenProperties reads a Java .properties text as java.util.Properties
// does: "key=value", "key: value" or "key value"; comment lines starting
// with # or !; a line ending in an odd number of backslashes continues on
// the next; backslash escapes including \uXXXX. A later key wins.
func flattenProperties(text string) (map[string]leaf, error) {
	out := map[string]leaf{}
	lines := naturalLines(text)
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		line := strings.TrimLeft(lines[i], " \t\f")
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		for endsInEscape(line) && i+1 < len(lines) {
			i++
			line = line[:len(line)-1] + strings.TrimLeft(lines[i], " \t\f")
		}
		if endsInEscape(line) {
			line = line[:len(line)-1]
		}
		rawKey, rawValue := splitProperty(line)
		key, err := unescapeProperty(rawKey)
		if err != nil {
			return nil, fmt.Errorf("properties line %d key: %w", lineNo, err)
		}
		value, err := unescapeProperty(rawValue)
		if err != nil {
			return nil, fmt.Errorf("properties line %d value: %w", lineNo, err)
		}
		if _, ok := out[key]; !ok && len(out) >= maxKeys {
			return nil, fmt.Errorf("properties: more than %d keys", maxKeys)
		}
		out[key] = leaf{value: value}
	}
	return out, nil
}

// naturalLines splits on "\n", "\r\n" or a lone "\r".
func naturalLines(text string) []string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	return strings.Split(text, "\n")
}

// endsInEscape reports whether a line ends in an odd number of backslashes,
// which makes it continue on the next line.
func endsInEscape(line string) bool {
	n := 0
	for i := len(line) - 1; i >= 0 && line[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// splitProperty cuts a logical line at the first unescaped '=', ':' or
// blank; blanks around the separator belong to neither side.
func splitProperty(line string) (key, value string) {
	end := len(line)
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c == '\\' {
			i++
			continue
		}
		if c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f' {
			end = i
			break
		}
	}
	key, rest := line[:end], line[end:]
	rest = strings.TrimLeft(rest, " \t\f")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], " \t\f")
	}
	return key, rest
}

// unescapeProperty resolves \t, \n, \r, \f, \uXXXX and \x (for x itself).
func unescapeProperty(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			if i+5 > len(s) {
				return "", fmt.Errorf("malformed \\u escape at byte %d", i-1)
			}
			n, err := strconv.ParseUint(s[i+1:i+5], 16, 16)
			if err != nil {
				// The digits are not quoted: a value may be a secret.
				return "", fmt.Errorf("malformed \\u escape at byte %d", i-1)
			}
			r := rune(n)
			// A surrogate pair written as two escapes makes one rune.
			if r >= 0xD800 && r < 0xDC00 && i+11 <= len(s) && s[i+5:i+7] == `\u` {
				if lo, err := strconv.ParseUint(s[i+7:i+11], 16, 16); err == nil && lo >= 0xDC00 && lo < 0xE000 {
					r = 0x10000 + (r-0xD800)<<10 + (rune(lo) - 0xDC00)
					i += 6
				}
			}
			b.WriteRune(r)
			i += 4
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}
