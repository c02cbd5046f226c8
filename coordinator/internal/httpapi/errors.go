package httpapi

import (
	"errors"
	"net/http"

	"github.com/tccsuite/tccsuite/coordinator/internal/engine"
	"github.com/tccsuite/tccsuite/internal/httpx"
)

// Error codes of the API.
const (
	CodeBadJSON             = "BAD_JSON"
	CodeUnsupportedMedia    = httpx.CodeUnsupportedMedia
	CodeBodyTooLarge        = "BODY_TOO_LARGE"
	CodePayloadTooLarge     = "PAYLOAD_TOO_LARGE"
	CodeNoBranches          = "NO_BRANCHES"
	CodeTooManyBranches     = "TOO_MANY_BRANCHES"
	CodeUnknownParticipant  = "UNKNOWN_PARTICIPANT"
	CodeBadAction           = "BAD_ACTION"
	CodeBadPayload          = "BAD_PAYLOAD"
	CodeDuplicateBranch     = "DUPLICATE_BRANCH"
	CodeBadTimeout          = "BAD_TIMEOUT"
	CodeBadWait             = "BAD_WAIT"
	CodeBadLockKey          = "BAD_LOCK_KEY"
	CodeBadIdempotencyKey   = "BAD_IDEMPOTENCY_KEY"
	CodeIdempotencyMismatch = "IDEMPOTENCY_KEY_REUSED"
	CodeBadQuery            = "BAD_QUERY"
	CodeBadXID              = "BAD_XID"
	CodeNotFound            = httpx.CodeNotFound
	CodeLocked              = engine.CodeLocked
	CodeNotReady            = "NOT_READY"
	CodeUndecided           = "UNDECIDED"
	CodeOwnedElsewhere      = "OWNED_ELSEWHERE"
	CodeUnauthorized        = httpx.CodeUnauthorized
	CodeForbidden           = "FORBIDDEN"
	CodeInternal            = httpx.CodeInternal
)

// CodeDBUnavailable (503, Retry-After) answers any call while the coordinator's database
// is unreachable: nothing was done (a begin may have been stored if only its commit's
// answer was lost: it is then cancelled at its deadline, never run). Retry later.
const CodeDBUnavailable = "DB_UNAVAILABLE"

// mapError is the coordinator's httpx.Mapper: the engine's errors and their answers.
// What it does not know becomes a generic 500 INTERNAL (the cause is logged).
func mapError(err error) *httpx.Error {
	answer := func(status int, code, msg string) *httpx.Error {
		e := &httpx.Error{Status: status, Code: code, Message: msg, Err: err}
		if status == http.StatusServiceUnavailable {
			e.RetryAfter = 1
		}
		return e
	}
	switch {
	case errors.Is(err, engine.ErrUnavailable):
		return answer(http.StatusServiceUnavailable, CodeDBUnavailable, "the coordinator's database is unavailable; try again")
	case errors.Is(err, engine.ErrNotReady):
		return answer(http.StatusServiceUnavailable, CodeNotReady, "the coordinator cannot take transactions right now; try again")
	case errors.Is(err, engine.ErrIdempotencyMismatch):
		return answer(http.StatusUnprocessableEntity, CodeIdempotencyMismatch, "this Idempotency-Key was used with a different request")
	case errors.Is(err, engine.ErrNotFound):
		return answer(http.StatusNotFound, CodeNotFound, "no such transaction")
	case errors.Is(err, engine.ErrOwnedElsewhere):
		return answer(http.StatusConflict, CodeOwnedElsewhere, "another live coordinator drives this transaction")
	}
	return nil
}

// bad is a refusal of the request as it is: a 4xx with its code and message.
func bad(status int, code, format string, a ...any) error {
	return httpx.Errorf(status, code, format, a...)
}
