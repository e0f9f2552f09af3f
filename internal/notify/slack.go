package notify

import (
	"context"
	"encoding/json"
	"strings"
)

// slack posts m to a Slack incoming webhook as mrkdwn text.
//
// https://api.slack.com/messaging/webhooks: POST a JSON body whose "text"
// is the message (mrkdwn); the answer is HTTP 200 with the body "ok", or an
// HTTP error whose body names the problem (invalid_payload, no_text,
// channel_not_found, channel_is_archived, …), or 429 when rate limited.
// https://api.slack.com/reference/surfaces/formatting#escaping: &, < and >
// are escaped in text.
func (t *Transport) slack(ctx context.Context, ch *Channel, m *Message) error {
	body, err := json.Marshal(map[string]any{"text": slackText(m)})
	if err != nil {
		return permanent("encode message: %v", err)
	}
	_, resp, err := t.post(ctx, ch.Secret.URL, body, nil)
	if err != nil {
		return err
	}
	if s := strings.TrimSpace(string(resp)); s != "ok" && s != "" {
		return permanent("Slack answered %q", snippet(resp))
	}
	return nil
}

// slackText writes m in Slack's mrkdwn.
func slackText(m *Message) string {
	esc := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace
	var b strings.Builder
	b.WriteString("*" + esc(m.Title) + "*\n")
	if m.Note != "" {
		b.WriteString("> " + esc(m.Note) + "\n")
	}
	for _, f := range m.Facts {
		b.WriteString("*" + esc(f.Label) + ":* " + esc(f.Value) + "\n")
	}
	p := printer(m)
	for _, st := range m.Steps {
		b.WriteString("• " + esc(stepHead(p, st)) + "\n")
		for _, c := range st.Changes {
			b.WriteString("    ◦ " + esc(c) + "\n")
		}
	}
	if m.More != "" {
		b.WriteString("• " + esc(m.More) + "\n")
	}
	if m.Link != "" {
		b.WriteString("<" + m.Link + "|" + esc(p.T("Open in Rewind")) + ">\n")
	}
	return b.String()
}
