package httpx

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/tccsuite/tccsuite/internal/dbx"
)

// Error is an error with the HTTP answer a client sees: the status, a stable code, a
// message safe to show, optional safe details, and a Retry-After. Err, the cause, is
// logged and never sent.
type Error struct {
	Status  int
	Code    string
	Message string
	// Details are extra fields of the answer's JSON object, next to "code" and
	// "message" (which they cannot replace): only values safe to show a client, such as
	// the ID of what the request created.
	Details map[string]any
	// RetryAfter, when positive, is sent as the Retry-After header (seconds).
	RetryAfter int
	// Err is the underlying cause; it is logged, never sent.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted message and no cause.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Stable codes shared by every server.
const (
	CodeBadRequest       = "BAD_REQUEST"
	CodeNotFound         = "NOT_FOUND"
	CodeTooLarge         = "PAYLOAD_TOO_LARGE"
	CodeUnsupportedMedia = "UNSUPPORTED_MEDIA_TYPE"
	CodeUnauthorized     = "UNAUTHORIZED"
	CodeInternal         = "INTERNAL"
	CodeUnavailable      = "UNAVAILABLE"
	CodeMethodNotAllowed = "METHOD_NOT_ALLOWED"
)

// Mapper turns a server's domain errors into an *Error; it returns nil for errors it
// does not know.
type Mapper func(error) *Error

// Map returns the answer of err, deciding once and in this order: an *Error in err's
// chain as it is; else what m says (m may be nil); else, for a database condition after
// which the same request may well succeed (dbx.IsTransient: a deadlock, lock wait
// timeout, SQLite busy, or the database unreachable, restarting or out of connections),
// 503 UNAVAILABLE with Retry-After: 1 (the request changed nothing a retry would
// repeat); else a generic 500 INTERNAL. The result always has err as its cause.
func Map(err error, m Mapper) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if m != nil {
		if e = m(err); e != nil {
			return e
		}
	}
	if dbx.IsTransient(err) {
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "temporarily unavailable; retry later", RetryAfter: 1, Err: err}
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error", Err: err}
}
