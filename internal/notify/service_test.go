package notify_test

import (
	"context"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/i18n"
	"github.com/rewindhq/rewind/internal/notify"
	"github.com/rewindhq/rewind/internal/rewind"
)

// TestChannelInputIsChecked: every field of the channel form is checked,
// with an error that says what to fix; a kept secret stays when its field
// is left blank.
func TestChannelInputIsChecked(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	svc := notify.NewService(w.store, notify.NewTransport("x"), "")
	admin := rewind.User{Username: "adam", Role: rewind.RoleAdmin}
	smtp := notify.SMTP{Host: "smtp.exmail.qq.com", Security: notify.SecuritySTARTTLS, Username: "rewind@example.com", From: "Rewind <rewind@example.com>"}
	cases := []struct {
		name string
		in   notify.ChannelInput
		want string // part of the error; "" for none
	}{
		{"slack", notify.ChannelInput{Name: "ops", Kind: notify.Slack, Locale: "en", URL: "https://hooks.slack.com/services/T1/B2/c3"}, ""},
		{"slack wrong URL", notify.ChannelInput{Name: "ops", Kind: notify.Slack, Locale: "en", URL: "https://hooks.slack.com/workflows/x"}, "looks like https://hooks.slack.com/services"},
		{"no name", notify.ChannelInput{Name: " ", Kind: notify.Slack, Locale: "en", URL: "https://hooks.slack.com/services/T1/B2/c3"}, "channel name has 1 to 100"},
		{"unknown kind", notify.ChannelInput{Name: "x", Kind: "teams", Locale: "en"}, "Choose the kind"},
		{"unknown language", notify.ChannelInput{Name: "x", Kind: notify.Slack, Locale: "fr", URL: "https://hooks.slack.com/services/T1/B2/c3"}, "language"},
		{"not http", notify.ChannelInput{Name: "x", Kind: notify.Webhook, Locale: "en", URL: "ftp://example.com/hook", SigningSecret: "0123456789abcdef"}, "http:// or https://"},
		{"dingtalk without token", notify.ChannelInput{Name: "x", Kind: notify.DingTalk, Locale: "zh-CN", URL: "https://oapi.dingtalk.com/robot/send"}, "access_token"},
		{"dingtalk secret without SEC", notify.ChannelInput{Name: "x", Kind: notify.DingTalk, Locale: "zh-CN", URL: "https://oapi.dingtalk.com/robot/send?access_token=t", SigningSecret: "abc"}, "starts with SEC"},
		{"feishu", notify.ChannelInput{Name: "飞书群", Kind: notify.Feishu, Locale: "zh-CN", URL: "https://open.feishu.cn/open-apis/bot/v2/hook/abc", SigningSecret: "s"}, ""},
		{"wecom without key", notify.ChannelInput{Name: "x", Kind: notify.WeCom, Locale: "zh-CN", URL: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"}, "key="},
		{"slack with a secret", notify.ChannelInput{Name: "x", Kind: notify.Slack, Locale: "en", URL: "https://hooks.slack.com/services/T1/B2/c3", SigningSecret: "s"}, "no signing secret"},
		{"short webhook secret", notify.ChannelInput{Name: "x", Kind: notify.Webhook, Locale: "en", URL: "https://example.com/hook", SigningSecret: "short"}, "at least 16"},
		{"email", notify.ChannelInput{Name: "mail", Kind: notify.Email, Locale: "zh-CN", SMTP: smtp, Password: "pw", To: "a@example.com, b@example.com\nc@example.com"}, ""},
		{"email without password", notify.ChannelInput{Name: "mail", Kind: notify.Email, Locale: "en", SMTP: smtp}, "SMTP password"},
		{"password without TLS", notify.ChannelInput{Name: "mail", Kind: notify.Email, Locale: "en", Password: "pw",
			SMTP: notify.SMTP{Host: "relay", Security: notify.SecurityNone, Username: "u", From: "r@example.com"}}, "only over TLS"},
		{"bad sender", notify.ChannelInput{Name: "mail", Kind: notify.Email, Locale: "en", Password: "pw", SMTP: notify.SMTP{Host: "h", Security: "tls", Username: "u", From: "rewind"}}, "not an e-mail address"},
		{"bad recipient", notify.ChannelInput{Name: "mail", Kind: notify.Email, Locale: "en", Password: "pw", SMTP: smtp, To: "ops@example.com, nobody"}, `"nobody" is not an e-mail address`},
		{"host with port", notify.ChannelInput{Name: "mail", Kind: notify.Email, Locale: "en", Password: "pw", SMTP: notify.SMTP{Host: "h:25", Security: "tls", From: "r@example.com"}}, "without port"},
		{"bad CA", notify.ChannelInput{Name: "mail", Kind: notify.Email, Locale: "en", Password: "pw", SMTP: notify.SMTP{Host: "h", Security: "tls", From: "r@example.com", CAPEM: "not pem"}}, "PEM"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.in.Name = strings.TrimSpace(c.in.Name)
			if c.in.Name != "" {
				c.in.Name += "-" + string(rune('a'+i))
			}
			ch, _, err := svc.SaveChannel(ctx, admin, 0, c.in)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(rewind.ErrorMessage(err), c.want)):
				t.Fatalf("err = %v, want one saying %q", err, c.want)
			case c.want == "" && strings.Contains(ch.Shown, "c3"):
				t.Errorf("pages would show the token: %q", ch.Shown)
			}
		})
	}
	if _, _, err := svc.SaveChannel(ctx, rewind.User{Username: "anna", Role: rewind.RoleApprover}, 0, cases[0].in); rewind.ErrorCode(err) != rewind.EFORBIDDEN {
		t.Errorf("an approver adding a channel: %v", err)
	}

	// A change with blank secrets keeps them; a second channel of the same name is refused.
	ch, _, err := svc.SaveChannel(ctx, admin, 0, notify.ChannelInput{Name: "hook", Kind: notify.Webhook, Locale: "en", URL: "https://example.com/hook?token=t0k", SigningSecret: "0123456789abcdef"})
	must(t, err)
	if ch.Shown != "https://example.com/…" {
		t.Errorf("shown %q", ch.Shown)
	}
	_, _, err = svc.SaveChannel(ctx, admin, ch.ID, notify.ChannelInput{Name: "hook renamed", Locale: "zh-CN"})
	must(t, err)
	got, err := w.store.Channel(ctx, ch.ID)
	must(t, err)
	if got.Name != "hook renamed" || got.Locale != i18n.Chinese || got.Secret.URL != "https://example.com/hook?token=t0k" || got.Secret.SigningSecret != "0123456789abcdef" {
		t.Errorf("after a change with blank secrets: %+v", got)
	}
	if _, _, err := svc.SaveChannel(ctx, admin, 0, notify.ChannelInput{Name: "hook renamed", Kind: notify.Webhook, Locale: "en", URL: "https://example.com/h", SigningSecret: "0123456789abcdef"}); rewind.ErrorCode(err) != rewind.ECONFLICT {
		t.Errorf("a second channel of the same name: %v", err)
	}
	// The secret is sealed at rest.
	var sealed []byte
	must(t, w.store.DB().QueryRow(`SELECT secret_enc FROM notify_channels WHERE id = ?`, ch.ID).Scan(&sealed))
	if strings.Contains(string(sealed), "t0k") || strings.Contains(string(sealed), "0123456789abcdef") {
		t.Error("the channel's secret is stored in the clear")
	}
}
