package diff

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// ErrUnsupportedFormat is returned by KeyChanges for a format whose keys it
// cannot read.
var ErrUnsupportedFormat = errors.New("unsupported format")

// maxKeys bounds how many keys one text may flatten to, so that YAML aliases
// cannot blow up into an endless document.
const maxKeys = 200000

// KeyChange is one key whose value differs between two versions of a
// config. Key is a dotted path, with array items as key[0]; Kind is
// KindAdded, KindRemoved or KindChanged; Old and New are the values as
// written ("" for the side that lacks the key).
type KeyChange struct {
	Key  string
	Kind Kind
	Old  string
	New  string
}

// leaf is one flattened value; typ tells a string "1" from a number 1.
type leaf struct {
	value string
	typ   string
}

// KeyChanges flattens both texts in the given format ("yaml", "json" or
// "properties") into key paths and returns the keys that were added,
// removed or changed, sorted by key. An empty or blank text has no keys.
// A text that does not parse gives an error.
func KeyChanges(format string, oldText, newText string) ([]KeyChange, error) {
	var flatten func(string) (map[string]leaf, error)
	switch strings.ToLower(format) {
	case "yaml", "yml":
		flatten = flattenYAML
	case "json":
		flatten = flattenJSON
	case "properties":
		flatten = flattenProperties
	default:
		return nil, fmt.Errorf("key changes for %q: %w", format, ErrUnsupportedFormat)
	}
	oldKeys, err := flatten(oldText)
	if err != nil {
		return nil, fmt.Errorf("read old %s: %w", format, err)
	}
	newKeys, err := flatten(newText)
	if err != nil {
		return nil, fmt.Errorf("read new %s: %w", format, err)
	}

	var out []KeyChange
	for k, o := range oldKeys {
		n, ok := newKeys[k]
		switch {
		case !ok:
			out = append(out, KeyChange{Key: k, Kind: KindRemoved, Old: o.value})
		case n != o:
			out = append(out, KeyChange{Key: k, Kind: KindChanged, Old: o.value, New: n.value})
		}
	}
	for k, n := range newKeys {
		if _, ok := oldKeys[k]; !ok {
			out = append(out, KeyChange{Key: k, Kind: KindAdded, New: n.value})
		}
	}
	sort.Slice(out, func(i, j int) bool { return naturalLess(out[i].Key, out[j].Key) })
	return out, nil
}

// flattener collects leaves under their paths.
type flattener struct {
	leaves map[string]leaf
}

func (f *flattener) set(path string, l leaf) error {
	if len(f.leaves) >= maxKeys {
		return fmt.Errorf("more than %d keys", maxKeys)
	}
	if path == "" {
		path = "(root)"
	}
	f.leaves[path] = l
	return nil
}

// childPath appends a map key to a path: a.b, or a["b.c"] for keys that a
// dot would make ambiguous.
func childPath(parent, key string) string {
	if key == "" || strings.ContainsAny(key, ".[]\"") {
		return parent + "[" + strconv.Quote(key) + "]"
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// errPath names a path in an error: "(root)" for the top, and cut short
// when deep.
func errPath(path string) string {
	const limit = 80
	switch {
	case path == "":
		return "(root)"
	case len(path) > limit:
		cut := limit
		for cut > 0 && !utf8.RuneStart(path[cut]) {
			cut--
		}
		return path[:cut] + "…"
	}
	return path
}

func indexPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

func flattenYAML(text string) (map[string]leaf, error) {
	f := &flattener{leaves: map[string]leaf{}}
	dec := yaml.NewDecoder(strings.NewReader(text))
	for i := 0; ; i++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse yaml: %w", err)
		}
		// The first document's keys have no prefix, so that adding a
		// second document does not make every key look changed.
		prefix := ""
		if i > 0 {
			prefix = "doc[" + strconv.Itoa(i) + "]"
		}
		if err := f.yamlNode(prefix, &doc, 0); err != nil {
			return nil, err
		}
	}
	return f.leaves, nil
}

// maxDepth bounds nesting, aliases included.
const maxDepth = 100

func (f *flattener) yamlNode(path string, n *yaml.Node, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("yaml at %s: nested deeper than %d", errPath(path), maxDepth)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return f.yamlNode(path, n.Content[0], depth+1)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil
		}
		return f.yamlNode(path, n.Alias, depth+1)
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			return f.set(path, leaf{value: "[]", typ: "seq"})
		}
		for i, c := range n.Content {
			if err := f.yamlNode(indexPath(path, i), c, depth+1); err != nil {
				return err
			}
		}
		return nil
	case yaml.MappingNode:
		keys, values, err := yamlMapping(n, depth)
		if err != nil {
			return fmt.Errorf("yaml at %s: %w", errPath(path), err)
		}
		if len(keys) == 0 {
			return f.set(path, leaf{value: "{}", typ: "map"})
		}
		for i, k := range keys {
			if err := f.yamlNode(childPath(path, k), values[i], depth+1); err != nil {
				return err
			}
		}
		return nil
	case yaml.ScalarNode:
		v := n.Value
		if n.ShortTag() == "!!null" && (v == "" || v == "~") {
			v = "null"
		}
		return f.set(path, leaf{value: v, typ: n.ShortTag()})
	default:
		return fmt.Errorf("yaml at %s: unexpected node kind %d", errPath(path), n.Kind)
	}
}

// yamlMapping lists a mapping's keys and values in order, with merge keys
// (<<) resolved: a key written in the mapping wins over a merged one.
func yamlMapping(n *yaml.Node, depth int) ([]string, []*yaml.Node, error) {
	if depth > maxDepth {
		return nil, nil, fmt.Errorf("merges nested deeper than %d", maxDepth)
	}
	var keys []string
	var values []*yaml.Node
	pos := map[string]int{}
	put := func(k string, v *yaml.Node, override bool) {
		if i, ok := pos[k]; ok {
			if override {
				values[i] = v
			}
			return
		}
		pos[k] = len(keys)
		keys = append(keys, k)
		values = append(values, v)
	}
	// Explicit keys first, so merged keys cannot override them.
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return nil, nil, fmt.Errorf("line %d: complex mapping keys are not supported", k.Line)
		}
		put(k.Value, v, true)
	}
	for _, m := range merges {
		if m.Kind == yaml.AliasNode && m.Alias != nil {
			m = m.Alias
		}
		sources := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			sources = m.Content
		}
		for _, s := range sources {
			if s.Kind == yaml.AliasNode && s.Alias != nil {
				s = s.Alias
			}
			if s.Kind != yaml.MappingNode {
				return nil, nil, fmt.Errorf("line %d: merge value is not a mapping", s.Line)
			}
			mk, mv, err := yamlMapping(s, depth+1)
			if err != nil {
				return nil, nil, err
			}
			for i, k := range mk {
				put(k, mv[i], false)
			}
		}
	}
	return keys, values, nil
}

func flattenJSON(text string) (map[string]leaf, error) {
	f := &flattener{leaves: map[string]leaf{}}
	if strings.TrimSpace(text) == "" {
		return f.leaves, nil
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("parse json: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse json: unexpected data after the top-level value")
	}
	if err := f.jsonValue("", v, 0); err != nil {
		return nil, err
	}
	return f.leaves, nil
}

func (f *flattener) jsonValue(path string, v any, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("json at %s: nested deeper than %d", errPath(path), maxDepth)
	}
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 0 {
			return f.set(path, leaf{value: "{}", typ: "object"})
		}
		for k, c := range v {
			if err := f.jsonValue(childPath(path, k), c, depth+1); err != nil {
				return err
			}
		}
		return nil
	case []any:
		if len(v) == 0 {
			return f.set(path, leaf{value: "[]", typ: "array"})
		}
		for i, c := range v {
			if err := f.jsonValue(indexPath(path, i), c, depth+1); err != nil {
				return err
			}
		}
		return nil
	case string:
		return f.set(path, leaf{value: v, typ: "string"})
	case json.Number:
		return f.set(path, leaf{value: v.String(), typ: "number"})
	case bool:
		return f.set(path, leaf{value: strconv.FormatBool(v), typ: "bool"})
	case nil:
		return f.set(path, leaf{value: "null", typ: "null"})
	default:
		return fmt.Errorf("json at %s: unexpected value %T", errPath(path), v)
	}
}

// naturalLess orders keys with runs of digits compared as numbers, so that
// items[2] sorts before items[10].
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digitPrefix(a), digitPrefix(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			if da != db {
				return da < db
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digitPrefix(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}
