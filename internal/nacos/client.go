package nacos

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/clients/config_client"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/nacos_client"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"golang.org/x/time/rate"
)

const (
	// sdkTimeout bounds one SDK read; the SDK retries within it.
	sdkTimeout = 5 * time.Second
	// defaultPageSize is the page size asked for when listing; Nacos caps it at 500.
	defaultPageSize = 100
	// detailWorkers is how many history entries are read at once.
	detailWorkers = 8
	// rpcPortOffset is how far the gRPC port is from the HTTP port, as Nacos has it.
	rpcPortOffset = 1000
)

// Client talks to one Nacos server. It is safe for concurrent use.
type Client struct {
	cfg      ServerConfig
	scheme   string
	host     string
	port     uint64
	base     string // scheme://host:port/contextPath
	cacheDir string
	logDir   string
	hc       *http.Client
	pageSize int

	mu       sync.Mutex
	detected *serverVersion
	token    string
	tokenExp time.Time
	closed   bool

	sdkMu sync.Mutex
	sdk   map[string]config_client.IConfigClient

	// callMu keeps SDK requests of this client one at a time (see inSeries).
	callMu sync.Mutex
}

type serverVersion struct {
	major int
	minor int
	full  string
}

// New prepares a client for one server; it does not contact the server. The SDK's cache and
// log folders go under dataDir/nacos.
func New(cfg ServerConfig, dataDir string) (*Client, error) {
	if cfg.Name == "" {
		cfg.Name = cfg.Addr
	}
	if dataDir == "" {
		return nil, fmt.Errorf("nacos server %q: data folder is required", cfg.Name)
	}
	scheme, hostport := "http", cfg.Addr
	if rest, ok := strings.CutPrefix(hostport, "http://"); ok {
		hostport = rest
	} else if rest, ok := strings.CutPrefix(hostport, "https://"); ok {
		scheme, hostport = "https", rest
	}
	hostport = strings.TrimSuffix(hostport, "/")
	host, portText, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, fmt.Errorf("nacos server %q: address %q is not host:port: %w", cfg.Name, cfg.Addr, err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || port == 0 || port+rpcPortOffset > 65535 {
		return nil, fmt.Errorf("nacos server %q: address %q has no usable port", cfg.Name, cfg.Addr)
	}
	if cfg.ContextPath == "" {
		cfg.ContextPath = "/nacos"
	}
	cfg.ContextPath = "/" + strings.Trim(cfg.ContextPath, "/")
	if len(cfg.Namespaces) == 0 {
		cfg.Namespaces = []string{""}
	}
	cfg.Namespaces = append([]string(nil), cfg.Namespaces...)
	var tlsCfg *tls.Config
	if scheme == "https" {
		if tlsCfg, err = clientTLS(cfg.CAFile); err != nil {
			return nil, fmt.Errorf("nacos server %q: %w", cfg.Name, err)
		}
	} else if cfg.CAFile != "" {
		return nil, fmt.Errorf("nacos server %q: a CA file needs an https:// address", cfg.Name)
	}
	root := filepath.Join(dataDir, "nacos")
	c := &Client{
		cfg:      cfg,
		scheme:   scheme,
		host:     host,
		port:     port,
		base:     scheme + "://" + net.JoinHostPort(host, portText) + cfg.ContextPath,
		cacheDir: filepath.Join(root, folderName(cfg.Name), "cache"),
		logDir:   filepath.Join(root, "log"),
		hc:       &http.Client{Timeout: 60 * time.Second, Transport: transport(tlsCfg)},
		pageSize: defaultPageSize,
		sdk:      map[string]config_client.IConfigClient{},
	}
	for _, dir := range []string{c.cacheDir, c.logDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("nacos server %q: %w", cfg.Name, err)
		}
	}
	return c, nil
}

// transport keeps enough idle connections for the parallel history reads
// and, for https, verifies the server with tlsCfg.
func transport(tlsCfg *tls.Config) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 2 * detailWorkers
	if tlsCfg != nil {
		t.TLSClientConfig = tlsCfg
	}
	return t
}

// folderName makes a server name safe as a folder name.
func folderName(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteRune('_')
		}
	}
	if b.Len() == 0 {
		return "server"
	}
	return b.String()
}

// Config returns the server's registration, with the defaults filled in.
func (c *Client) Config() ServerConfig { return c.cfg }

// Close stops the SDK clients. The Client cannot be used afterwards.
func (c *Client) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.hc.CloseIdleConnections()
	// Wait for an SDK call still running (one whose caller gave up waiting):
	// closing the SDK client under it races inside the SDK.
	c.callMu.Lock()
	defer c.callMu.Unlock()
	c.sdkMu.Lock()
	defer c.sdkMu.Unlock()
	for ns, cl := range c.sdk {
		cl.CloseClient()
		delete(c.sdk, ns)
	}
}

var errClosed = errors.New("client is closed")

// DetectVersion asks the server which Nacos it is: the major version ("1", "2" or "3") and
// the full version string.
func (c *Client) DetectVersion(ctx context.Context) (major, full string, err error) {
	v, err := c.detect(ctx)
	if err != nil {
		return "", "", c.wrap("detect version", err)
	}
	return strconv.Itoa(v.major), v.full, nil
}

// Check tells whether the server is ready for Rewind: reachable, accepting the login, and for
// Nacos 2.x and 3.x with its gRPC port open.
func (c *Client) Check(ctx context.Context) error {
	if err := c.probe(ctx); err != nil {
		return c.wrap("check", err)
	}
	return nil
}

// probe runs the checks behind Check, without caching anything but the results.
func (c *Client) probe(ctx context.Context) error {
	v, err := c.detect(ctx)
	if err != nil {
		return err
	}
	if _, err := c.login(ctx, v); err != nil {
		return err
	}
	if v.major < 2 {
		return nil
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(c.host, strconv.FormatUint(c.port+rpcPortOffset, 10)))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: gRPC port: %v", ErrUnreachable, err)
	}
	_ = conn.Close()
	return nil
}

// ensure returns the detected version and a valid token, detecting and logging in when needed.
func (c *Client) ensure(ctx context.Context) (serverVersion, string, error) {
	c.mu.Lock()
	closed, v, tok, exp := c.closed, c.detected, c.token, c.tokenExp
	c.mu.Unlock()
	if closed {
		return serverVersion{}, "", errClosed
	}
	if v == nil {
		var err error
		if v, err = c.detect(ctx); err != nil {
			return serverVersion{}, "", err
		}
	}
	if (tok != "" && time.Now().Before(exp)) || c.cfg.Username == "" {
		return *v, tok, nil
	}
	tok, err := c.login(ctx, v)
	if err != nil {
		return serverVersion{}, "", err
	}
	return *v, tok, nil
}

// sdkClient returns the SDK config client for a namespace, creating it on first use.
func (c *Client) sdkClient(namespace string) (config_client.IConfigClient, error) {
	ns := normalizeNamespace(namespace)
	c.sdkMu.Lock()
	defer c.sdkMu.Unlock()
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, errClosed
	}
	if cl, ok := c.sdk[ns]; ok {
		return cl, nil
	}
	cc := constant.NewClientConfig(
		constant.WithNamespaceId(ns),
		constant.WithTimeoutMs(uint64(sdkTimeout/time.Millisecond)),
		constant.WithNotLoadCacheAtStart(true),
		constant.WithDisableUseSnapShot(true),
		constant.WithCacheDir(c.cacheDir),
		constant.WithLogDir(c.logDir),
		constant.WithLogLevel("warn"),
		constant.WithAppName("rewind"),
		constant.WithUsername(c.cfg.Username),
		constant.WithPassword(c.cfg.Password),
		constant.WithTLS(c.sdkTLS()),
	)
	sc := constant.ServerConfig{Scheme: c.scheme, IpAddr: c.host, Port: c.port, GrpcPort: c.port + rpcPortOffset, ContextPath: c.cfg.ContextPath}
	var cl config_client.IConfigClient
	sdkLoggerMu.Lock()
	err := guard(func() error {
		// As clients.NewConfigClient, but with Rewind's HTTP transport for the SDK's HTTP requests.
		nc := &nacos_client.NacosClient{}
		if err := nc.SetClientConfig(*cc); err != nil {
			return err
		}
		if err := nc.SetServerConfig([]constant.ServerConfig{sc}); err != nil {
			return err
		}
		if err := nc.SetHttpAgent(sdkHTTP{transport: c.hc.Transport}); err != nil {
			return err
		}
		var err error
		cl, err = config_client.NewConfigClient(nc)
		return err
	})
	// The new client replaced the SDK's logger; keep request data out of it again.
	withholdLogArgs()
	sdkLoggerMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("%w: start SDK client: %v", ErrUnexpectedAnswer, err)
	}
	c.sdk[ns] = cl
	return cl, nil
}

// guard turns a panic inside the SDK into an error.
func guard(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("SDK panic: %v", r)
		}
	}()
	return f()
}

// callSDK runs an SDK call, which takes no context, and stops waiting when ctx is done.
func callSDK[T any](ctx context.Context, f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		var r result
		r.err = guard(func() error {
			var err error
			r.v, err = f()
			return err
		})
		ch <- r
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// inSeries makes an SDK call wait until no other call of the client runs: the SDK's gRPC
// client reads and writes its connection state without synchronisation when requests run
// side by side while it reconnects. A call whose ctx ended while it waited is not made, so a
// write abandoned by its caller does not happen later.
func inSeries[T any](ctx context.Context, c *Client, f func() (T, error)) func() (T, error) {
	return func() (T, error) {
		c.callMu.Lock()
		defer c.callMu.Unlock()
		if err := ctx.Err(); err != nil {
			var zero T
			return zero, err
		}
		return f()
	}
}

// The SDK allows 5 reads per second of one config across the whole process and fails the
// reads beyond that ("ConfigQueryRequest is limited"); its own listener refreshes count too.
// The client paces its reads below that limit, leaving room for the refreshes, instead of
// failing.
var (
	sdkReadsMu sync.Mutex
	sdkReads   = map[string]*rate.Limiter{}
)

func waitSDKRead(ctx context.Context, key ConfigKey) error {
	id := key.DataID + "+" + key.group() + "+" + normalizeNamespace(key.Namespace)
	sdkReadsMu.Lock()
	l, ok := sdkReads[id]
	if !ok {
		l = rate.NewLimiter(3, 3)
		sdkReads[id] = l
	}
	sdkReadsMu.Unlock()
	return l.Wait(ctx)
}

// sdkFailure explains a failed SDK call: the SDK only gives text, so the client probes the
// server to tell an unreachable server or a refused login from an odd answer.
func (c *Client) sdkFailure(ctx context.Context, sdkErr error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(sdkErr, errClosed) {
		return sdkErr
	}
	if err := c.probe(ctx); err != nil {
		return err
	}
	if sdkErr == nil {
		return fmt.Errorf("%w: the server did not accept the request", ErrUnexpectedAnswer)
	}
	return fmt.Errorf("%w: %v", ErrUnexpectedAnswer, sdkErr)
}
