// Package rewind holds Rewind's domain: environments, targets and their versions,
// rollback requests with their lifecycle and approvals, users and audit events.
// It imports no web framework, no Kubernetes or Nacos client and no SQL driver.
package rewind

import (
	"errors"
	"fmt"
)

// Error codes that the web layer maps to HTTP statuses.
const (
	ECONFLICT     = "conflict"     // the target or record changed meanwhile
	EINTERNAL     = "internal"     // a failure of Rewind or an outside system
	EINVALID      = "invalid"      // bad input; the message says what to fix
	ENOTFOUND     = "not_found"    // no such record
	EFORBIDDEN    = "forbidden"    // logged in, but not allowed
	EUNAUTHORIZED = "unauthorized" // not logged in
	EUNAVAILABLE  = "unavailable"  // an outside system cannot be reached
)

// Error is an error whose message may be shown to users as it is.
// Format and Args, when set, are what Message was made of, so that the
// message can be shown in the reader's language (package i18n looks the
// format up in its catalogues).
type Error struct {
	Code    string
	Message string
	Format  string
	Args    []any
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Format: format, Args: args}
}

// ErrorCode returns the code of the first *Error in err's chain, or EINTERNAL.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain, or a
// generic text that reveals nothing of the internal failure.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}
