package nacostest

import (
	"context"
	"encoding/json"
	"net"
	"strconv"
	"sync"
	"time"

	pb "github.com/nacos-group/nacos-sdk-go/v2/api/grpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/types/known/anypb"
)

// Nacos error codes the SDK reacts to.
const (
	codeOK             = 200
	codeFail           = 500
	errConfigNotFound  = 300
	errUnregistered    = 301
	errNoHandler       = 302
	errNoRight         = 403
	casFailMessage     = "Cas publish fail, server md5 may have changed."
	unregisteredWait   = time.Second
	responseTypeSuffix = "Response"
)

// response is the common part of every Nacos gRPC response body.
type response struct {
	ResultCode int    `json:"resultCode"`
	ErrorCode  int    `json:"errorCode"`
	Success    bool   `json:"success"`
	Message    string `json:"message,omitempty"`
	RequestID  string `json:"requestId"`
}

func ok() response { return response{ResultCode: codeOK, Success: true} }

func fail(code int, msg string) response {
	return response{ResultCode: codeFail, ErrorCode: code, Message: msg}
}

// configRequest is the common part of the config requests the SDK sends.
type configRequest struct {
	RequestID string `json:"requestId"`
	Group     string `json:"group"`
	DataID    string `json:"dataId"`
	Tenant    string `json:"tenant"`
}

type publishRequest struct {
	configRequest
	Content     string            `json:"content"`
	CasMd5      string            `json:"casMd5"`
	AdditionMap map[string]string `json:"additionMap"`
}

type listenContext struct {
	Group  string `json:"group"`
	Md5    string `json:"md5"`
	DataID string `json:"dataId"`
	Tenant string `json:"tenant"`
}

type batchListenRequest struct {
	RequestID            string          `json:"requestId"`
	Listen               bool            `json:"listen"`
	ConfigListenContexts []listenContext `json:"configListenContexts"`
}

type changedConfig struct {
	Group  string `json:"group"`
	DataID string `json:"dataId"`
	Tenant string `json:"tenant"`
}

// grpcConn is one client connection, set up by a ConnectionSetupRequest on its bi-directional
// stream; the server pushes change notifications over that stream.
type grpcConn struct {
	id      string
	stream  pb.BiRequestStream_RequestBiStreamServer
	sendMu  sync.Mutex
	listens map[Key]string // listened config → tenant as the client spelled it
}

type pushTarget struct {
	conn   *grpcConn
	tenant string
}

func newGRPCServer(s *Server) *grpc.Server {
	var opts []grpc.ServerOption
	if s.tls != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.tls.Clone())))
	}
	srv := grpc.NewServer(opts...)
	pb.RegisterRequestServer(srv, requestService{s})
	pb.RegisterBiRequestStreamServer(srv, biStreamService{s})
	return srv
}

func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

func payload(typ string, body any) *pb.Payload {
	b, _ := json.Marshal(body)
	return &pb.Payload{Metadata: &pb.Metadata{Type: typ}, Body: &anypb.Any{Value: b}}
}

type requestService struct{ s *Server }

// Request answers one unary request the way a Nacos server does.
func (r requestService) Request(ctx context.Context, p *pb.Payload) (*pb.Payload, error) {
	s := r.s
	typ := p.GetMetadata().GetType()
	body := p.GetBody().GetValue()
	s.count("grpc:" + typ)
	respType := responseTypeFor(typ)
	if s.currentFailure() == Garbage {
		return &pb.Payload{Metadata: &pb.Metadata{Type: respType}, Body: &anypb.Any{Value: []byte("<html>garbage")}}, nil
	}
	var req struct {
		RequestID string `json:"requestId"`
	}
	_ = json.Unmarshal(body, &req)
	reply := func(t string, v any) *pb.Payload { return payload(t, v) }

	if typ == "ServerCheckRequest" {
		s.mu.Lock()
		s.connSeq++
		id := strconv.FormatInt(time.Now().UnixMilli(), 10) + "_" + peerAddr(ctx) + "_" + strconv.Itoa(s.connSeq)
		s.mu.Unlock()
		resp := struct {
			response
			ConnectionID string `json:"connectionId"`
		}{ok(), id}
		resp.RequestID = req.RequestID
		return reply("ServerCheckResponse", resp), nil
	}
	conn := s.waitConn(peerAddr(ctx))
	if conn == nil {
		resp := fail(errUnregistered, "Connection is unregistered.")
		resp.RequestID = req.RequestID
		return reply("ErrorResponse", resp), nil
	}
	switch typ {
	case "HealthCheckRequest":
		resp := ok()
		resp.RequestID = req.RequestID
		return reply("HealthCheckResponse", resp), nil
	case "ConfigQueryRequest", "ConfigPublishRequest", "ConfigRemoveRequest", "ConfigBatchListenRequest":
		if !s.validToken(p.GetMetadata().GetHeaders()["accessToken"]) {
			resp := fail(errNoRight, "access denied: token invalid!")
			resp.RequestID = req.RequestID
			return reply(respType, resp), nil
		}
		out, err := s.handleConfig(typ, body, conn, peerIP(ctx))
		if err != nil {
			resp := fail(codeFail, "bad request: "+err.Error())
			resp.RequestID = req.RequestID
			return reply(respType, resp), nil
		}
		return reply(respType, out), nil
	default:
		resp := fail(errNoHandler, "RequestHandler Not Found")
		resp.RequestID = req.RequestID
		return reply("ErrorResponse", resp), nil
	}
}

func responseTypeFor(reqType string) string {
	switch reqType {
	case "ConfigBatchListenRequest":
		return "ConfigChangeBatchListenResponse"
	case "":
		return "ErrorResponse"
	}
	if n := len(reqType) - len("Request"); n > 0 && reqType[n:] == "Request" {
		return reqType[:n] + responseTypeSuffix
	}
	return "ErrorResponse"
}

func peerIP(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		if host, _, err := net.SplitHostPort(p.Addr.String()); err == nil {
			return host
		}
	}
	return ""
}

// waitConn finds the connection a request came on. The SDK sends its ConnectionSetupRequest
// on the stream just before its first request, so the server waits a moment for it.
func (s *Server) waitConn(addr string) *grpcConn {
	deadline := time.Now().Add(unregisteredWait)
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if c, ok := s.conns[addr]; ok {
			return c
		}
		if time.Now().After(deadline) {
			return nil
		}
		s.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
		s.mu.Lock()
	}
}

func (s *Server) handleConfig(typ string, body []byte, conn *grpcConn, srcIP string) (any, error) {
	switch typ {
	case "ConfigQueryRequest":
		var req configRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, err
		}
		return s.query(req), nil
	case "ConfigPublishRequest":
		var req publishRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, err
		}
		return s.publishRPC(req, srcIP), nil
	case "ConfigRemoveRequest":
		var req configRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, err
		}
		s.remove(Key{req.Tenant, req.Group, req.DataID}, "", srcIP)
		resp := ok()
		resp.RequestID = req.RequestID
		return resp, nil
	default: // ConfigBatchListenRequest
		var req batchListenRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, err
		}
		return s.batchListen(req, conn), nil
	}
}

func (s *Server) query(req configRequest) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	type queryResponse struct {
		response
		Content          string `json:"content"`
		EncryptedDataKey string `json:"encryptedDataKey"`
		ContentType      string `json:"contentType"`
		Md5              string `json:"md5"`
		LastModified     int64  `json:"lastModified"`
		IsBeta           bool   `json:"isBeta"`
		Tag              bool   `json:"tag"`
	}
	c, found := s.configs[s.normKey(Key{req.Tenant, req.Group, req.DataID})]
	if !found {
		resp := queryResponse{response: fail(errConfigNotFound, "config data not exist")}
		resp.RequestID = req.RequestID
		return resp
	}
	resp := queryResponse{response: ok(), Content: c.content, ContentType: c.typ, Md5: c.md5, LastModified: c.modified.UnixMilli()}
	resp.RequestID = req.RequestID
	return resp
}

// validTypes are the config types Nacos accepts; any other type is stored as "text".
var validTypes = map[string]bool{"text": true, "json": true, "xml": true, "yaml": true, "html": true, "properties": true, "toml": true}

func (s *Server) publishRPC(req publishRequest, srcIP string) any {
	if req.DataID == "" || req.Content == "" {
		resp := fail(codeFail, "dataId and content must not be empty")
		resp.RequestID = req.RequestID
		return resp
	}
	typ := req.AdditionMap["type"]
	if !validTypes[typ] {
		typ = "text"
	}
	s.mu.Lock()
	hook := s.onPublish
	s.mu.Unlock()
	if hook != nil {
		hook(Key{req.Tenant, req.Group, req.DataID})
	}
	s.mu.Lock()
	k := s.normKey(Key{req.Tenant, req.Group, req.DataID})
	if req.CasMd5 != "" {
		// Nacos inserts when the config does not exist and updates only when md5 matches.
		if c, found := s.configs[k]; found && c.md5 != req.CasMd5 {
			s.mu.Unlock()
			resp := fail(codeFail, casFailMessage)
			resp.RequestID = req.RequestID
			return resp
		}
	}
	s.writeLocked(k, typ, req.Content, req.AdditionMap["src_user"], srcIP)
	if app := req.AdditionMap["appName"]; app != "" {
		s.configs[k].appName = app
	}
	targets := s.listenersLocked(k, true)
	s.mu.Unlock()
	notify(targets, k)
	resp := ok()
	resp.RequestID = req.RequestID
	return resp
}

func (s *Server) batchListen(req batchListenRequest, conn *grpcConn) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := []changedConfig{}
	for _, lc := range req.ConfigListenContexts {
		k := s.normKey(Key{lc.Tenant, lc.Group, lc.DataID})
		if req.Listen {
			conn.listens[k] = lc.Tenant
		} else {
			delete(conn.listens, k)
		}
		cur := ""
		if c, found := s.configs[k]; found {
			cur = c.md5
		}
		if cur != lc.Md5 {
			changed = append(changed, changedConfig{Group: lc.Group, DataID: lc.DataID, Tenant: lc.Tenant})
		}
	}
	resp := struct {
		response
		ChangedConfigs []changedConfig `json:"changedConfigs"`
	}{ok(), changed}
	resp.RequestID = req.RequestID
	return resp
}

// listenersLocked lists the connections listening to a config, unless push is off.
func (s *Server) listenersLocked(k Key, push bool) []pushTarget {
	if !push || s.noPush {
		return nil
	}
	var targets []pushTarget
	for _, c := range s.conns {
		if tenant, ok := c.listens[k]; ok {
			targets = append(targets, pushTarget{c, tenant})
		}
	}
	return targets
}

// notify pushes a ConfigChangeNotifyRequest to each target, as Nacos does after a change.
func notify(targets []pushTarget, k Key) {
	for _, t := range targets {
		body := struct {
			RequestID string `json:"requestId"`
			Group     string `json:"group"`
			DataID    string `json:"dataId"`
			Tenant    string `json:"tenant"`
			Module    string `json:"module"`
		}{strconv.FormatInt(time.Now().UnixNano(), 10), k.Group, k.DataID, t.tenant, "config"}
		t.conn.sendMu.Lock()
		_ = t.conn.stream.Send(payload("ConfigChangeNotifyRequest", body))
		t.conn.sendMu.Unlock()
	}
}

type biStreamService struct{ s *Server }

// RequestBiStream registers the connection on its ConnectionSetupRequest and then reads the
// client's answers to pushes until the stream ends.
func (b biStreamService) RequestBiStream(stream pb.BiRequestStream_RequestBiStreamServer) error {
	s := b.s
	addr := peerAddr(stream.Context())
	var conn *grpcConn
	defer func() {
		if conn == nil {
			return
		}
		s.mu.Lock()
		if s.conns[addr] == conn {
			delete(s.conns, addr)
		}
		s.mu.Unlock()
	}()
	for {
		p, err := stream.Recv()
		if err != nil {
			return nil
		}
		if p.GetMetadata().GetType() != "ConnectionSetupRequest" || conn != nil {
			continue // an answer to a push
		}
		s.count("grpc:ConnectionSetupRequest")
		conn = &grpcConn{id: addr, stream: stream, listens: map[Key]string{}}
		s.mu.Lock()
		s.conns[addr] = conn
		s.mu.Unlock()
	}
}
