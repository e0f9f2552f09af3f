package nacos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	// maxAnswer bounds how much of one HTTP answer is read.
	maxAnswer = 64 << 20
	// defaultTokenTTL is used when a login answer gives no tokenTtl; Nacos' default is 5 hours.
	defaultTokenTTL = 18000 * time.Second
)

// statusError is an HTTP answer other than 200.
type statusError struct {
	path   string
	status int
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s answered HTTP %d", e.path, e.status)
}

// Unwrap classifies the status: 401 and 403 deny access, anything else is unexpected.
func (e *statusError) Unwrap() error {
	if e.status == http.StatusUnauthorized || e.status == http.StatusForbidden {
		return ErrForbidden
	}
	return ErrUnexpectedAnswer
}

// hasStatus says whether err is an HTTP answer with one of the given statuses.
func hasStatus(err error, statuses ...int) bool {
	var se *statusError
	if !errors.As(err, &se) {
		return false
	}
	for _, s := range statuses {
		if se.status == s {
			return true
		}
	}
	return false
}

// missingAPI says whether the server lacks an endpoint: 404, or 410 for the endpoints
// Nacos 3.x retired.
func missingAPI(err error) bool {
	return hasStatus(err, http.StatusNotFound, http.StatusGone)
}

// send does one HTTP request and returns the body of a 200 answer. The token goes in headers,
// never in the URL, so no error can show it.
func (c *Client) send(ctx context.Context, method, path string, query, form url.Values, token string) ([]byte, http.Header, error) {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, nil, fmt.Errorf("build request for %s: %w", path, ErrUnexpectedAnswer)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("accessToken", token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, transportError(ctx, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, nil, transportError(ctx, err)
	}
	if len(data) > maxAnswer {
		return nil, nil, fmt.Errorf("%w: %s answered more than %d bytes", ErrUnexpectedAnswer, path, maxAnswer)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, &statusError{path: path, status: resp.StatusCode}
	}
	return data, resp.Header, nil
}

// get does an authenticated GET, logging in again once when the server refuses the token.
func (c *Client) get(ctx context.Context, path string, query url.Values) ([]byte, http.Header, error) {
	v, token, err := c.ensure(ctx)
	if err != nil {
		return nil, nil, err
	}
	data, header, err := c.send(ctx, http.MethodGet, path, query, nil, token)
	if hasStatus(err, http.StatusUnauthorized, http.StatusForbidden) && c.cfg.Username != "" {
		c.dropToken(token)
		if token, err = c.login(ctx, &v); err != nil {
			return nil, nil, err
		}
		data, header, err = c.send(ctx, http.MethodGet, path, query, nil, token)
	}
	return data, header, err
}

func (c *Client) dropToken(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == token {
		c.token = ""
	}
}

// detect asks the server for its version: /v1/console/server/state on 1.x and 2.x,
// /v3/admin/core/state on 3.x. Both are open without login.
func (c *Client) detect(ctx context.Context) (*serverVersion, error) {
	var version string
	data, _, err := c.send(ctx, http.MethodGet, "/v1/console/server/state", nil, nil, "")
	if hasStatus(err, http.StatusUnauthorized, http.StatusForbidden) && c.cfg.Username != "" {
		// Some servers guard the state; a v1 login works on every major version.
		token, lerr := c.login(ctx, &serverVersion{major: 2})
		if lerr != nil {
			return nil, lerr
		}
		data, _, err = c.send(ctx, http.MethodGet, "/v1/console/server/state", nil, nil, token)
	}
	switch {
	case err == nil:
		var state struct {
			Version string `json:"version"`
		}
		if err := decodeJSON(data, &state); err != nil {
			return nil, err
		}
		version = state.Version
	case missingAPI(err):
		data, _, err = c.send(ctx, http.MethodGet, "/v3/admin/core/state", nil, nil, "")
		if err != nil {
			return nil, err
		}
		var state struct {
			Version string `json:"version"`
		}
		if err := decodeResult(data, &state); err != nil {
			return nil, err
		}
		version = state.Version
	default:
		return nil, err
	}
	v, err := parseVersion(version)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.detected = &v
	c.mu.Unlock()
	return &v, nil
}

// parseVersion reads "2.3.2", "3.0.0-BETA" and the like.
func parseVersion(s string) (serverVersion, error) {
	parts := strings.SplitN(strings.TrimPrefix(strings.TrimSpace(s), "v"), ".", 3)
	major, err := strconv.Atoi(parts[0])
	if err != nil || major < 1 {
		return serverVersion{}, fmt.Errorf("%w: version %q", ErrUnexpectedAnswer, s)
	}
	v := serverVersion{major: major, full: strings.TrimSpace(s)}
	if len(parts) > 1 {
		digits := strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' })
		v.minor, _ = strconv.Atoi(digits)
	}
	return v, nil
}

// login logs in with Rewind's own credentials and keeps the token. Nacos 3.x has
// /v3/auth/user/login; every version keeps the v1 login.
func (c *Client) login(ctx context.Context, v *serverVersion) (string, error) {
	if c.cfg.Username == "" {
		return "", nil
	}
	paths := []string{"/v1/auth/users/login", "/v1/auth/login"}
	if v.major >= 3 {
		paths = []string{"/v3/auth/user/login", "/v1/auth/users/login"}
	}
	form := url.Values{"username": {c.cfg.Username}, "password": {c.cfg.Password}}
	for _, path := range paths {
		data, _, err := c.send(ctx, http.MethodPost, path, nil, form, "")
		if missingAPI(err) {
			continue
		}
		if hasStatus(err, http.StatusUnauthorized, http.StatusForbidden) {
			return "", fmt.Errorf("%w for user %q", ErrLoginRefused, c.cfg.Username)
		}
		if err != nil {
			return "", err
		}
		var answer struct {
			AccessToken string          `json:"accessToken"`
			TokenTTL    json.Number     `json:"tokenTtl"`
			Data        json.RawMessage `json:"data"`
		}
		if err := decodeJSON(data, &answer); err != nil {
			return "", err
		}
		if answer.AccessToken == "" && len(answer.Data) > 0 {
			// A {code, message, data} wrapped answer.
			if err := json.Unmarshal(answer.Data, &answer); err != nil {
				return "", fmt.Errorf("%w: login answer: %v", ErrUnexpectedAnswer, err)
			}
		}
		if answer.AccessToken == "" {
			return "", fmt.Errorf("%w: login answer has no access token", ErrUnexpectedAnswer)
		}
		ttl := defaultTokenTTL
		if secs, err := answer.TokenTTL.Int64(); err == nil && secs > 0 {
			ttl = time.Duration(secs) * time.Second
		}
		c.mu.Lock()
		c.token, c.tokenExp = answer.AccessToken, time.Now().Add(ttl*8/10)
		c.mu.Unlock()
		return answer.AccessToken, nil
	}
	return "", fmt.Errorf("%w: the server has no login API", ErrUnexpectedAnswer)
}

// decodeJSON reads a JSON answer; anything else is an unexpected answer.
func decodeJSON(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %v", ErrUnexpectedAnswer, err)
	}
	return nil
}

// decodeResult reads the {code, message, data} answer of the v2 and v3 APIs.
func decodeResult(data []byte, v any) error {
	var r struct {
		Code    *int            `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if err := decodeJSON(data, &r); err != nil {
		return err
	}
	if r.Code == nil {
		return fmt.Errorf("%w: answer has no code", ErrUnexpectedAnswer)
	}
	if *r.Code != 0 {
		return fmt.Errorf("%w: code %d: %s", ErrUnexpectedAnswer, *r.Code, shorten(r.Message, 200))
	}
	return decodeJSON(r.Data, v)
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// page is Nacos' Page of list answers.
type page[T any] struct {
	TotalCount     int `json:"totalCount"`
	PageNumber     int `json:"pageNumber"`
	PagesAvailable int `json:"pagesAvailable"`
	PageItems      []T `json:"pageItems"`
}

// maxPages stops a paging loop on a server that never says it is done.
const maxPages = 100000

// flexString reads a JSON string or number (Nacos writes ids both ways).
type flexString string

// UnmarshalJSON accepts a string, a number or null.
func (f *flexString) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexString(n.String())
	return nil
}
