package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// email sends m by SMTP to e's recipients, or else the channel's own.
//
// RFC 5321 (SMTP), RFC 3207 (STARTTLS), RFC 8314 (implicit TLS, port
// 465), RFC 4954 (AUTH; PLAIN from RFC 4616, else LOGIN). A password is
// only ever sent over TLS: with STARTTLS the upgrade must succeed. The
// message is multipart/alternative (plain text and HTML, UTF-8,
// quoted-printable) with a Message-ID made of the delivery's ID, so that
// a repeat after a stop is the same message to the mail system.
func (t *Transport) email(ctx context.Context, ch *Channel, m *Message, e Envelope) error {
	s := ch.SMTP
	to := e.Recipients
	if len(to) == 0 {
		to = s.To
	}
	if len(to) == 0 {
		return permanent("the channel has no recipients")
	}
	from, err := mail.ParseAddress(s.From)
	if err != nil {
		return permanent("the sender address %q is not valid", s.From)
	}
	msg, err := t.mailMessage(from, to, m, e)
	if err != nil {
		return permanent("compose e-mail: %v", err)
	}
	timeout := t.SMTPTimeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	addr := net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return transient("could not reach %s: %v", addr, cause(err))
	}
	defer conn.Close()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	tlsConf, err := s.tlsConfig()
	if err != nil {
		return err
	}
	if s.Security == SecurityTLS {
		tc := tls.Client(conn, tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			return smtpErr(addr, "TLS", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.Host)
	if err != nil {
		return smtpErr(addr, "greeting", err)
	}
	defer c.Close()
	if err := c.Hello(t.Hostname); err != nil {
		return smtpErr(addr, "EHLO", err)
	}
	if s.Security == SecuritySTARTTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return permanent("%s does not offer STARTTLS; choose TLS, or another port", addr)
		}
		if err := c.StartTLS(tlsConf); err != nil {
			return smtpErr(addr, "STARTTLS", err)
		}
	}
	if s.Username != "" {
		if err := c.Auth(t.auth(c, s, ch.Secret.Password)); err != nil {
			return smtpErr(addr, "AUTH", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return smtpErr(addr, "MAIL FROM", err)
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return smtpErr(addr, "RCPT TO "+rcpt, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return smtpErr(addr, "DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return smtpErr(addr, "DATA", err)
	}
	if err := w.Close(); err != nil {
		return smtpErr(addr, "DATA", err)
	}
	_ = c.Quit() // the server has taken the message; a failed goodbye changes nothing
	return nil
}

// tlsConfig trusts the system's authorities and the channel's own.
func (s SMTP) tlsConfig() (*tls.Config, error) {
	conf := &tls.Config{ServerName: s.Host, MinVersion: tls.VersionTLS12}
	if strings.TrimSpace(s.CAPEM) != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM([]byte(s.CAPEM)) {
			return nil, permanent("the channel's CA certificate is not valid PEM")
		}
		conf.RootCAs = pool
	}
	return conf, nil
}

// auth picks PLAIN, or LOGIN when the server offers only that.
func (t *Transport) auth(c *smtp.Client, s SMTP, password string) smtp.Auth {
	if ok, mechs := c.Extension("AUTH"); ok && !hasWord(mechs, "PLAIN") && hasWord(mechs, "LOGIN") {
		return &loginAuth{user: s.Username, pass: password}
	}
	return smtp.PlainAuth("", s.Username, password, s.Host)
}

func hasWord(list, w string) bool {
	for _, f := range strings.Fields(list) {
		if strings.EqualFold(f, w) {
			return true
		}
	}
	return false
}

// loginAuth is the LOGIN mechanism (draft-murchison-sasl-login): the
// server asks for the username, then the password. Like PLAIN it runs
// only over TLS.
type loginAuth struct{ user, pass string }

func (a *loginAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS {
		return "", nil, errors.New("a password is sent only over TLS")
	}
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	switch strings.ToLower(strings.TrimSpace(string(fromServer))) {
	case "username:", "user name", "username":
		return []byte(a.user), nil
	case "password:", "password":
		return []byte(a.pass), nil
	}
	return nil, fmt.Errorf("unexpected LOGIN prompt %q", fromServer)
}

// smtpErr turns an SMTP failure into a SendError: a 4xx reply is tried
// again, a 5xx one (a refused password or recipient) is permanent, and a
// broken connection is tried again.
func smtpErr(addr, step string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		if te.Code >= 500 {
			return permanent("%s refused %s: %d %s", addr, step, te.Code, te.Msg)
		}
		return transient("%s deferred %s: %d %s", addr, step, te.Code, te.Msg)
	}
	var ce *tls.CertificateVerificationError
	if errors.As(err, &ce) {
		return permanent("%s: %s: its certificate is not trusted: %v", addr, step, ce.Err)
	}
	return transient("%s: %s: %v", addr, step, cause(err))
}

// cause strips the operation and addresses that net errors repeat.
func cause(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}

// mailMessage writes m as an RFC 5322 message.
func (t *Transport) mailMessage(from *mail.Address, to []string, m *Message, e Envelope) ([]byte, error) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	domain := from.Address[strings.LastIndex(from.Address, "@")+1:]
	id := fmt.Sprintf("<rewind.%d.%d@%s>", e.EventID, e.DeliveryID, domain)
	if e.DeliveryID == 0 { // a test message: each one new
		r := make([]byte, 8)
		rand.Read(r)
		id = fmt.Sprintf("<rewind.test.%s@%s>", hex.EncodeToString(r), domain)
	}
	now := time.Now()
	if t.Now != nil {
		now = t.Now()
	}
	head := []struct{ k, v string }{
		{"From", from.String()},
		{"To", strings.Join(to, ",\r\n ")},
		{"Subject", foldWords(mime.BEncoding.Encode("utf-8", m.Title))},
		{"Date", now.Format(time.RFC1123Z)},
		{"Message-ID", id},
		{"MIME-Version", "1.0"},
		{"Content-Type", "multipart/alternative; boundary=" + mw.Boundary()},
		{"Auto-Submitted", "auto-generated"}, // RFC 3834: no auto-replies
		{"X-Rewind-Event", string(m.Event)},
	}
	var out bytes.Buffer
	for _, h := range head {
		out.WriteString(h.k + ": " + h.v + "\r\n")
	}
	out.WriteString("\r\n")
	part := func(ctype, body string) error {
		w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {ctype + "; charset=utf-8"}, "Content-Transfer-Encoding": {"quoted-printable"}})
		if err != nil {
			return err
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write([]byte(strings.ReplaceAll(body, "\n", "\r\n"))); err != nil {
			return err
		}
		return qp.Close()
	}
	if err := part("text/plain", plainText(m)); err != nil {
		return nil, err
	}
	var html bytes.Buffer
	if err := mailHTML.Execute(&html, mailView{M: m, Open: printer(m).T("Open in Rewind")}); err != nil {
		return nil, err
	}
	if err := part("text/html", html.String()); err != nil {
		return nil, err
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	out.Write(b.Bytes())
	return out.Bytes(), nil
}

// foldWords puts each encoded-word of a header on its own line (RFC 5322
// folding), so that a long subject in Chinese stays within the line limit.
func foldWords(s string) string { return strings.ReplaceAll(s, "?= =?", "?=\r\n =?") }

type mailView struct {
	M    *Message
	Open string
}

// mailHTML is the HTML part of an e-mail; html/template escapes every text.
var mailHTML = template.Must(template.New("mail").Parse(`<!DOCTYPE html>
<html lang="{{.M.Locale}}"><head><meta charset="utf-8"><title>{{.M.Title}}</title></head>
<body style="font-family: -apple-system, 'Segoe UI', 'PingFang SC', 'Microsoft YaHei', sans-serif; color: #1f2328; line-height: 1.5">
<h2 style="font-size: 16px; margin: 0 0 12px">{{.M.Title}}</h2>
{{if .M.Note}}<p style="background: #fff8c5; padding: 8px">{{.M.Note}}</p>{{end}}
<table style="border-collapse: collapse; margin-bottom: 12px">
{{range .M.Facts}}<tr><th style="text-align: left; vertical-align: top; padding: 2px 12px 2px 0; white-space: nowrap">{{.Label}}</th><td style="padding: 2px 0; white-space: pre-wrap">{{.Value}}</td></tr>
{{end}}</table>
{{if .M.Steps}}<ol style="padding-left: 20px">
{{range .M.Steps}}<li value="{{.Position}}"><strong>{{.Target}}</strong>{{if .Detail}} ({{.Detail}}){{end}} · {{.State}}{{if .Changes}}<ul>{{range .Changes}}<li><code style="word-break: break-all">{{.}}</code></li>{{end}}</ul>{{end}}</li>
{{end}}</ol>{{if .M.More}}<p>{{.M.More}}</p>{{end}}{{end}}
{{if .M.Link}}<p><a href="{{.M.Link}}">{{.Open}}</a></p>{{end}}
</body></html>
`))
