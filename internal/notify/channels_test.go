package notify_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/i18n"
	"github.com/rewindhq/rewind/internal/notify"
	"github.com/rewindhq/rewind/internal/notify/notifytest"
)

// sampleMessage is a message as a release rollback waiting for approval
// makes it: long image references, CJK text, characters that Markdown and
// HTML would take for their own.
func sampleMessage(l i18n.Locale) *notify.Message {
	img := "registry.cn-hangzhou.aliyuncs.com/checkout-team/payment-gateway-service:1.4.2-20260301-9f8e7d6c5b4a3"
	return &notify.Message{
		Event: notify.EventPending, Locale: l,
		Title: "[prod] Rollback #42 waits for approval: release 1.4.2 of checkout",
		Facts: []notify.Fact{{Label: "Requester", Value: "otto"},
			{Label: "Reason", Value: "支付网关 5xx 激增 <script>alert(1)</script> *not bold* [link](http://evil) & more"}},
		Steps: []notify.StepLine{{Position: 1, Target: "payments/deployment/gateway", Detail: "to version 7", State: "waiting",
			Changes: []string{"version 9 → 7", "image gateway: " + img + " → " + strings.Replace(img, "1.4.2", "1.4.1", 1)}}},
		Link: "https://rewind.example.com/requests/42",
		Data: notify.EventData{Event: notify.EventPending, Environment: "prod"},
	}
}

func TestChannelsAsVendorsDocument(t *testing.T) {
	for _, kind := range []notify.ChannelKind{notify.Slack, notify.DingTalk, notify.Feishu, notify.WeCom, notify.Webhook} {
		for _, secret := range []string{"", "SECd8f0e1c2b3a4958677a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4"} {
			if secret == "" && kind == notify.Webhook {
				continue // the generic webhook is always signed
			}
			if secret != "" && !kind.Signed() {
				continue
			}
			t.Run(string(kind)+map[bool]string{true: "/signed", false: ""}[secret != ""], func(t *testing.T) {
				rcv := notifytest.NewReceiver(t, string(kind), secret)
				ch := &notify.Channel{Name: "ops", Kind: kind, Locale: i18n.Chinese, Enabled: true,
					Secret: notify.Secret{URL: rcv.URL(), SigningSecret: secret}}
				tr := notify.NewTransport("rewind.test")
				m := sampleMessage(i18n.Chinese)
				if err := tr.Send(context.Background(), ch, m, notify.Envelope{DeliveryID: 7, EventID: 3, Attempt: 1}); err != nil {
					t.Fatalf("send: %v (receiver saw: %v)", err, rcv.Problems())
				}
				got := rcv.Messages()
				if len(got) != 1 {
					t.Fatalf("receiver took %d messages, problems %v", len(got), rcv.Problems())
				}
				for _, want := range []string{"release 1.4.2 of checkout", "otto", "支付网关 5xx 激增", "payments/deployment/gateway", "1.4.1-20260301", "version 9 → 7"} {
					if !strings.Contains(got[0].Text, want) && !strings.Contains(unescape(got[0].Text), want) {
						t.Errorf("message lacks %q:\n%s", want, got[0].Text)
					}
				}
				if kind == notify.Webhook && got[0].Header.Get("X-Rewind-Delivery") != "7" {
					t.Errorf("X-Rewind-Delivery = %q, want 7", got[0].Header.Get("X-Rewind-Delivery"))
				}
				if kind == notify.Slack && strings.Contains(got[0].Text, "<script>") {
					t.Errorf("Slack text keeps < and > unescaped: %s", got[0].Text)
				}
				if (kind == notify.DingTalk || kind == notify.WeCom) && strings.Contains(got[0].Text, "[link](http://evil)") {
					t.Errorf("people's text became a Markdown link: %s", got[0].Text)
				}
			})
		}
	}
}

// unescape undoes the escaping of Markdown and mrkdwn, to find people's text.
func unescape(s string) string {
	return strings.NewReplacer(`\`, "", "&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

func TestWrongSignatureIsRefusedForGood(t *testing.T) {
	for _, kind := range []notify.ChannelKind{notify.DingTalk, notify.Feishu, notify.Webhook} {
		t.Run(string(kind), func(t *testing.T) {
			rcv := notifytest.NewReceiver(t, string(kind), "SECthe-receivers-own-secret-0123456789")
			ch := &notify.Channel{Name: "ops", Kind: kind, Locale: i18n.English,
				Secret: notify.Secret{URL: rcv.URL(), SigningSecret: "SECa-different-secret-0123456789abcdef"}}
			err := notify.NewTransport("rewind.test").Send(context.Background(), ch, sampleMessage(i18n.English), notify.Envelope{DeliveryID: 1})
			var se *notify.SendError
			if !errors.As(err, &se) || !se.Permanent {
				t.Fatalf("send with the wrong secret: %v, want a permanent SendError", err)
			}
			if len(rcv.Messages()) != 0 || len(rcv.Problems()) != 1 {
				t.Fatalf("receiver took %d, saw problems %v", len(rcv.Messages()), rcv.Problems())
			}
		})
	}
}

func TestSendErrorsNeverShowTheWebhookToken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	for _, u := range []string{
		"http://" + addr + notifytest.DingTalkPath + "?access_token=" + notifytest.DingTalkTok,
		"http://" + addr + notifytest.SlackPath,
	} {
		ch := &notify.Channel{Name: "ops", Kind: notify.DingTalk, Secret: notify.Secret{URL: u}}
		err := notify.NewTransport("rewind.test").Send(context.Background(), ch, sampleMessage(i18n.English), notify.Envelope{})
		var se *notify.SendError
		if !errors.As(err, &se) || se.Permanent {
			t.Fatalf("send to a closed port: %v, want a transient SendError", err)
		}
		for _, secret := range []string{notifytest.DingTalkTok, "xoxSecretToken", "access_token"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows %q: %v", secret, err)
			}
		}
	}
}

func TestReceiverDownIsTransient(t *testing.T) {
	rcv := notifytest.NewReceiver(t, "slack", "")
	rcv.Fail(http.StatusServiceUnavailable)
	ch := &notify.Channel{Name: "ops", Kind: notify.Slack, Secret: notify.Secret{URL: rcv.URL()}}
	err := notify.NewTransport("rewind.test").Send(context.Background(), ch, sampleMessage(i18n.English), notify.Envelope{})
	var se *notify.SendError
	if !errors.As(err, &se) || se.Permanent {
		t.Fatalf("send to a receiver answering 503: %v, want a transient SendError", err)
	}
}

func TestEmailOverSMTP(t *testing.T) {
	cases := []struct {
		name     string
		opt      notifytest.SMTPOptions
		security string
	}{
		{"STARTTLS and AUTH PLAIN", notifytest.SMTPOptions{Username: "rewind@example.com", Password: "smtp-pässword-42"}, notify.SecuritySTARTTLS},
		{"implicit TLS and AUTH LOGIN", notifytest.SMTPOptions{Implicit: true, Username: "rewind", Password: "smtp-password-43", Mechanisms: []string{"LOGIN"}}, notify.SecurityTLS},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := notifytest.NewSMTPServer(t, c.opt)
			ch := &notify.Channel{Name: "mail", Kind: notify.Email, Locale: i18n.Chinese,
				SMTP: notify.SMTP{Host: srv.Host, Port: srv.Port, Security: c.security, Username: c.opt.Username,
					From: "Rewind <rewind@example.com>", To: []string{"ops@example.com", "lead@example.com"}, CAPEM: srv.CAPEM},
				Secret: notify.Secret{Password: c.opt.Password}}
			m := sampleMessage(i18n.Chinese)
			m.Title = "[prod] 回滚 #42 等待审批：checkout 的发布 1.4.2" + strings.Repeat("，支付网关回滚", 40)
			if err := notify.NewTransport("rewind.test").Send(context.Background(), ch, m, notify.Envelope{DeliveryID: 9, EventID: 4}); err != nil {
				t.Fatal(err)
			}
			mails := srv.Mails()
			if len(mails) != 1 {
				t.Fatalf("server took %d mails", len(mails))
			}
			got := mails[0]
			if !got.TLS || got.Authed != c.opt.Username {
				t.Errorf("TLS %v, logged in as %q; want TLS as %q", got.TLS, got.Authed, c.opt.Username)
			}
			if got.From != "rewind@example.com" || strings.Join(got.To, ",") != "ops@example.com,lead@example.com" {
				t.Errorf("envelope from %q to %v", got.From, got.To)
			}
			if got.Subject != m.Title {
				t.Errorf("Subject %q, want %q", got.Subject, m.Title)
			}
			for _, line := range strings.Split(string(got.Data), "\r\n") {
				if len(line) > 998 {
					t.Errorf("a line of %d characters, past RFC 5322's limit", len(line))
				}
			}
			if id := got.Header.Get("Message-ID"); id != "<rewind.4.9@example.com>" {
				t.Errorf("Message-ID %q", id)
			}
			for _, want := range []string{"支付网关 5xx 激增 <script>", "1.4.1-20260301", "https://rewind.example.com/requests/42"} {
				if !strings.Contains(got.Text, want) {
					t.Errorf("text part lacks %q:\n%s", want, got.Text)
				}
			}
			if strings.Contains(got.HTML, "<script>") || !strings.Contains(got.HTML, "&lt;script&gt;") {
				t.Errorf("HTML part does not escape people's text:\n%s", got.HTML)
			}
		})
	}
}

func TestEmailRefusals(t *testing.T) {
	srv := notifytest.NewSMTPServer(t, notifytest.SMTPOptions{Username: "rewind", Password: "right-password-1"})
	base := notify.SMTP{Host: srv.Host, Port: srv.Port, Security: notify.SecuritySTARTTLS, Username: "rewind",
		From: "rewind@example.com", To: []string{"ops@example.com"}, CAPEM: srv.CAPEM}
	cases := []struct {
		name     string
		smtp     func(s *notify.SMTP)
		password string
		want     string
	}{
		{"wrong password", func(*notify.SMTP) {}, "wrong-password", "refused AUTH"},
		{"untrusted certificate", func(s *notify.SMTP) { s.CAPEM = "" }, "right-password-1", "not trusted"},
		{"TLS to a STARTTLS port", func(s *notify.SMTP) { s.Security = notify.SecurityTLS }, "right-password-1", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := base
			c.smtp(&s)
			ch := &notify.Channel{Name: "mail", Kind: notify.Email, SMTP: s, Secret: notify.Secret{Password: c.password}}
			tr := notify.NewTransport("rewind.test")
			tr.SMTPTimeout = 5 * time.Second
			err := tr.Send(context.Background(), ch, sampleMessage(i18n.English), notify.Envelope{DeliveryID: 1})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one saying %q", err, c.want)
			}
			if strings.Contains(err.Error(), c.password) {
				t.Errorf("error shows the password: %v", err)
			}
			if len(srv.Mails()) != 0 {
				t.Errorf("the server took a mail")
			}
		})
	}
}

func TestBackoffGrowsWithJitter(t *testing.T) {
	b := notify.DefaultBackoff
	prev := time.Duration(0)
	for n := 1; n <= b.MaxAttempts; n++ {
		lo, hi := b.Delay(n, 0), b.Delay(n, 0.999999)
		if lo < prev/2 || hi > b.Max || lo*2 < hi-time.Second {
			t.Errorf("attempt %d: delay between %v and %v", n, lo, hi)
		}
		prev = hi
	}
	if got := b.Delay(1, 0); got != b.Base/2 {
		t.Errorf("first delay at least %v, want %v", got, b.Base/2)
	}
	if got := b.Delay(30, 0.999999); got > b.Max {
		t.Errorf("delay after 30 attempts %v exceeds %v", got, b.Max)
	}
}
