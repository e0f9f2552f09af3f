// Package nacostest runs a stand-in Nacos server for tests: an HTTP server for login, config
// listing and the v1, v2 and v3 history endpoints, and a gRPC server that answers the requests
// nacos-sdk-go v2 sends. It keeps configs and their history the way Nacos stores them and can
// imitate Nacos 1.x, 2.x and 3.x, a console edit, and a server that is down, refuses the
// password or answers garbage.
package nacostest

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
)

// Mode selects which Nacos major version the stand-in imitates.
type Mode int

// The imitated Nacos major versions.
const (
	// Mode1 imitates Nacos 1.x: HTTP only, no gRPC port, only the v1 API.
	Mode1 Mode = 1
	// Mode2 imitates Nacos 2.x: gRPC on HTTP port + 1000, v1 API, and the v2 API from 2.2 on.
	Mode2 Mode = 2
	// Mode3 imitates Nacos 3.x: gRPC, the v3 admin API; v1 and v2 config endpoints answer 410.
	Mode3 Mode = 3
)

// TimeFormat selects how the v1 and v2 history answers write times.
type TimeFormat int

// The time formats Nacos servers are seen to use.
const (
	// TimeDefault uses "2006-01-02T15:04:05.000-0700" on v1 and "...-07:00" on v2.
	TimeDefault TimeFormat = iota
	// TimeMillis writes epoch milliseconds as a JSON number.
	TimeMillis
	// TimeISO writes "2024-01-02T15:04:05.000+08:00".
	TimeISO
	// TimeISONoColon writes "2024-01-02T15:04:05.000+0800".
	TimeISONoColon
	// TimeSQL writes "2024-01-02 15:04:05" in the local time zone, without a zone.
	TimeSQL
)

// Failure is a way the stand-in can misbehave.
type Failure int

// The failures the stand-in can imitate.
const (
	// Healthy answers normally.
	Healthy Failure = iota
	// Down closes both ports: every connection is refused.
	Down
	// RefuseLogin refuses every login and every token handed out before.
	RefuseLogin
	// Garbage answers every HTTP request with an HTML page and every gRPC request with a body
	// that is not JSON.
	Garbage
)

// Default credentials of the stand-in, the same as a fresh Nacos.
const (
	DefaultUsername = "nacos"
	DefaultPassword = "nacos"
)

// Options configures a stand-in server.
type Options struct {
	// Mode is the imitated major version; Mode2 when zero.
	Mode Mode
	// Version is the full version reported by the server state endpoints; a sensible one for
	// the mode when empty. For Mode2 a version below 2.2 has no v2 HTTP API.
	Version string
	// Username and Password are the accepted credentials; DefaultUsername and
	// DefaultPassword when empty.
	Username, Password string
	// ContextPath is the HTTP path prefix; "/nacos" when empty.
	ContextPath string
	// MaxPageSize caps the page size of list answers, as Nacos caps it at 500; 500 when zero.
	MaxPageSize int
	// TimeFormat is how v1 and v2 history answers write times.
	TimeFormat TimeFormat
	// Now is the clock used for history rows; time.Now when nil.
	Now func() time.Time
	// TLS serves HTTP and gRPC over TLS, with a certificate for 127.0.0.1 and localhost
	// signed by an authority made for this server (see CAFile).
	TLS bool
}

// Key names one config.
type Key struct {
	Namespace, Group, DataID string
}

// HistoryRow is one row of the stand-in's history table, stored the way Nacos stores it: a U
// row holds the content before the update, I and D rows the inserted or deleted content.
type HistoryRow struct {
	ID          int64
	Key         Key
	Op          string // "I", "U" or "D", unpadded
	Content     string
	MD5         string
	SrcUser     string
	SrcIP       string
	At          time.Time
	PublishType string // "formal", or "gray" for a gray release
}

type config struct {
	id       int64
	content  string
	md5      string
	typ      string
	appName  string
	created  time.Time
	modified time.Time
}

// Server is a running stand-in Nacos server.
type Server struct {
	t    testing.TB
	opts Options

	httpPort int

	tls    *tls.Config // nil without Options.TLS
	caPEM  []byte
	caFile string

	mu        sync.Mutex
	serving   bool
	httpLn    net.Listener
	httpSrv   *http.Server
	grpcLn    net.Listener
	grpcSrv   *grpc.Server
	failure   Failure
	noPush    bool
	configs   map[Key]*config
	history   []*HistoryRow
	nextNID   int64
	nextID    int64
	tokens    map[string]bool
	conns     map[string]*grpcConn
	connSeq   int
	counts    map[string]int
	onPublish func(Key)
}

// Start starts a stand-in server on 127.0.0.1 and stops it when the test ends. It binds a free
// HTTP port P and, unless the mode is Mode1, gRPC on P+1000, the port nacos-sdk-go derives.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Mode == 0 {
		opts.Mode = Mode2
	}
	if opts.Version == "" {
		opts.Version = map[Mode]string{Mode1: "1.4.3", Mode2: "2.3.2", Mode3: "3.0.2"}[opts.Mode]
	}
	if opts.Username == "" {
		opts.Username = DefaultUsername
	}
	if opts.Password == "" {
		opts.Password = DefaultPassword
	}
	if opts.ContextPath == "" {
		opts.ContextPath = "/nacos"
	}
	opts.ContextPath = "/" + strings.Trim(opts.ContextPath, "/")
	if opts.MaxPageSize <= 0 {
		opts.MaxPageSize = 500
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		t:       t,
		opts:    opts,
		configs: map[Key]*config{},
		tokens:  map[string]bool{},
		conns:   map[string]*grpcConn{},
		counts:  map[string]int{},
	}
	if opts.TLS {
		if err := s.setupTLS(); err != nil {
			t.Fatalf("nacostest: %v", err)
		}
	}
	httpLn, grpcLn, err := listenPair(opts.Mode != Mode1)
	if err != nil {
		t.Fatalf("nacostest: %v", err)
	}
	s.httpPort = httpLn.Addr().(*net.TCPAddr).Port
	s.mu.Lock()
	s.serveLocked(httpLn, grpcLn)
	s.mu.Unlock()
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.stopLocked()
	})
	return s
}

// listenPair binds a free HTTP port P and, when withGRPC, also P+1000.
func listenPair(withGRPC bool) (httpLn, grpcLn net.Listener, err error) {
	for range 100 {
		httpLn, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("listen: %w", err)
		}
		if !withGRPC {
			return httpLn, nil, nil
		}
		port := httpLn.Addr().(*net.TCPAddr).Port
		if port+1000 <= 65535 {
			grpcLn, err = net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+1000))
			if err == nil {
				return httpLn, grpcLn, nil
			}
		}
		_ = httpLn.Close()
	}
	return nil, nil, errors.New("no free port P with P+1000 free")
}

func (s *Server) serveLocked(httpLn, grpcLn net.Listener) {
	if s.tls != nil {
		httpLn = tls.NewListener(httpLn, s.httpTLS())
	}
	s.httpLn = httpLn
	s.httpSrv = &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)} // refused TLS handshakes are expected in tests
	go func(srv *http.Server, ln net.Listener) { _ = srv.Serve(ln) }(s.httpSrv, httpLn)
	if grpcLn != nil {
		s.grpcLn = grpcLn
		s.grpcSrv = newGRPCServer(s)
		go func(srv *grpc.Server, ln net.Listener) { _ = srv.Serve(ln) }(s.grpcSrv, grpcLn)
	}
	s.serving = true
}

func (s *Server) stopLocked() {
	if !s.serving {
		return
	}
	s.serving = false
	_ = s.httpSrv.Close()
	if s.grpcSrv != nil {
		// Stop closes the streams; their handlers remove themselves from s.conns, so the
		// lock is released while waiting for them.
		srv := s.grpcSrv
		s.grpcSrv = nil
		s.mu.Unlock()
		srv.Stop()
		s.mu.Lock()
	}
}

// Addr is the HTTP address, host:port, to register in Rewind.
func (s *Server) Addr() string {
	return "127.0.0.1:" + strconv.Itoa(s.httpPort)
}

// GRPCAddr is the gRPC address, host:port; the port is the HTTP port + 1000.
func (s *Server) GRPCAddr() string {
	return "127.0.0.1:" + strconv.Itoa(s.httpPort+1000)
}

// Username is the accepted user name.
func (s *Server) Username() string { return s.opts.Username }

// Password is the accepted password.
func (s *Server) Password() string { return s.opts.Password }

// Fail makes the server misbehave in the given way from now on; Healthy heals it, reopening
// the ports after Down.
func (s *Server) Fail(f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == RefuseLogin {
		clear(s.tokens)
	}
	s.failure = f
	switch {
	case f == Down && s.serving:
		s.stopLocked()
	case f != Down && !s.serving:
		httpLn, err := net.Listen("tcp", s.Addr())
		if err != nil {
			s.t.Errorf("nacostest: reopen HTTP port: %v", err)
			return
		}
		var grpcLn net.Listener
		if s.opts.Mode != Mode1 {
			grpcLn, err = net.Listen("tcp", s.GRPCAddr())
			if err != nil {
				_ = httpLn.Close()
				s.t.Errorf("nacostest: reopen gRPC port: %v", err)
				return
			}
		}
		s.serveLocked(httpLn, grpcLn)
	}
}

// SetPush turns the server push of config changes to listening clients on (the default) or
// off, to test the clients' periodic checks.
func (s *Server) SetPush(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noPush = !on
}

// Seed creates or replaces a config with the given Nacos type, recording history as Nacos does.
func (s *Server) Seed(key Key, typ, content string) {
	s.publish(key, typ, content, DefaultUsername, "127.0.0.1", true)
}

// Publish changes a config as a user of the Nacos console would: it keeps the config's type,
// records history and pushes a change notification to listening clients.
func (s *Server) Publish(key Key, content string) {
	s.publish(key, "", content, DefaultUsername, "127.0.0.1", true)
}

// PublishGray records a gray release of a config, which Nacos 2.5+ and 3.x keep in history
// with publish type "gray" without changing the formal content.
func (s *Server) PublishGray(key Key, content string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.normKey(key)
	op := "I"
	if s.grayExistsLocked(k) {
		op = "U"
	}
	s.addHistoryLocked(k, op, content, DefaultUsername, "127.0.0.1", "gray")
}

// Delete deletes a config as a user of the Nacos console would.
func (s *Server) Delete(key Key) {
	s.remove(key, DefaultUsername, "127.0.0.1")
}

// Config returns a config's content and type, and whether it exists.
func (s *Server) Config(key Key) (content, typ string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.configs[s.normKey(key)]
	if !ok {
		return "", "", false
	}
	return c.content, c.typ, true
}

// History returns a config's history rows, newest first.
func (s *Server) History(key Key) []HistoryRow {
	s.mu.Lock()
	defer s.mu.Unlock()
	var rows []HistoryRow
	for _, r := range s.historyLocked(s.normKey(key)) {
		rows = append(rows, *r)
	}
	return rows
}

// Listening says whether some gRPC client listens to a config's changes.
func (s *Server) Listening(key Key) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.normKey(key)
	for _, c := range s.conns {
		if _, ok := c.listens[k]; ok {
			return true
		}
	}
	return false
}

// BeforePublish sets a function the server calls when a ConfigPublishRequest arrives, before
// it compares md5 and writes; a test can change the config there to lose a race.
func (s *Server) BeforePublish(f func(Key)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onPublish = f
}

// Count says how many requests of one kind the server received: "grpc:" followed by the
// request type (e.g. "grpc:ConfigPublishRequest"), or "http:" followed by the method and path
// without the context path (e.g. "http:GET /v1/cs/history"), or "history-page" for each page
// of a history listing served by any API.
func (s *Server) Count(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[name]
}

func (s *Server) count(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[name]++
}

// normKey maps the two spellings of the default namespace to the one the mode stores.
func (s *Server) normKey(k Key) Key {
	if k.Namespace == "" || strings.EqualFold(k.Namespace, "public") {
		k.Namespace = ""
		if s.opts.Mode == Mode3 {
			k.Namespace = "public"
		}
	}
	if k.Group == "" {
		k.Group = "DEFAULT_GROUP"
	}
	return k
}

func (s *Server) now() time.Time {
	return s.opts.Now().Truncate(time.Millisecond)
}

// publish writes a config; typ "" keeps the current type (or "text" for a new config).
func (s *Server) publish(key Key, typ, content, srcUser, srcIP string, push bool) {
	s.mu.Lock()
	k := s.normKey(key)
	s.writeLocked(k, typ, content, srcUser, srcIP)
	targets := s.listenersLocked(k, push)
	s.mu.Unlock()
	notify(targets, k)
}

func (s *Server) writeLocked(k Key, typ, content, srcUser, srcIP string) {
	now := s.now()
	c, ok := s.configs[k]
	if !ok {
		s.nextID++
		if typ == "" {
			typ = "text"
		}
		s.configs[k] = &config{id: s.nextID, content: content, md5: md5Hex(content), typ: typ, created: now, modified: now}
		s.addHistoryLocked(k, "I", content, srcUser, srcIP, "formal")
		return
	}
	// A U row holds the content before the update.
	s.addHistoryLocked(k, "U", c.content, srcUser, srcIP, "formal")
	c.content, c.md5, c.modified = content, md5Hex(content), now
	if typ != "" {
		c.typ = typ
	}
}

func (s *Server) remove(key Key, srcUser, srcIP string) {
	s.mu.Lock()
	k := s.normKey(key)
	targets := s.removeLocked(k, srcUser, srcIP)
	s.mu.Unlock()
	notify(targets, k)
}

func (s *Server) removeLocked(k Key, srcUser, srcIP string) []pushTarget {
	c, ok := s.configs[k]
	if !ok {
		return nil
	}
	delete(s.configs, k)
	s.addHistoryLocked(k, "D", c.content, srcUser, srcIP, "formal")
	return s.listenersLocked(k, true)
}

func (s *Server) addHistoryLocked(k Key, op, content, srcUser, srcIP, publishType string) {
	s.nextNID++
	s.history = append(s.history, &HistoryRow{
		ID: s.nextNID, Key: k, Op: op, Content: content, MD5: md5Hex(content),
		SrcUser: srcUser, SrcIP: srcIP, At: s.now(), PublishType: publishType,
	})
}

func (s *Server) grayExistsLocked(k Key) bool {
	for _, r := range s.history {
		if r.Key == k && r.PublishType == "gray" {
			return true
		}
	}
	return false
}

// historyLocked returns a config's history rows, newest first, as Nacos orders them (by nid).
func (s *Server) historyLocked(k Key) []*HistoryRow {
	var rows []*HistoryRow
	for i := len(s.history) - 1; i >= 0; i-- {
		if s.history[i].Key == k {
			rows = append(rows, s.history[i])
		}
	}
	return rows
}

func (s *Server) newTokenLocked() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	tok := hex.EncodeToString(b)
	s.tokens[tok] = true
	return tok
}

func (s *Server) validToken(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return tok != "" && s.tokens[tok]
}

func (s *Server) currentFailure() Failure {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failure
}

// minorAtLeast says whether the reported version is at least major.minor.
func (s *Server) minorAtLeast(major, minor int) bool {
	parts := strings.SplitN(s.opts.Version, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || (ma == major && mi >= minor)
}

func md5Hex(s string) string {
	if s == "" {
		return ""
	}
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
