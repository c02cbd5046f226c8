package tcc

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Headers of the participant protocol (docs/design.md §2). The coordinator sends them on every
// branch call and every hop propagates them.
const (
	HeaderXID         = "X-TCC-XID"
	HeaderBranchID    = "X-TCC-Branch-ID"
	HeaderDeadline    = "X-TCC-Deadline"
	HeaderRequestID   = "X-Request-ID"
	HeaderTraceParent = "traceparent"
	HeaderTraceState  = "tracestate"
	HeaderAuth        = "Authorization"
)

// DeadlineLayout is the wire format of X-TCC-Deadline: RFC 3339, UTC, milliseconds.
const DeadlineLayout = "2006-01-02T15:04:05.000Z07:00"

// FormatDeadline renders t as X-TCC-Deadline expects.
func FormatDeadline(t time.Time) string { return t.UTC().Format(DeadlineLayout) }

// ParseDeadline reads an X-TCC-Deadline value (any RFC 3339 form is accepted).
func ParseDeadline(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("tcc: bad deadline %q: %w", s, err)
	}
	return t.UTC(), nil
}

// Phase is one of the three calls a branch receives.
type Phase string

// The phases, as they appear in URLs and in the barrier table.
const (
	PhaseTry     Phase = "try"
	PhaseConfirm Phase = "confirm"
	PhaseCancel  Phase = "cancel"
)

// Valid reports whether p is one of the three phases.
func (p Phase) Valid() bool { return p == PhaseTry || p == PhaseConfirm || p == PhaseCancel }

// Branch names one call to a participant: which global transaction, which branch of
// it, and which phase.
type Branch struct {
	XID      string
	BranchID string
	Phase    Phase
}

// MaxIDLen bounds XIDs and branch IDs (the barrier columns are this wide).
const MaxIDLen = 64

// ValidID reports whether s may be used as an XID, a branch ID or an action name: 1..64
// characters from [A-Za-z0-9._:-], other than "." and "..". The restriction keeps IDs
// safe in URLs (an action name is a path segment: /tcc/{action}/{phase}), logs and keys.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// Validate checks the branch's identity and phase.
func (b Branch) Validate() error {
	if !ValidID(b.XID) {
		return fmt.Errorf("tcc: bad XID %q", b.XID)
	}
	if !ValidID(b.BranchID) {
		return fmt.Errorf("tcc: bad branch ID %q", b.BranchID)
	}
	if !b.Phase.Valid() {
		return fmt.Errorf("tcc: bad phase %q", b.Phase)
	}
	return nil
}

// Outcome says what a phase call did; it is the "outcome" field of a 200 answer.
type Outcome string

// Outcomes of a successful (2xx) phase call.
const (
	// OutcomeApplied: the business change ran and committed with the barrier row.
	OutcomeApplied Outcome = "applied"
	// OutcomeDuplicate: this phase had already been applied; nothing was done again.
	OutcomeDuplicate Outcome = "duplicate"
	// OutcomeEmptyCompensation: a Cancel arrived for a Try that never ran (or rolled
	// back); nothing was compensated, and a late Try is now blocked.
	OutcomeEmptyCompensation Outcome = "empty_compensation"
)

// Stable error codes in {"code": ...} answers of the participant protocol.
const (
	CodeRejected         = "TCC_REJECTED" // business refusal of a Try (when no finer code is given)
	CodeSuspended        = "TCC_SUSPENDED"
	CodeExpired          = "TCC_EXPIRED"
	CodeBadHeader        = "TCC_BAD_HEADER"
	CodeBadPayload       = "TCC_BAD_PAYLOAD"
	CodeUnauthorized     = "TCC_UNAUTHORIZED"
	CodePayloadTooLarge  = "TCC_PAYLOAD_TOO_LARGE"
	CodeUnsupportedMedia = "TCC_UNSUPPORTED_MEDIA_TYPE"
	CodeRetry            = "TCC_RETRY"   // transient conflict (deadlock, busy): call again
	CodeTimeout          = "TCC_TIMEOUT" // the call ran out of time: outcome unknown
	CodeInternal         = "TCC_INTERNAL"
	// CodeNotTried: a Confirm for a branch whose Try was never applied by this
	// participant (it never arrived, rolled back, was blocked by its Cancel, or its
	// barrier rows were purged). Nothing was done; the coordinator treats it as final for
	// the branch and flags the transaction for attention.
	CodeNotTried = "TCC_NOT_TRIED"
	// CodePhaseConflict: a Confirm after this branch's Cancel was applied, or a Cancel
	// after its Confirm was applied. Nothing was done; final for the branch, and the
	// transaction is flagged for attention.
	CodePhaseConflict = "TCC_PHASE_CONFLICT"
)

// Sentinel errors of the barrier.
var (
	// ErrSuspended: a Try found that its Cancel had already run (docs/design.md §3); the Try did
	// nothing and never will.
	ErrSuspended = errors.New("tcc: try arrived after its cancel")
	// ErrExpired: the call arrived after its X-TCC-Deadline and did nothing.
	ErrExpired = errors.New("tcc: deadline passed")
	// ErrNotTried: a Confirm found no applied Try for its branch; nothing was done
	// (CodeNotTried).
	ErrNotTried = errors.New("tcc: confirm without an applied try")
	// ErrPhaseConflict: a Confirm found the branch cancelled, or a Cancel found it
	// confirmed; nothing was done (CodePhaseConflict).
	ErrPhaseConflict = errors.New("tcc: the opposite second phase was applied")
	// ErrRejected matches every business refusal (see Reject).
	ErrRejected = errors.New("tcc: rejected")
)

// RejectedError is a business refusal of a Try: not enough stock, not enough funds, a
// changed price. The coordinator decides Cancel and never retries the Try. Code is a
// stable machine-readable reason such as "OUT_OF_STOCK".
type RejectedError struct {
	Code    string
	Message string
}

func (e *RejectedError) Error() string { return "tcc: rejected: " + e.Code + ": " + e.Message }

// Is makes errors.Is(err, ErrRejected) true for every RejectedError.
func (e *RejectedError) Is(target error) bool { return target == ErrRejected }

// Reject returns a business refusal with a stable code (e.g. "OUT_OF_STOCK").
// Returned from a Try, it rolls the local transaction back and answers 409.
func Reject(code, message string) error {
	if code == "" {
		code = CodeRejected
	}
	return &RejectedError{Code: code, Message: message}
}

// ErrorBody is the JSON body of every non-2xx answer in the suite.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// PhaseResult is the JSON body of a 2xx phase answer.
type PhaseResult struct {
	XID      string  `json:"xid"`
	BranchID string  `json:"branch_id"`
	Phase    Phase   `json:"phase"`
	Outcome  Outcome `json:"outcome"`
}

// StatusClass is how a coordinator treats a participant's answer (docs/design.md §2). It is
// decided by the status code alone, never by the body's text.
type StatusClass int

// Answer classes.
const (
	ClassDone    StatusClass = iota // 2xx: done or already done
	ClassRefused                    // 409: business refusal of a Try (or suspension/expiry)
	ClassBadCall                    // any other 4xx: malformed call, a bug
	ClassUnknown                    // 5xx or anything else: outcome unknown
)

// Classify maps an HTTP status code to its class.
func Classify(status int) StatusClass {
	switch {
	case status >= 200 && status < 300:
		return ClassDone
	case status == http.StatusConflict:
		return ClassRefused
	case status >= 400 && status < 500:
		return ClassBadCall
	default:
		return ClassUnknown
	}
}
