package replicas

import (
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/rewindhq/rewind/internal/postgres"
)

// Bus carries small messages between the replicas of one store, and to
// the replica that sends them. A message is a topic and a JSON payload of
// a few kilobytes at most. Delivery between replicas is at most once: a
// replica cut off from the store for a while misses what was said meanwhile
// and is told it reconnected (OnReconnect), so that it can catch up.
type Bus struct {
	origin string
	log    *slog.Logger

	// Between replicas (PostgreSQL); nil for one replica alone.
	url     string
	db      *sql.DB
	channel string
	out     chan []byte

	mu        sync.Mutex
	subs      map[string][]func(json.RawMessage)
	reconnect []func()
}

// NewLocalBus returns the bus of a replica alone (a SQLite store):
// messages reach this process's subscribers only.
func NewLocalBus(log *slog.Logger) *Bus {
	return &Bus{log: log, subs: map[string][]func(json.RawMessage){}}
}

// NewPostgresBus returns a bus between the replicas of the PostgreSQL
// store at url, whose database handle db sends the messages.
func NewPostgresBus(ctx context.Context, url string, db *sql.DB, log *slog.Logger) (*Bus, error) {
	channel, err := postgres.Channel(ctx, db)
	if err != nil {
		return nil, err
	}
	return &Bus{origin: Identity(), log: log, url: url, db: db, channel: channel, out: make(chan []byte, 1024),
		subs: map[string][]func(json.RawMessage){}}, nil
}

// Subscribe calls fn with the payload of every message on topic, from any
// replica. fn must not block.
func (b *Bus) Subscribe(topic string, fn func(payload json.RawMessage)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs[topic] = append(b.subs[topic], fn)
}

// OnReconnect calls fn each time the bus listens to the other replicas
// again after it could not for a while.
func (b *Bus) OnReconnect(fn func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reconnect = append(b.reconnect, fn)
}

// message is a message between replicas.
type message struct {
	Origin  string          `json:"o"`
	Topic   string          `json:"t"`
	Payload json.RawMessage `json:"p,omitempty"`
}

// maxMessage is the largest message PostgreSQL carries (8000 bytes), less
// room for the envelope.
const maxMessage = 7900

// Publish sends payload (JSON; nil for none) on topic: at once to this
// replica's subscribers, and in the background to the other replicas'.
func (b *Bus) Publish(topic string, payload any) {
	raw, ok := b.encode(topic, payload)
	if !ok {
		return
	}
	b.deliver(topic, raw)
	b.send(topic, raw)
}

// PublishOthers sends payload on topic to the other replicas only.
func (b *Bus) PublishOthers(topic string, payload any) {
	if raw, ok := b.encode(topic, payload); ok {
		b.send(topic, raw)
	}
}

func (b *Bus) encode(topic string, payload any) (json.RawMessage, bool) {
	if payload == nil {
		return nil, true
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		b.log.Error("message to replicas", "topic", topic, "err", err)
		return nil, false
	}
	return raw, true
}

// send queues a message for the other replicas.
func (b *Bus) send(topic string, raw json.RawMessage) {
	if b.out == nil {
		return
	}
	msg, _ := json.Marshal(message{Origin: b.origin, Topic: topic, Payload: raw})
	if len(msg) > maxMessage {
		b.log.Warn("message too long for the other replicas", "topic", topic, "bytes", len(msg))
		return
	}
	select {
	case b.out <- msg:
	default:
		b.log.Warn("messages to the other replicas pile up; one is dropped", "topic", topic)
	}
}

func (b *Bus) deliver(topic string, payload json.RawMessage) {
	b.mu.Lock()
	subs := b.subs[topic]
	b.mu.Unlock()
	for _, fn := range subs {
		fn(payload)
	}
}

// Run carries messages between the replicas until ctx ends.
func (b *Bus) Run(ctx context.Context) {
	if b.out == nil {
		<-ctx.Done()
		return
	}
	go b.notify(ctx)
	first := true
	postgres.Listen(ctx, b.url, b.channel, b.log, func() {
		if first {
			first = false
			return
		}
		b.mu.Lock()
		fns := append([]func(){}, b.reconnect...)
		b.mu.Unlock()
		for _, fn := range fns {
			fn()
		}
	}, func(payload string) {
		var m message
		if err := json.Unmarshal([]byte(payload), &m); err != nil || m.Origin == b.origin {
			return // not ours to read, or our own
		}
		b.deliver(m.Topic, m.Payload)
	})
}

// notify notifies the other replicas of each message, in order.
func (b *Bus) notify(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-b.out:
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := postgres.Notify(sctx, b.db, b.channel, string(msg)); err != nil && ctx.Err() == nil {
				b.log.Warn("message to the other replicas lost", "err", err)
			}
			cancel()
		}
	}
}
