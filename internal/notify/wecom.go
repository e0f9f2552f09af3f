package notify

import (
	"context"
	"encoding/json"
)

// wecomMaxBytes is how long a WeCom robot's Markdown may be.
const wecomMaxBytes = 4096

// wecom posts m to a WeCom (企业微信) group robot as Markdown.
//
// https://developer.work.weixin.qq.com/document/path/91770: POST
// {"msgtype": "markdown", "markdown": {"content": …}} to the webhook, the
// content in UTF-8 and at most 4096 bytes; the answer is {"errcode": 0,
// "errmsg": "ok"}, another errcode on failure (45009: sending too fast, at
// most 20 messages a minute; -1: system busy).
func (t *Transport) wecom(ctx context.Context, ch *Channel, m *Message) error {
	body, err := json.Marshal(map[string]any{
		"msgtype":  "markdown",
		"markdown": map[string]string{"content": cutBytes(markdown(m, mdEscape), wecomMaxBytes)},
	})
	if err != nil {
		return permanent("encode message: %v", err)
	}
	_, resp, err := t.post(ctx, ch.Secret.URL, body, nil)
	if err != nil {
		return err
	}
	return robotAnswer("WeCom", resp, "errcode", "errmsg", map[int]bool{-1: true, 45009: true})
}
