package nacos

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Config formats, named as Nacos names its types.
const (
	FormatYAML       = "yaml"
	FormatProperties = "properties"
	FormatJSON       = "json"
	FormatXML        = "xml"
	FormatHTML       = "html"
	FormatText       = "text"
)

// DetectFormat returns a config's format from its Nacos type (yaml, properties, json, xml,
// text, html). Nacos gives every config without a chosen type the type "text", so for "text",
// an empty or an unknown type the content is sniffed instead.
func DetectFormat(nacosType, content string) string {
	switch strings.ToLower(strings.TrimSpace(nacosType)) {
	case "yaml", "yml":
		return FormatYAML
	case "properties":
		return FormatProperties
	case "json":
		return FormatJSON
	case "xml":
		return FormatXML
	case "html", "htm":
		return FormatHTML
	}
	return sniffFormat(content)
}

var (
	propertiesLine = regexp.MustCompile(`^[^\s=:#!]+\s*=`)
	yamlLine       = regexp.MustCompile(`^\s*(-\s+)?["']?[^\s:#"'=][^:#=]*?["']?\s*:(\s|$)|^\s*-(\s|$)`)
)

// sniffFormat guesses a format from the content.
func sniffFormat(content string) string {
	trimmed := strings.TrimSpace(content)
	switch {
	case trimmed == "":
		return FormatText
	case (trimmed[0] == '{' || trimmed[0] == '[') && json.Valid([]byte(trimmed)):
		return FormatJSON
	case trimmed[0] == '<':
		lower := strings.ToLower(trimmed)
		if strings.HasPrefix(lower, "<!doctype html") || strings.Contains(lower, "<html") {
			return FormatHTML
		}
		if wellFormedXML(trimmed) {
			return FormatXML
		}
		return FormatText
	}
	var meaningful, props, yamls int
	for _, line := range strings.Split(content, "\n") {
		line = strings.TrimRight(line, "\r")
		t := strings.TrimSpace(line)
		if t == "" || t[0] == '#' || t[0] == '!' || t == "---" || t == "..." {
			continue
		}
		meaningful++
		switch {
		case yamlLine.MatchString(line):
			yamls++
		case propertiesLine.MatchString(line):
			props++
		}
	}
	if yamls > 0 && yamls >= props {
		var v any
		if err := yaml.Unmarshal([]byte(content), &v); err == nil {
			switch v.(type) {
			case map[string]any, []any:
				return FormatYAML
			}
		}
	}
	if props > 0 && props*2 >= meaningful {
		return FormatProperties
	}
	return FormatText
}

func wellFormedXML(s string) bool {
	dec := xml.NewDecoder(bytes.NewReader([]byte(s)))
	sawElement := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return sawElement
		}
		if err != nil {
			return false
		}
		if _, ok := tok.(xml.StartElement); ok {
			sawElement = true
		}
	}
}
