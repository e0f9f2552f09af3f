// Package client is a small client of Rewind's /api/v1, used by the rewind
// command line.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client calls one Rewind server with one API token.
type Client struct {
	Server string // e.g. https://rewind.example.com
	Token  string
	HTTP   *http.Client
}

// New returns a client of server with token.
func New(server, token string) *Client {
	return &Client{Server: strings.TrimRight(server, "/"), Token: token, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// Error is an error answered by the API.
type Error struct {
	Status  int
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields"`
}

func (e *Error) Error() string {
	msg := e.Message
	for f, m := range e.Fields {
		msg += " (" + f + ": " + m + ")"
	}
	return fmt.Sprintf("%s (HTTP %d)", msg, e.Status)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any, header ...string) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Server+"/api/v1"+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] != "" {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		var e struct{ Error Error }
		if json.Unmarshal(raw, &e) != nil || e.Error.Message == "" {
			return &Error{Status: resp.StatusCode, Code: "internal", Message: http.StatusText(resp.StatusCode)}
		}
		e.Error.Status = resp.StatusCode
		return &e.Error
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	return nil
}

// Me is the user a token acts as.
type Me struct {
	Username string `json:"username"`
	Role     string `json:"role"`
	Token    string `json:"token"`
	ReadOnly bool   `json:"read_only"`
}

// Me returns who the token acts as; it verifies the token.
func (c *Client) Me(ctx context.Context) (*Me, error) {
	var m Me
	return &m, c.do(ctx, "GET", "/me", nil, &m)
}

// Version is one recorded state of a target.
type Version struct {
	Number    int64     `json:"number"`
	Revision  string    `json:"revision"`
	Hash      string    `json:"hash"`
	Source    string    `json:"source"`
	Author    string    `json:"author"`
	CreatedAt time.Time `json:"created_at"`
	Images    []struct {
		Container string `json:"container"`
		Image     string `json:"image"`
	} `json:"images"`
}

// Target is a service, config or database.
type Target struct {
	ID          int64    `json:"id"`
	Kind        string   `json:"kind"`
	Label       string   `json:"label"`
	Environment string   `json:"environment"`
	Versions    int64    `json:"versions"`
	Latest      *Version `json:"latest"`
}

// Page is one page of a listing.
type Page[T any] struct {
	Items   []T `json:"items"`
	Page    int `json:"page"`
	PerPage int `json:"per_page"`
	Total   int `json:"total"`
}

// Targets lists targets of kind ("services", "configs", "databases").
func (c *Client) Targets(ctx context.Context, kind string, q url.Values) (*Page[Target], error) {
	var p Page[Target]
	return &p, c.do(ctx, "GET", "/"+kind+"?"+q.Encode(), nil, &p)
}

// Versions lists one page of a target's versions, newest first.
func (c *Client) Versions(ctx context.Context, target int64, page, perPage int) (*Page[Version], error) {
	var p Page[Version]
	return &p, c.do(ctx, "GET", fmt.Sprintf("/targets/%d/versions?page=%d&per_page=%d", target, page, perPage), nil, &p)
}

// Diff is the comparison of two versions.
type Diff struct {
	From         int64 `json:"from"`
	To           int64 `json:"to"`
	Identical    bool  `json:"identical"`
	Added        int   `json:"added"`
	Removed      int   `json:"removed"`
	ImageChanges []struct {
		Container string
		Old, New  string
	} `json:"image_changes"`
	ChangedKeys []struct {
		Key, Kind, Old, New string
	} `json:"changed_keys"`
	Hunks []struct {
		Header string   `json:"header"`
		Lines  []string `json:"lines"`
	} `json:"hunks"`
}

// Diff compares versions a and b of a target.
func (c *Client) Diff(ctx context.Context, target, a, b int64) (*Diff, error) {
	var d Diff
	return &d, c.do(ctx, "GET", fmt.Sprintf("/targets/%d/diff?from=%d&to=%d", target, a, b), nil, &d)
}

// Request is a rollback request or SQL change.
type Request struct {
	ID                int64  `json:"id"`
	Target            string `json:"target"`
	Kind              string `json:"kind"`
	Environment       string `json:"environment"`
	ToVersion         int64  `json:"to_version"`
	State             string `json:"state"`
	Final             bool   `json:"final"`
	Requester         string `json:"requester"`
	Reason            string `json:"reason"`
	RequiredApprovals int    `json:"required_approvals"`
	Approvals         []struct {
		Approver string `json:"approver"`
		Approve  bool   `json:"approve"`
		Comment  string `json:"comment"`
	} `json:"approvals"`
	Outcome   string `json:"outcome"`
	ReleaseID int64  `json:"release_id"`
	Steps     []struct {
		Position int    `json:"position"`
		TargetID int64  `json:"target_id"`
		Detail   string `json:"detail"`
		State    string `json:"state"`
		Outcome  string `json:"outcome"`
		Note     string `json:"note"`
		Attempts int    `json:"attempts"`
	} `json:"steps"`
}

// Rollback asks for target to go back to version to. A non-empty key makes
// a retry return the same request.
func (c *Client) Rollback(ctx context.Context, target, to int64, reason, key string) (*Request, error) {
	var r Request
	in := map[string]any{"target_id": target, "to_version": to, "reason": reason}
	return &r, c.do(ctx, "POST", "/requests", in, &r, "Idempotency-Key", key)
}

// Request returns one request with its live state.
func (c *Client) Request(ctx context.Context, id int64) (*Request, error) {
	var r Request
	return &r, c.do(ctx, "GET", "/requests/"+strconv.FormatInt(id, 10), nil, &r)
}

// Decide approves or rejects a request.
func (c *Client) Decide(ctx context.Context, id int64, approve bool, comment string) (*Request, error) {
	var r Request
	action := "approve"
	if !approve {
		action = "reject"
	}
	return &r, c.do(ctx, "POST", "/requests/"+strconv.FormatInt(id, 10)+"/"+action, map[string]string{"comment": comment}, &r)
}

// Cancel withdraws a request not yet running.
func (c *Client) Cancel(ctx context.Context, id int64) (*Request, error) {
	var r Request
	return &r, c.do(ctx, "POST", "/requests/"+strconv.FormatInt(id, 10)+"/cancel", nil, &r)
}

// Watch polls request id every interval until it ends, calling seen on
// each change of state or outcome, and returns the final request.
func (c *Client) Watch(ctx context.Context, id int64, interval time.Duration, seen func(*Request)) (*Request, error) {
	last := ""
	for {
		r, err := c.Request(ctx, id)
		if err != nil {
			return nil, err
		}
		if now := r.State + "|" + r.Outcome; now != last {
			last = now
			seen(r)
		}
		if r.Final {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(interval):
		}
	}
}

// SubmitSQL submits a SQL change on a database (its target ID), part of
// release releaseID when it is not 0.
func (c *Client) SubmitSQL(ctx context.Context, database int64, sql, reason string, failingPreview bool, releaseID int64) (*Request, error) {
	var r Request
	in := map[string]any{"sql": sql, "reason": reason, "submit_with_failing_preview": failingPreview}
	if releaseID != 0 {
		in["release_id"] = releaseID
	}
	return &r, c.do(ctx, "POST", "/databases/"+strconv.FormatInt(database, 10)+"/changes", in, &r)
}
