package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strconv"
	"time"
)

// dingtalk posts m to a DingTalk custom robot as Markdown.
//
// https://open.dingtalk.com/document/robots/custom-robot-access and
// https://open.dingtalk.com/document/robots/message-types-and-data-format:
// POST {"msgtype": "markdown", "markdown": {"title": …, "text": …}}; the
// answer is {"errcode": 0, "errmsg": "ok"}, another errcode on failure
// (130101 and 410100: sending too fast, at most 20 messages a minute).
// A robot with keywords takes only messages holding one: the title
// always starts with "Rewind".
func (t *Transport) dingtalk(ctx context.Context, ch *Channel, m *Message) error {
	p := printer(m)
	body, err := json.Marshal(map[string]any{
		"msgtype":  "markdown",
		"markdown": map[string]string{"title": "Rewind: " + m.Title, "text": markdown(m, mdEscape) + "\n\n" + p.T("— Rewind")},
	})
	if err != nil {
		return permanent("encode message: %v", err)
	}
	target := ch.Secret.URL
	if ch.Secret.SigningSecret != "" {
		if target, err = dingtalkSigned(target, ch.Secret.SigningSecret, t.Now()); err != nil {
			return err
		}
	}
	_, resp, err := t.post(ctx, target, body, nil)
	if err != nil {
		return err
	}
	return robotAnswer("DingTalk", resp, "errcode", "errmsg", map[int]bool{-1: true, 130101: true, 410100: true})
}

// dingtalkSigned adds the timestamp and sign parameters of a robot with
// "加签" (signing) on.
//
// https://open.dingtalk.com/document/robots/customize-robot-security-settings:
// timestamp is the time in milliseconds (within an hour of DingTalk's);
// the string to sign is timestamp + "\n" + secret, signed by HmacSHA256
// with the secret as key, then Base64-encoded and URL-encoded (UTF-8).
func dingtalkSigned(rawURL, secret string, now time.Time) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", permanent("the channel's URL is not valid")
	}
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	q := u.Query()
	q.Set("timestamp", ts)
	q.Set("sign", DingTalkSign(ts, secret))
	u.RawQuery = q.Encode() // URL-encodes the Base64 signature
	return u.String(), nil
}

// DingTalkSign is the Base64 signature of timestamp (milliseconds, as
// text) with a robot's secret, before URL encoding.
func DingTalkSign(timestamp, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp + "\n" + secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
