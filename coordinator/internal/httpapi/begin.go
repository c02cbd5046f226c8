package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tccsuite/tccsuite/coordinator/internal/engine"
	"github.com/tccsuite/tccsuite/internal/httpx"
	"github.com/tccsuite/tccsuite/internal/textx"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// maxWaitBudget caps the caller's X-TCC-Wait-Budget.
const maxWaitBudget = time.Hour

// begin starts a transaction and answers as coordinator/README.md's API table says.
func (h *handlers) begin(c *gin.Context) error {
	in, err := h.parseBegin(c)
	if err != nil {
		return err
	}
	// The caller's wait budget (tcc.HeaderWaitBudget) caps the wait for the decision or
	// completion: the answer (what the transaction's state is then) reaches the caller
	// before it gives up, whatever TCC_COMPLETION_WAIT is. A malformed one is ignored.
	ctx := c.Request.Context()
	var budgeted context.Context
	if ms, perr := strconv.ParseInt(c.GetHeader(tcc.HeaderWaitBudget), 10, 64); perr == nil && ms > 0 {
		var cancel context.CancelFunc
		budgeted, cancel = context.WithTimeout(ctx, time.Duration(min(ms, maxWaitBudget.Milliseconds()))*time.Millisecond)
		defer cancel()
		ctx = budgeted
	}
	out, err := h.d.Engine.Begin(ctx, in)
	if err != nil && budgeted != nil && budgeted.Err() != nil && c.Request.Context().Err() == nil {
		// The budget ran out in a read of a replay: the transaction exists but its state
		// is not known here now. Not NOT_READY: the call was taken.
		return &httpx.Error{Status: http.StatusServiceUnavailable, Code: CodeUndecided, RetryAfter: 1, Err: err,
			Message: "the transaction is not decided yet; repeat the call with the same Idempotency-Key"}
	}
	if err != nil {
		return err
	}
	t := out.Tx
	c.Header(tcc.HeaderXID, t.XID)
	switch {
	case t.Refusal != nil && t.Refusal.Code == engine.CodeLocked:
		return httpx.Errorf(http.StatusConflict, CodeLocked, "transaction %s cancelled: %s", t.XID, t.Refusal.Message)
	case t.Status == tcc.TxTrying:
		return &httpx.Error{Status: http.StatusServiceUnavailable, Code: CodeUndecided, RetryAfter: 1,
			Message: "transaction " + t.XID + " is not decided yet; query it with GET /v1/transactions/" + t.XID}
	case !out.Reached:
		c.JSON(http.StatusAccepted, t)
	case out.Replay:
		c.JSON(http.StatusOK, t)
	default:
		c.JSON(http.StatusCreated, t)
	}
	return nil
}

// beginBodyError renames httpx's body refusals to the coordinator's codes (413
// BODY_TOO_LARGE, 400 BAD_JSON; 415 is the same).
func beginBodyError(err error) error {
	var e *httpx.Error
	if !errors.As(err, &e) {
		return err
	}
	switch e.Status {
	case http.StatusRequestEntityTooLarge:
		e.Code = CodeBodyTooLarge
	case http.StatusBadRequest:
		e.Code = CodeBadJSON
	}
	return e
}

// parseBegin reads and validates a begin request; any error means nothing is stored.
func (h *handlers) parseBegin(c *gin.Context) (engine.BeginInput, error) {
	lim := h.d.Limits
	var in engine.BeginInput
	if err := httpx.DecodeJSON(c, lim.MaxBodyBytes, &in.Req); err != nil {
		return in, beginBodyError(err)
	}
	req := &in.Req
	if len(req.Branches) == 0 {
		return in, bad(http.StatusUnprocessableEntity, CodeNoBranches, "a transaction needs at least one branch")
	}
	if len(req.Branches) > lim.MaxBranches {
		return in, bad(http.StatusUnprocessableEntity, CodeTooManyBranches, "at most %d branches", lim.MaxBranches)
	}
	seen := map[string]int{}
	for i := range req.Branches {
		b := &req.Branches[i]
		if _, ok := h.d.Registry.Get(b.Participant); !ok {
			return in, bad(http.StatusUnprocessableEntity, CodeUnknownParticipant, "branch %d: unknown participant %q", i+1, clip(b.Participant))
		}
		if !tcc.ValidID(b.Action) {
			return in, bad(http.StatusUnprocessableEntity, CodeBadAction, "branch %d: action must be 1-64 characters of [A-Za-z0-9._:-]", i+1)
		}
		if len(b.Payload) > lim.MaxPayloadBytes {
			return in, bad(http.StatusRequestEntityTooLarge, CodePayloadTooLarge, "branch %d: payload over %d bytes", i+1, lim.MaxPayloadBytes)
		}
		if len(b.Payload) == 0 || bytes.Equal(b.Payload, []byte("null")) {
			return in, bad(http.StatusUnprocessableEntity, CodeBadPayload, "branch %d: payload is required", i+1)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, b.Payload); err != nil {
			return in, bad(http.StatusUnprocessableEntity, CodeBadPayload, "branch %d: payload is not valid JSON", i+1)
		}
		b.Payload = compact.Bytes()
		key := b.Participant + "\x00" + b.Action + "\x00" + compact.String()
		if j, dup := seen[key]; dup {
			return in, bad(http.StatusUnprocessableEntity, CodeDuplicateBranch, "branch %d repeats branch %d", i+1, j+1)
		}
		seen[key] = i
	}
	switch {
	case req.TimeoutMS == 0:
		in.Timeout = lim.DefaultTimeout
	case req.TimeoutMS < lim.MinTimeout.Milliseconds() || req.TimeoutMS > lim.MaxTimeout.Milliseconds():
		return in, bad(http.StatusUnprocessableEntity, CodeBadTimeout, "timeout_ms must be between %d and %d", lim.MinTimeout.Milliseconds(), lim.MaxTimeout.Milliseconds())
	default:
		in.Timeout = time.Duration(req.TimeoutMS) * time.Millisecond
	}
	switch req.Wait {
	case "":
		req.Wait = tcc.WaitCompletion
	case tcc.WaitDecision, tcc.WaitCompletion:
	default:
		return in, bad(http.StatusUnprocessableEntity, CodeBadWait, `wait must be "decision" or "completion"`)
	}
	if len(req.LockKeys) > lim.MaxLockKeys {
		return in, bad(http.StatusUnprocessableEntity, CodeBadLockKey, "at most %d lock keys", lim.MaxLockKeys)
	}
	keys := map[string]bool{}
	for _, k := range req.LockKeys {
		if !tcc.ValidID(k) {
			return in, bad(http.StatusUnprocessableEntity, CodeBadLockKey, "lock keys must be 1-64 characters of [A-Za-z0-9._:-]")
		}
		if keys[k] {
			return in, bad(http.StatusUnprocessableEntity, CodeBadLockKey, "lock key %q repeated", k)
		}
		keys[k] = true
	}
	if k := c.GetHeader("Idempotency-Key"); k != "" {
		if len(k) > 128 || !printable(k) {
			return in, bad(http.StatusBadRequest, CodeBadIdempotencyKey, "Idempotency-Key must be 1-128 printable ASCII characters")
		}
		in.IdempotencyKey = k
	}
	in.RequestHash = requestHash(req, in.Timeout)
	in.Meta = tcc.MetaFrom(c.Request.Context())
	return in, nil
}

// requestHash identifies a begin request for idempotency: branches, timeout and lock
// keys (not the wait mode, which only changes when the answer comes).
func requestHash(r *tcc.BeginRequest, timeout time.Duration) string {
	canon, _ := json.Marshal(struct {
		B []tcc.BranchSpec `json:"b"`
		T int64            `json:"t"`
		L []string         `json:"l"`
	}{r.Branches, timeout.Milliseconds(), r.LockKeys})
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:])
}

// clip shortens a client's string for an error message: at most 64 bytes (cut on a
// rune boundary) then "...", quoted if not printable ASCII.
func clip(s string) string {
	if len(s) > 64 {
		s = textx.Truncate(s, 64) + "..."
	}
	if !printable(s) {
		return strconv.Quote(s)
	}
	return s
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
