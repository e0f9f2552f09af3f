package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
)

// The headers of the generic webhook; docs/notifications.md tells
// receivers how to verify them.
const (
	HeaderEvent     = "X-Rewind-Event"
	HeaderDelivery  = "X-Rewind-Delivery"
	HeaderAttempt   = "X-Rewind-Attempt"
	HeaderTimestamp = "X-Rewind-Timestamp"
	HeaderSignature = "X-Rewind-Signature"
)

// WebhookBody is the JSON body of the generic webhook.
type WebhookBody struct {
	// Delivery is the delivery's ID: the same on every attempt, so that a
	// receiver can drop repeats (0 for a test message).
	Delivery int64  `json:"delivery"`
	Attempt  int    `json:"attempt"`
	Title    string `json:"title"`
	// Text is the message as people read it, in the channel's language.
	Text string `json:"text"`
	EventData
}

// webhook posts m to a generic webhook, signed.
//
// The body is WebhookBody. X-Rewind-Timestamp is the time of sending in
// Unix seconds; X-Rewind-Signature is "sha256=" and the hex HMAC-SHA256,
// keyed with the channel's secret, of the timestamp, a dot and the body:
// a receiver recomputes it, compares in constant time, refuses timestamps
// more than five minutes off (replays) and drops a Delivery it has seen.
// Any 2xx answer means received.
func (t *Transport) webhook(ctx context.Context, ch *Channel, m *Message, e Envelope) error {
	body, err := json.Marshal(WebhookBody{Delivery: e.DeliveryID, Attempt: e.Attempt, Title: m.Title, Text: plainText(m), EventData: m.Data})
	if err != nil {
		return permanent("encode message: %v", err)
	}
	ts := strconv.FormatInt(t.Now().Unix(), 10)
	h := http.Header{}
	h.Set(HeaderEvent, string(m.Event))
	h.Set(HeaderDelivery, strconv.FormatInt(e.DeliveryID, 10))
	h.Set(HeaderAttempt, strconv.Itoa(e.Attempt))
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderSignature, WebhookSignature(ch.Secret.SigningSecret, ts, body))
	_, _, err = t.post(ctx, ch.Secret.URL, body, h)
	return err
}

// WebhookSignature is the X-Rewind-Signature of body sent at timestamp.
func WebhookSignature(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
