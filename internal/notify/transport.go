package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rewindhq/rewind/internal/i18n"
)

// Envelope says which delivery and attempt a message is, so that
// receivers that can tell repeats apart (the generic webhook, e-mail by
// its Message-ID) see one message however often it is sent.
type Envelope struct {
	DeliveryID int64 // 0 for a test message
	EventID    int64
	Attempt    int
	// Recipients are the addresses of an e-mail; empty for other kinds.
	Recipients []string
}

// SendError is a send that failed. A permanent one (a refused payload, a
// wrong signature, a webhook that no longer exists) is not retried; a
// transient one is, after RetryAfter when the receiver said so.
type SendError struct {
	Permanent  bool
	RetryAfter time.Duration
	Msg        string
}

func (e *SendError) Error() string { return e.Msg }

func transient(format string, args ...any) *SendError {
	return &SendError{Msg: fmt.Sprintf(format, args...)}
}

func permanent(format string, args ...any) *SendError {
	return &SendError{Permanent: true, Msg: fmt.Sprintf(format, args...)}
}

// Transport sends messages to channels of every kind.
type Transport struct {
	// HTTP posts to robots and webhooks; its timeout bounds an attempt.
	HTTP *http.Client
	// SMTPTimeout bounds an e-mail's whole conversation with its server.
	SMTPTimeout time.Duration
	// Hostname names this Rewind to SMTP servers (EHLO) and in Message-IDs.
	Hostname string
	Now      func() time.Time
}

// DefaultTimeout bounds one attempt at any channel.
const DefaultTimeout = 15 * time.Second

// NewTransport returns a transport with the default timeouts.
func NewTransport(hostname string) *Transport {
	if hostname == "" {
		hostname = "localhost"
	}
	return &Transport{HTTP: &http.Client{Timeout: DefaultTimeout}, SMTPTimeout: DefaultTimeout, Hostname: hostname,
		Now: func() time.Time { return time.Now().UTC() }}
}

// Send sends m on channel ch.
func (t *Transport) Send(ctx context.Context, ch *Channel, m *Message, e Envelope) error {
	switch ch.Kind {
	case Slack:
		return t.slack(ctx, ch, m)
	case DingTalk:
		return t.dingtalk(ctx, ch, m)
	case Feishu:
		return t.feishu(ctx, ch, m)
	case WeCom:
		return t.wecom(ctx, ch, m)
	case Webhook:
		return t.webhook(ctx, ch, m, e)
	case Email:
		return t.email(ctx, ch, m, e)
	}
	return permanent("unknown kind of channel %q", ch.Kind)
}

// post sends body as JSON to rawURL and returns the response's status and
// body. Its errors name the host only: a webhook's URL holds its token.
func (t *Transport) post(ctx context.Context, rawURL string, body []byte, header http.Header) (int, []byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return 0, nil, permanent("the channel's URL is not valid")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return 0, nil, permanent("the channel's URL is not valid")
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Rewind")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := t.HTTP.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return 0, nil, transient("%s did not answer in time", u.Host)
		}
		return 0, nil, transient("%s: %s", u.Host, redact(err.Error(), rawURL))
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return resp.StatusCode, b, &SendError{RetryAfter: retryAfter(resp.Header.Get("Retry-After")),
			Msg: fmt.Sprintf("%s is limiting the rate (HTTP 429)", u.Host)}
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout:
		return resp.StatusCode, b, transient("%s answered HTTP %d: %s", u.Host, resp.StatusCode, snippet(b))
	case resp.StatusCode >= 300:
		return resp.StatusCode, b, permanent("%s refused the message: HTTP %d: %s", u.Host, resp.StatusCode, snippet(b))
	}
	return resp.StatusCode, b, nil
}

// redact removes the URL (and its path and query, where tokens live)
// from an error text.
func redact(s, rawURL string) string {
	s = strings.ReplaceAll(s, rawURL, "(the channel's URL)")
	if u, err := url.Parse(rawURL); err == nil {
		if u.RawQuery != "" {
			s = strings.ReplaceAll(s, u.RawQuery, "…")
		}
		if len(u.Path) > 1 {
			s = strings.ReplaceAll(s, u.Path, "/…")
		}
	}
	return s
}

// snippet is the start of a response body, for an error text.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return "(empty)"
	}
	return s
}

// retryAfter reads a Retry-After header given in seconds.
func retryAfter(h string) time.Duration {
	if n, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && n > 0 && n < 3600 {
		return time.Duration(n) * time.Second
	}
	return 0
}

// Shown is what pages show of a channel's endpoint: the scheme and host of
// a webhook (its path and query hold the token), the server of an e-mail
// channel.
func Shown(ch *Channel) string {
	if ch.Kind == Email {
		return fmt.Sprintf("%s:%d (%s)", ch.SMTP.Host, ch.SMTP.Port, ch.SMTP.Security)
	}
	u, err := url.Parse(ch.Secret.URL)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// plainText writes m as plain text: the title, the facts, the steps and
// their changes, the link.
func plainText(m *Message) string {
	var b strings.Builder
	b.WriteString(m.Title)
	b.WriteString("\n\n")
	if m.Note != "" {
		b.WriteString(m.Note + "\n\n")
	}
	for _, f := range m.Facts {
		fmt.Fprintf(&b, "%s: %s\n", f.Label, f.Value)
	}
	if len(m.Steps) > 0 {
		b.WriteString("\n")
		p := i18n.For(m.Locale)
		for _, st := range m.Steps {
			b.WriteString(stepHead(p, st) + "\n")
			for _, c := range st.Changes {
				b.WriteString("   " + c + "\n")
			}
		}
		if m.More != "" {
			b.WriteString(m.More + "\n")
		}
	}
	if m.Link != "" {
		b.WriteString("\n" + m.Link + "\n")
	}
	return b.String()
}

// stepHead is a step's first line: position, target, what it does, state.
func stepHead(p i18n.Printer, st StepLine) string {
	s := fmt.Sprintf("%d. %s", st.Position, st.Target)
	if st.Detail != "" {
		s += " (" + st.Detail + ")"
	}
	return s + " · " + st.State
}

// markdown writes m in the Markdown that chat robots read (DingTalk,
// WeCom), with esc escaping text that comes from people.
func markdown(m *Message, esc func(string) string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", esc(m.Title))
	if m.Note != "" {
		fmt.Fprintf(&b, "> %s\n\n", esc(m.Note))
	}
	for _, f := range m.Facts {
		fmt.Fprintf(&b, "**%s**: %s\n\n", esc(f.Label), esc(f.Value))
	}
	p := i18n.For(m.Locale)
	for _, st := range m.Steps {
		fmt.Fprintf(&b, "- %s\n", esc(stepHead(p, st)))
		for _, c := range st.Changes {
			fmt.Fprintf(&b, "  - %s\n", esc(c))
		}
	}
	if m.More != "" {
		fmt.Fprintf(&b, "- %s\n", esc(m.More))
	}
	if len(m.Steps) > 0 {
		b.WriteString("\n")
	}
	if m.Link != "" {
		fmt.Fprintf(&b, "[%s](%s)\n", esc(p.T("Open in Rewind")), m.Link)
	}
	return b.String()
}

// mdEscape keeps people's text from turning into Markdown: it escapes the
// characters that start emphasis, links, headings, lists and code.
func mdEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\\', '`', '*', '_', '[', ']', '#', '<', '>', '|', '~':
			b.WriteByte('\\')
		case '\n':
			b.WriteString("  \n")
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// cutBytes shortens s to at most n bytes on a character boundary, marking
// the cut (WeCom counts a message's bytes).
func cutBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "\n…"
	s = s[:n-len(mark)]
	for len(s) > 0 && !utf8ValidEnd(s) {
		s = s[:len(s)-1]
	}
	return s + mark
}

func utf8ValidEnd(s string) bool {
	c := s[len(s)-1]
	if c < 0x80 {
		return true
	}
	// Walk back to the start byte of the last character.
	i := len(s) - 1
	for i > 0 && s[i]&0xC0 == 0x80 {
		i--
	}
	need := 1
	switch b := s[i]; {
	case b&0xE0 == 0xC0:
		need = 2
	case b&0xF0 == 0xE0:
		need = 3
	case b&0xF8 == 0xF0:
		need = 4
	}
	return len(s)-i == need
}

// printer speaks m's language.
func printer(m *Message) i18n.Printer { return i18n.For(m.Locale) }

// robotAnswer reads a chat robot's JSON answer: codeField 0 means sent;
// the codes in retryable (rate limits, a busy system) are tried again in
// a minute; any other code is permanent.
func robotAnswer(vendor string, body []byte, codeField, msgField string, retryable map[int]bool) error {
	var ans map[string]any
	if err := json.Unmarshal(body, &ans); err != nil {
		return transient("%s answered something that is not JSON: %s", vendor, snippet(body))
	}
	code, ok := ans[codeField].(float64)
	if !ok {
		code, ok = ans["StatusCode"].(float64) // Feishu's older answer
	}
	if !ok {
		return transient("%s answered without %s: %s", vendor, codeField, snippet(body))
	}
	if code == 0 {
		return nil
	}
	msg, _ := ans[msgField].(string)
	if retryable[int(code)] {
		return &SendError{RetryAfter: time.Minute, Msg: fmt.Sprintf("%s: %s %d: %s", vendor, codeField, int(code), msg)}
	}
	return permanent("%s refused the message: %s %d: %s", vendor, codeField, int(code), msg)
}
