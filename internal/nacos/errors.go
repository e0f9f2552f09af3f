package nacos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
)

// Errors a caller can tell apart with errors.Is. Every error the Client returns names the
// server and the operation, and never holds the password or an access token.
var (
	// ErrUnreachable means the server could not be reached: down, refusing connections, or
	// not answering in time.
	ErrUnreachable = errors.New("nacos server is unreachable")
	// ErrLoginRefused means the server refused the user name and password.
	ErrLoginRefused = errors.New("nacos login refused")
	// ErrForbidden means the server accepted the login but denied the request.
	ErrForbidden = errors.New("nacos denied access")
	// ErrUnexpectedAnswer means the server answered something Rewind cannot read.
	ErrUnexpectedAnswer = errors.New("unexpected answer from nacos")
	// ErrConflict means the config changed since the md5 the caller expected.
	ErrConflict = errors.New("config changed meanwhile")
	// ErrEmptyContent means an empty content was to be published, which Nacos does not allow.
	ErrEmptyContent = errors.New("empty content cannot be published")
	// ErrReadOnly means the server's version cannot be written safely (Nacos 1.x has no
	// compare-and-swap publish).
	ErrReadOnly = errors.New("nacos server is read-only for rewind")
)

// wrap adds the server name and the operation to an error.
func (c *Client) wrap(op string, err error) error {
	return fmt.Errorf("nacos server %q: %s: %w", c.cfg.Name, op, err)
}

// transportError turns an HTTP client error into ErrUnreachable, keeping the cause but not
// the URL (whose query may hold a token).
func transportError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if untrusted(err) {
		return fmt.Errorf("%w: %v", ErrUntrusted, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: timed out", ErrUnreachable)
	}
	return fmt.Errorf("%w: %v", ErrUnreachable, err)
}
