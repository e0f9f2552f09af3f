package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strconv"

	"github.com/rewindhq/rewind/internal/i18n"
)

// feishu posts m to a Feishu (or Lark) custom bot as a rich-text post.
//
// https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot:
// POST {"msg_type": "post", "content": {"post": {"zh_cn": {"title": …,
// "content": [[{"tag": "text", "text": …}], …]}}}}, with "timestamp" and
// "sign" in the body when signature verification is on. The answer is
// {"code": 0, "msg": "success"}; another code on failure (19021: wrong
// signature or a timestamp more than an hour off; 11232: sending too fast).
func (t *Transport) feishu(ctx context.Context, ch *Channel, m *Message) error {
	lang := "en_us"
	if m.Locale == i18n.Chinese {
		lang = "zh_cn"
	}
	payload := map[string]any{
		"msg_type": "post",
		"content":  map[string]any{"post": map[string]any{lang: map[string]any{"title": m.Title, "content": feishuPost(m)}}},
	}
	if ch.Secret.SigningSecret != "" {
		ts := strconv.FormatInt(t.Now().Unix(), 10)
		payload["timestamp"] = ts
		payload["sign"] = FeishuSign(ts, ch.Secret.SigningSecret)
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return permanent("encode message: %v", err)
	}
	_, resp, err := t.post(ctx, ch.Secret.URL, body, nil)
	if err != nil {
		return err
	}
	return robotAnswer("Feishu", resp, "code", "msg", map[int]bool{11232: true})
}

// FeishuSign is a custom bot's signature of timestamp (seconds, as text).
//
// https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot (签名校验):
// timestamp + "\n" + secret is the key of an HmacSHA256 over empty data;
// the signature is the Base64 of the result.
func FeishuSign(timestamp, secret string) string {
	mac := hmac.New(sha256.New, []byte(timestamp+"\n"+secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// feishuPost is m's lines as a post's paragraphs of text and link tags.
// Text tags are shown as they are, so people's text needs no escaping.
func feishuPost(m *Message) [][]map[string]string {
	text := func(s string) []map[string]string { return []map[string]string{{"tag": "text", "text": s}} }
	var out [][]map[string]string
	if m.Note != "" {
		out = append(out, text(m.Note))
	}
	for _, f := range m.Facts {
		out = append(out, text(f.Label+": "+f.Value))
	}
	p := printer(m)
	for _, st := range m.Steps {
		out = append(out, text(stepHead(p, st)))
		for _, c := range st.Changes {
			out = append(out, text("    "+c))
		}
	}
	if m.More != "" {
		out = append(out, text(m.More))
	}
	if m.Link != "" {
		out = append(out, []map[string]string{{"tag": "a", "text": p.T("Open in Rewind"), "href": m.Link}})
	}
	return out
}
