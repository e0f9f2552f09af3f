// Package i18n translates what Rewind says to people: pages, messages,
// errors, e-mail and IM texts, CLI output. It speaks English and Simplified
// Chinese.
//
// A message's ID is its English text, a fmt format ("Roll back %s to
// version %d"), so code reads as what it shows. The catalogues give each ID
// its text per language: locales/<locale>/*.json, one file per part of
// Rewind, the same keys in every locale. A value is either a string or, for
// texts that depend on a count, an object {"one": …, "other": …}.
// Translations may reorder arguments with explicit indexes (%[2]s).
//
// The locale travels in the context: the web layer puts the user's choice
// (else Accept-Language) there with WithLocale, and templates call T(ctx, …).
// Work without a request (notifications, the CLI) uses For(locale).
package i18n

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rewindhq/rewind/internal/rewind"
)

// Locale is a language Rewind speaks, as a BCP 47 tag.
type Locale string

// The locales, English first (the default).
const (
	English Locale = "en"
	Chinese Locale = "zh-CN"
)

// Locales lists every locale Rewind speaks, the default first.
var Locales = []Locale{English, Chinese}

// Name is the locale's name in its own language, for the language switch.
func (l Locale) Name() string {
	if l == Chinese {
		return "简体中文"
	}
	return "English"
}

// Parse returns the locale a language tag names ("zh", "zh-CN", "zh_Hans",
// "en-GB", …); ok is false for a language Rewind does not speak.
func Parse(tag string) (l Locale, ok bool) {
	t := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(tag), "_", "-"))
	switch {
	case t == "en" || strings.HasPrefix(t, "en-"):
		return English, true
	case t == "zh" || t == "zh-cn" || t == "zh-sg" || strings.HasPrefix(t, "zh-hans"):
		return Chinese, true
	}
	return English, false
}

// Negotiate picks the locale of an Accept-Language header: the supported
// language with the highest q-value, English when none is supported.
func Negotiate(acceptLanguage string) Locale {
	best, bestQ := English, -1.0
	for _, part := range strings.Split(acceptLanguage, ",") {
		tag, params, _ := strings.Cut(part, ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				continue
			}
			q = f
		}
		if l, ok := Parse(tag); ok && q > bestQ && q > 0 {
			best, bestQ = l, q
		}
	}
	return best
}

type localeKey struct{}

// WithLocale returns ctx carrying locale l.
func WithLocale(ctx context.Context, l Locale) context.Context {
	return context.WithValue(ctx, localeKey{}, l)
}

// FromContext returns the locale ctx carries, English when none.
func FromContext(ctx context.Context) Locale {
	if ctx != nil {
		if l, ok := ctx.Value(localeKey{}).(Locale); ok {
			return l
		}
	}
	return English
}

// T translates message id into ctx's locale and formats it with args.
func T(ctx context.Context, id string, args ...any) string {
	return For(FromContext(ctx)).T(id, args...)
}

// N is T for a message that depends on a count n: it picks the catalogue's
// "one" or "other" form by n. n is not added to args; pass it there too when
// the text shows it.
func N(ctx context.Context, n int, id string, args ...any) string {
	return For(FromContext(ctx)).N(n, id, args...)
}

// Error is the message of err in ctx's locale: a *rewind.Error's text
// translated, a generic text for any other error.
func Error(ctx context.Context, err error) string {
	return For(FromContext(ctx)).Error(err)
}

// Printer translates into one locale; the zero Printer speaks English.
type Printer struct{ loc Locale }

// For returns the printer of locale l.
func For(l Locale) Printer { return Printer{loc: l} }

// Locale returns the printer's locale.
func (p Printer) Locale() Locale {
	if p.loc == "" {
		return English
	}
	return p.loc
}

// T translates message id and formats it with args.
func (p Printer) T(id string, args ...any) string {
	return p.format(p.lookup(id, -1), args)
}

// N translates message id in the form that count n needs and formats it.
func (p Printer) N(n int, id string, args ...any) string {
	return p.format(p.lookup(id, n), args)
}

// Error is the message of err: a *rewind.Error's text translated (its format
// looked up, its arguments filled in), "Internal error." for any other error,
// since its text may reveal internals.
func (p Printer) Error(err error) string {
	if err == nil {
		return ""
	}
	var e *rewind.Error
	if !errors.As(err, &e) {
		return p.T("Internal error.")
	}
	if e.Format == "" {
		return e.Message
	}
	return p.T(e.Format, e.Args...)
}

func (p Printer) format(text string, args []any) string {
	if len(args) == 0 {
		return text
	}
	return fmt.Sprintf(text, args...)
}

// lookup finds id in the printer's catalogue, then in English's; n < 0 asks
// for a text without count. A missing id gives the id itself, or in strict
// mode a marker that tests look for.
func (p Printer) lookup(id string, n int) string {
	for _, l := range []Locale{p.Locale(), English} {
		if m, ok := catalogues[l][id]; ok {
			return m.pick(l, n)
		}
		if strict.Load() {
			return MissingMark + id + "⟧"
		}
	}
	return id
}

// MissingMark starts what T returns for an ID missing from a catalogue in
// strict mode, so that tests can find untranslated text on a page.
const MissingMark = "⟦missing: "

var strict atomic.Bool

// Strict makes a missing catalogue entry visible (MissingMark) instead of
// falling back to English; tests turn it on.
func Strict(on bool) { strict.Store(on) }

// Number formats n for the locale: 12,345 in both English and Chinese
// (Chinese groups by three digits in software too).
func (p Printer) Number(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Date formats the day of t for the locale: "7 Dec 2026" or "2026年12月7日".
func (p Printer) Date(t time.Time) string {
	if p.Locale() == Chinese {
		return fmt.Sprintf("%d年%d月%d日", t.Year(), t.Month(), t.Day())
	}
	return t.Format("2 Jan 2006")
}

// Time formats t to the minute for the locale: "7 Dec 2026 15:04" or
// "2026年12月7日 15:04".
func (p Printer) Time(t time.Time) string {
	return p.Date(t) + " " + t.Format("15:04")
}

// message is a catalogue entry: a text, or plural forms.
type message struct {
	Text       string
	One, Other string
}

func (m *message) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &m.Text)
	}
	var forms struct{ One, Other string }
	if err := json.Unmarshal(b, &forms); err != nil {
		return err
	}
	if forms.Other == "" {
		return fmt.Errorf("plural message without \"other\"")
	}
	m.One, m.Other = forms.One, forms.Other
	return nil
}

// pick returns the text for count n (n < 0: no count).
func (m message) pick(l Locale, n int) string {
	if m.Other == "" {
		return m.Text
	}
	if n == 1 && l == English && m.One != "" {
		return m.One
	}
	return m.Other
}

//go:embed locales
var files embed.FS

var catalogues = mustLoad()

// mustLoad reads every catalogue; a broken catalogue is a build mistake,
// caught by the package's tests, so it panics.
func mustLoad() map[Locale]map[string]message {
	out := map[Locale]map[string]message{}
	for _, l := range Locales {
		c, err := load(l)
		if err != nil {
			panic(err)
		}
		out[l] = c
	}
	return out
}

// load reads the catalogue of locale l: every locales/<l>/*.json file, one
// per part of Rewind, merged. A key in two files is a mistake.
func load(l Locale) (map[string]message, error) {
	names, err := fs.Glob(files, path.Join("locales", string(l), "*.json"))
	if err != nil || len(names) == 0 {
		return nil, fmt.Errorf("i18n: no catalogue files for %s", l)
	}
	c := map[string]message{}
	for _, name := range names {
		b, err := files.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("i18n: %w", err)
		}
		part := map[string]message{}
		if err := json.Unmarshal(b, &part); err != nil {
			return nil, fmt.Errorf("i18n: %s: %w", name, err)
		}
		for k, m := range part {
			if _, dup := c[k]; dup {
				return nil, fmt.Errorf("i18n: %s: %q is also in another file of %s", name, k, l)
			}
			c[k] = m
		}
	}
	return c, nil
}

// Keys returns the message IDs of locale l's catalogue, for tests and tools.
func Keys(l Locale) []string {
	keys := make([]string, 0, len(catalogues[l]))
	for k := range catalogues[l] {
		keys = append(keys, k)
	}
	return keys
}

// M marks a message ID that is translated later, where it is chosen (a
// navigation label in a table, say): it returns id as it is, and tells the
// catalogue test that id is a message.
func M(id string) string { return id }
