package nacos

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
)

// ErrUntrusted means the server's certificate could not be verified: signed
// by an authority Rewind does not trust, expired, or for another name.
var ErrUntrusted = errors.New("nacos server certificate is not trusted")

// clientTLS returns the TLS settings of an https server: the system's
// authorities plus those in caFile (PEM), when given; certificates are
// always verified.
func clientTLS(caFile string) (*tls.Config, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// sdkTLS is the SDK's TLS setting for the client. Appointed keeps the SDK
// from reading TLS settings from the environment. With TLS, the SDK's gRPC
// connection verifies the server against the system's authorities and the
// CA file, as Rewind's own reads do; its HTTP requests (the login) go
// through sdkHTTP instead of the SDK's agent, which would skip verification
// when no CA file is given.
func (c *Client) sdkTLS() constant.TLSConfig {
	if c.scheme != "https" {
		return constant.TLSConfig{Appointed: true}
	}
	return constant.TLSConfig{Appointed: true, Enable: true, CaFile: c.cfg.CAFile}
}

// sdkHTTP is the SDK's HTTP agent: it sends the SDK's HTTP requests (the
// login, with the password) through Rewind's own transport, so that they
// are verified the same way.
type sdkHTTP struct {
	transport http.RoundTripper
}

func (a sdkHTTP) Get(path string, header http.Header, timeoutMs uint64, params map[string]string) (*http.Response, error) {
	return a.Request(http.MethodGet, path, header, timeoutMs, params)
}

func (a sdkHTTP) Post(path string, header http.Header, timeoutMs uint64, params map[string]string) (*http.Response, error) {
	return a.Request(http.MethodPost, path, header, timeoutMs, params)
}

func (a sdkHTTP) Delete(path string, header http.Header, timeoutMs uint64, params map[string]string) (*http.Response, error) {
	return a.Request(http.MethodDelete, path, header, timeoutMs, params)
}

func (a sdkHTTP) Put(path string, header http.Header, timeoutMs uint64, params map[string]string) (*http.Response, error) {
	return a.Request(http.MethodPut, path, header, timeoutMs, params)
}

// Request sends params as the query of a GET or DELETE and as a form
// otherwise, as the SDK's own agent does.
func (a sdkHTTP) Request(method, path string, header http.Header, timeoutMs uint64, params map[string]string) (*http.Response, error) {
	values := url.Values{}
	for k, v := range params {
		values.Set(k, v)
	}
	var body *strings.Reader
	if method == http.MethodGet || method == http.MethodDelete {
		if len(values) > 0 {
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			path += sep + values.Encode()
		}
		body = strings.NewReader("")
	} else {
		body = strings.NewReader(values.Encode())
	}
	req, err := http.NewRequest(method, path, body)
	if err != nil {
		return nil, err
	}
	if header != nil {
		req.Header = header.Clone()
	}
	if method != http.MethodGet && method != http.MethodDelete && !hasHeader(req.Header, "Content-Type") {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	hc := &http.Client{Transport: a.transport, Timeout: time.Duration(timeoutMs) * time.Millisecond}
	return hc.Do(req)
}

// hasHeader says whether h has name, however the SDK spelled it (it writes
// "content-type" straight into the map).
func hasHeader(h http.Header, name string) bool {
	for k := range h {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// RequestOnlyResult returns the body of a 200 answer, "" otherwise.
func (a sdkHTTP) RequestOnlyResult(method, path string, header http.Header, timeoutMs uint64, params map[string]string) string {
	resp, err := a.Request(method, path, header, timeoutMs, params)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil || b.Len() > maxAnswer {
			break
		}
	}
	return b.String()
}

// untrusted says whether err is a failed verification of a certificate.
func untrusted(err error) bool {
	var (
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
		hostname x509.HostnameError
		verify   *tls.CertificateVerificationError
	)
	return errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &hostname) || errors.As(err, &verify)
}
