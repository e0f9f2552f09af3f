// Package notifytest holds receivers for tests of notifications: an HTTP
// server per chat robot and for the generic webhook, each checking the
// body's shape and the signature the way its vendor documents it, and a
// real SMTP server (github.com/emersion/go-smtp) with STARTTLS or TLS and
// AUTH. The checks are written from the vendors' documents, apart from
// Rewind's own code, so that a mistake in either shows.
package notifytest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Message is one message a receiver took.
type Message struct {
	At     time.Time
	Header http.Header
	Query  url.Values
	Body   []byte
	JSON   map[string]any
	// Text is everything a person would read of the message, joined.
	Text string
	// Repeat is true for a generic webhook delivery seen before.
	Repeat bool
}

// Receiver is a local stand-in for one kind of webhook.
type Receiver struct {
	Kind   string // slack, dingtalk, feishu, wecom or webhook
	Secret string // the signing secret, "" when the robot signs nothing
	srv    *httptest.Server

	mu       sync.Mutex
	got      []Message
	problems []string
	seen     map[string]bool
	status   int           // when not 0, answer with this status and take nothing
	hang     chan struct{} // when not nil, hold each request until it closes
	arrived  chan struct{} // a request came in
	taken    chan struct{} // a message was taken
	now      func() time.Time
}

// The paths and tokens the receivers answer on, shaped like the vendors'.
const (
	SlackPath    = "/services/T0REWIND/B0REWIND/xoxSecretToken"
	DingTalkPath = "/robot/send"
	DingTalkTok  = "dingSecretAccessToken"
	FeishuPath   = "/open-apis/bot/v2/hook/feishu-secret-hook-id"
	WeComPath    = "/cgi-bin/webhook/send"
	WeComKey     = "wecom-secret-key"
	WebhookPath  = "/hooks/rewind"
)

// NewReceiver starts a receiver of kind, checking signatures with secret.
func NewReceiver(t testing.TB, kind, secret string) *Receiver {
	r := &Receiver{Kind: kind, Secret: secret, seen: map[string]bool{}, arrived: make(chan struct{}, 1000),
		taken: make(chan struct{}, 1000), now: time.Now}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

// Close stops the receiver; messages sent to it then fail to connect.
func (r *Receiver) Close() {
	r.mu.Lock()
	if r.hang != nil {
		close(r.hang)
		r.hang = nil
	}
	r.mu.Unlock()
	r.srv.Close()
}

// URL is the webhook URL to give Rewind.
func (r *Receiver) URL() string {
	base := r.srv.URL
	switch r.Kind {
	case "slack":
		return base + SlackPath
	case "dingtalk":
		return base + DingTalkPath + "?access_token=" + DingTalkTok
	case "feishu":
		return base + FeishuPath
	case "wecom":
		return base + WeComPath + "?key=" + WeComKey
	}
	return base + WebhookPath
}

// Fail makes the receiver answer every request with status (503: down for
// a while) and take nothing; 0 makes it take messages again.
func (r *Receiver) Fail(status int) {
	r.mu.Lock()
	r.status = status
	r.mu.Unlock()
}

// Hang makes the receiver take each message, then hold its answer until
// Release (or until the sender goes away): the sender cannot know that the
// message arrived.
func (r *Receiver) Hang() {
	r.mu.Lock()
	if r.hang == nil {
		r.hang = make(chan struct{})
	}
	r.mu.Unlock()
}

// Release answers the held requests and stops holding new ones.
func (r *Receiver) Release() {
	r.mu.Lock()
	if r.hang != nil {
		close(r.hang)
		r.hang = nil
	}
	r.mu.Unlock()
}

// Messages returns the messages taken so far.
func (r *Receiver) Messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.got...)
}

// Problems lists what the receiver found wrong in requests it refused.
func (r *Receiver) Problems() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.problems...)
}

// Wait waits until the receiver has taken n messages or timeout passes,
// and returns what it has.
func (r *Receiver) Wait(n int, timeout time.Duration) []Message {
	deadline := time.After(timeout)
	for {
		if got := r.Messages(); len(got) >= n {
			return got
		}
		select {
		case <-r.taken:
		case <-deadline:
			return r.Messages()
		}
	}
}

// Arrived is signalled each time a request comes in, taken or not.
func (r *Receiver) Arrived() <-chan struct{} { return r.arrived }

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	select {
	case r.arrived <- struct{}{}:
	default:
	}
	r.mu.Lock()
	hang, status := r.hang, r.status
	r.mu.Unlock()
	body, _ := io.ReadAll(req.Body)
	if hang != nil {
		defer func() {
			select {
			case <-hang:
			case <-req.Context().Done():
			}
		}()
	}
	if status != 0 {
		http.Error(w, "unavailable", status)
		return
	}
	m := Message{At: r.now(), Header: req.Header.Clone(), Query: req.URL.Query(), Body: body}
	var problem string
	switch {
	case req.Method != http.MethodPost:
		problem = "method " + req.Method
	case !strings.HasPrefix(req.Header.Get("Content-Type"), "application/json"):
		problem = "Content-Type " + req.Header.Get("Content-Type")
	case json.Unmarshal(body, &m.JSON) != nil:
		problem = "body is not a JSON object"
	default:
		problem = r.check(req, &m)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if problem != "" {
		r.problems = append(r.problems, problem)
		r.refuse(w, problem)
		return
	}
	if r.Kind == "webhook" {
		id := req.Header.Get("X-Rewind-Delivery")
		m.Repeat = id != "0" && r.seen[id]
		r.seen[id] = true
	}
	r.got = append(r.got, m)
	select {
	case r.taken <- struct{}{}:
	default:
	}
	r.accept(w)
}

// check verifies a request as the vendor documents it and fills m.Text.
func (r *Receiver) check(req *http.Request, m *Message) string {
	now := r.now()
	switch r.Kind {
	case "slack":
		// https://api.slack.com/messaging/webhooks: {"text": "…"}.
		if req.URL.Path != SlackPath {
			return "path " + req.URL.Path
		}
		text, _ := m.JSON["text"].(string)
		if text == "" {
			return "no_text"
		}
		m.Text = text
	case "dingtalk":
		// https://open.dingtalk.com/document/robots/custom-robot-access
		if req.URL.Path != DingTalkPath || m.Query.Get("access_token") != DingTalkTok {
			return "300001 token is not exist"
		}
		if r.Secret != "" {
			// https://open.dingtalk.com/document/robots/customize-robot-security-settings:
			// sign = urlEncode(base64(HmacSHA256(key=secret, timestamp+"\n"+secret))),
			// timestamp in milliseconds, within an hour.
			ts := m.Query.Get("timestamp")
			ms, err := strconv.ParseInt(ts, 10, 64)
			if err != nil || len(ts) != 13 || now.Sub(time.UnixMilli(ms)).Abs() > time.Hour {
				return "310000 invalid timestamp " + ts
			}
			mac := hmac.New(sha256.New, []byte(r.Secret))
			mac.Write([]byte(ts + "\n" + r.Secret))
			want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
			if !rawParam(req.URL.RawQuery, "sign", url.QueryEscape(want)) {
				return "310000 sign not match: raw query " + req.URL.RawQuery
			}
		}
		if m.JSON["msgtype"] != "markdown" {
			return fmt.Sprintf("msgtype %v", m.JSON["msgtype"])
		}
		md, _ := m.JSON["markdown"].(map[string]any)
		title, _ := md["title"].(string)
		text, _ := md["text"].(string)
		if title == "" || text == "" {
			return "markdown without title or text"
		}
		m.Text = title + "\n" + text
	case "feishu":
		// https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot
		if req.URL.Path != FeishuPath {
			return "path " + req.URL.Path
		}
		if r.Secret != "" {
			// sign = base64(HmacSHA256(key=timestamp+"\n"+secret, data="")),
			// timestamp in seconds within an hour, both in the body.
			ts, _ := m.JSON["timestamp"].(string)
			sec, err := strconv.ParseInt(ts, 10, 64)
			if err != nil || now.Sub(time.Unix(sec, 0)).Abs() > time.Hour {
				return "19021 timestamp is not within one hour: " + ts
			}
			mac := hmac.New(sha256.New, []byte(ts+"\n"+r.Secret))
			if sign, _ := m.JSON["sign"].(string); sign != base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
				return "19021 sign match fail"
			}
		}
		if m.JSON["msg_type"] != "post" {
			return fmt.Sprintf("msg_type %v", m.JSON["msg_type"])
		}
		content, _ := m.JSON["content"].(map[string]any)
		post, _ := content["post"].(map[string]any)
		if len(post) != 1 {
			return "post must hold one language"
		}
		for lang, v := range post {
			if lang != "zh_cn" && lang != "en_us" {
				return "post language " + lang
			}
			p, _ := v.(map[string]any)
			title, _ := p["title"].(string)
			paras, ok := p["content"].([]any)
			if title == "" || !ok || len(paras) == 0 {
				return "post without title or content"
			}
			var b strings.Builder
			b.WriteString(title + "\n")
			for _, para := range paras {
				tags, ok := para.([]any)
				if !ok {
					return "a paragraph is not a list of tags"
				}
				for _, tag := range tags {
					tm, _ := tag.(map[string]any)
					switch tm["tag"] {
					case "text":
						b.WriteString(fmt.Sprint(tm["text"]))
					case "a":
						b.WriteString(fmt.Sprint(tm["text"]) + " " + fmt.Sprint(tm["href"]))
					default:
						return fmt.Sprintf("tag %v", tm["tag"])
					}
				}
				b.WriteString("\n")
			}
			m.Text = b.String()
		}
	case "wecom":
		// https://developer.work.weixin.qq.com/document/path/91770
		if req.URL.Path != WeComPath || m.Query.Get("key") != WeComKey {
			return "93000 invalid webhook url"
		}
		md, _ := m.JSON["markdown"].(map[string]any)
		content, _ := md["content"].(string)
		if m.JSON["msgtype"] != "markdown" || content == "" {
			return "markdown.content missing"
		}
		if len(content) > 4096 {
			return fmt.Sprintf("40058 markdown.content exceeds 4096 bytes: %d", len(content))
		}
		m.Text = content
	case "webhook":
		// docs/notifications.md: X-Rewind-Signature = "sha256=" +
		// hex(HMAC-SHA256(secret, timestamp + "." + body)); the timestamp
		// within five minutes.
		ts := req.Header.Get("X-Rewind-Timestamp")
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || now.Sub(time.Unix(sec, 0)).Abs() > 5*time.Minute {
			return "stale or missing timestamp " + ts
		}
		mac := hmac.New(sha256.New, []byte(r.Secret))
		mac.Write([]byte(ts + "."))
		mac.Write(m.Body)
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		if !hmac.Equal([]byte(req.Header.Get("X-Rewind-Signature")), []byte(want)) {
			return "bad signature"
		}
		if req.Header.Get("X-Rewind-Delivery") == "" || req.Header.Get("X-Rewind-Event") == "" {
			return "no delivery or event header"
		}
		title, _ := m.JSON["title"].(string)
		text, _ := m.JSON["text"].(string)
		if title == "" || text == "" || m.JSON["event"] != req.Header.Get("X-Rewind-Event") {
			return "body without title, text or the event of its header"
		}
		m.Text = text
	default:
		return "unknown kind " + r.Kind
	}
	return ""
}

// rawParam reports whether the raw query holds name=value exactly as sent.
func rawParam(raw, name, value string) bool {
	for _, kv := range strings.Split(raw, "&") {
		if kv == name+"="+value {
			return true
		}
	}
	return false
}

// accept answers as the vendor does on success.
func (r *Receiver) accept(w http.ResponseWriter) {
	switch r.Kind {
	case "slack":
		io.WriteString(w, "ok")
	case "dingtalk", "wecom":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
	case "feishu":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"StatusCode":0,"StatusMessage":"success","code":0,"data":{},"msg":"success"}`)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// refuse answers as the vendor does on a bad request.
func (r *Receiver) refuse(w http.ResponseWriter, problem string) {
	switch r.Kind {
	case "slack":
		http.Error(w, "invalid_payload", http.StatusBadRequest)
	case "dingtalk", "wecom":
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"errcode": 310000, "errmsg": problem})
	case "feishu":
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"code": 19021, "msg": problem, "data": map[string]any{}})
	default:
		http.Error(w, problem, http.StatusUnauthorized)
	}
}

// DecodeHeader decodes an RFC 2047 header such as a Subject.
func DecodeHeader(s string) string {
	d, err := new(mime.WordDecoder).DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}
