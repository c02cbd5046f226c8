// Package httpapi is the coordinator's HTTP API (DESIGN §7) on gin: begin, get, list,
// the admin retry, and /healthz, /readyz, /metrics. It validates every input (DESIGN §8)
// before anything is stored and maps errors to stable JSON codes in one place.
package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tccsuite/tccsuite/coordinator/internal/engine"
	"github.com/tccsuite/tccsuite/coordinator/internal/metrics"
	"github.com/tccsuite/tccsuite/coordinator/internal/registry"
	"github.com/tccsuite/tccsuite/coordinator/internal/store"
	"github.com/tccsuite/tccsuite/internal/jsonx"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// Limits bound what a client may ask for.
type Limits struct {
	MaxBranches     int
	MaxPayloadBytes int
	MaxBodyBytes    int64
	MinTimeout      time.Duration
	MaxTimeout      time.Duration
	DefaultTimeout  time.Duration
	MaxLockKeys     int
}

// Deps are what the API serves from.
type Deps struct {
	Engine     *engine.Engine
	Registry   *registry.Registry
	Metrics    *metrics.Metrics
	Limits     Limits
	AdminToken string // empty: admin calls refused (unless AllowAdminWithoutToken)
	// ClientToken, when set, is required (as "Authorization: Bearer <token>", or the admin
	// token) on every /v1 call: only the services that start transactions may start or
	// read them. Empty: the API is open to whoever reaches it (network policy only).
	ClientToken string
	// AllowAdminWithoutToken opens admin calls to anyone (insecure development mode).
	AllowAdminWithoutToken bool
	// Ready reports whether the instance can take work (database and etcd session).
	Ready func(ctx context.Context) error
	Log   *slog.Logger
}

// Error codes of the API.
const (
	CodeBadJSON             = "BAD_JSON"
	CodeUnsupportedMedia    = "UNSUPPORTED_MEDIA_TYPE"
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
	CodeNotFound            = "NOT_FOUND"
	CodeLocked              = engine.CodeLocked
	CodeNotReady            = "NOT_READY"
	CodeUndecided           = "UNDECIDED"
	CodeOwnedElsewhere      = "OWNED_ELSEWHERE"
	CodeUnauthorized        = "UNAUTHORIZED"
	CodeForbidden           = "FORBIDDEN"
	CodeInternal            = "INTERNAL"
)

// CodeDBUnavailable (503, Retry-After) answers any call while the coordinator's database
// is unreachable: nothing was done (a begin may have been stored if only its commit's
// answer was lost: it is then cancelled at its deadline, never run). Retry later.
const CodeDBUnavailable = "DB_UNAVAILABLE"

// apiError is an error with its HTTP status and stable code.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func bad(status int, code, format string, a ...any) error {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, a...)}
}

// New returns the HTTP handler.
func New(d Deps) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(recovery(d.Log), tcc.Propagate())
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		if err := d.Ready(ctx); err != nil {
			d.Log.Warn("not ready", "err", err)
			c.JSON(http.StatusServiceUnavailable, tcc.ErrorBody{Code: CodeNotReady, Message: "not ready"})
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	})
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(d.Metrics.Registry, promhttp.HandlerOpts{})))
	h := &handlers{d: d}
	v1 := r.Group("/v1", h.client)
	v1.POST("/transactions", h.begin)
	v1.GET("/transactions", h.list)
	v1.GET("/transactions/:xid", h.get)
	v1.POST("/transactions/:xid/retry", h.admin, h.retry)
	r.NoRoute(func(c *gin.Context) {
		c.JSON(http.StatusNotFound, tcc.ErrorBody{Code: CodeNotFound, Message: "no such route"})
	})
	return r
}

type handlers struct{ d Deps }

// fail maps err to its answer; 5xx bodies are generic and the detail goes to the log.
func (h *handlers) fail(c *gin.Context, err error) {
	var ae *apiError
	status, code, msg := http.StatusInternalServerError, CodeInternal, "internal error"
	switch {
	case errors.As(err, &ae):
		status, code, msg = ae.status, ae.code, ae.msg
	case errors.Is(err, engine.ErrUnavailable):
		status, code, msg = http.StatusServiceUnavailable, CodeDBUnavailable, "the coordinator's database is unavailable; try again"
	case errors.Is(err, engine.ErrNotReady):
		status, code, msg = http.StatusServiceUnavailable, CodeNotReady, "the coordinator cannot take transactions right now; try again"
	case errors.Is(err, engine.ErrIdempotencyMismatch):
		status, code, msg = http.StatusUnprocessableEntity, CodeIdempotencyMismatch, "this Idempotency-Key was used with a different request"
	case errors.Is(err, engine.ErrNotFound):
		status, code, msg = http.StatusNotFound, CodeNotFound, "no such transaction"
	case errors.Is(err, engine.ErrOwnedElsewhere):
		status, code, msg = http.StatusConflict, CodeOwnedElsewhere, "another live coordinator drives this transaction"
	}
	if status >= 500 {
		if status == http.StatusServiceUnavailable {
			c.Header("Retry-After", "1")
		}
		h.d.Log.Error("request failed", "path", c.FullPath(), "status", status, "request_id", tcc.MetaFrom(c.Request.Context()).RequestID, "err", err)
	}
	c.AbortWithStatusJSON(status, tcc.ErrorBody{Code: code, Message: msg})
}

func recovery(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.Error("panic serving a request", "path", c.Request.URL.Path, "panic", fmt.Sprint(p))
				c.AbortWithStatusJSON(http.StatusInternalServerError, tcc.ErrorBody{Code: CodeInternal, Message: "internal error"})
			}
		}()
		c.Next()
	}
}

func (h *handlers) begin(c *gin.Context) {
	in, err := h.parseBegin(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	// The caller's wait budget (tcc.HeaderWaitBudget) caps the wait for the decision or
	// completion: the answer (what the transaction's state is then) reaches the caller
	// before it gives up, whatever TCC_COMPLETION_WAIT is. A malformed one is ignored.
	ctx := c.Request.Context()
	var budgeted context.Context
	if ms, perr := strconv.ParseInt(c.GetHeader(tcc.HeaderWaitBudget), 10, 64); perr == nil && ms > 0 {
		var cancel context.CancelFunc
		budgeted, cancel = context.WithTimeout(ctx, time.Duration(min(ms, int64(time.Hour/time.Millisecond)))*time.Millisecond)
		defer cancel()
		ctx = budgeted
	}
	out, err := h.d.Engine.Begin(ctx, in)
	if err != nil && budgeted != nil && budgeted.Err() != nil && c.Request.Context().Err() == nil {
		// The budget ran out in a read of a replay: the transaction exists but its state
		// is not known here now. Not NOT_READY: the call was taken.
		c.Header("Retry-After", "1")
		c.JSON(http.StatusServiceUnavailable, tcc.ErrorBody{Code: CodeUndecided, Message: "the transaction is not decided yet; repeat the call with the same Idempotency-Key"})
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	t := out.Tx
	c.Header(tcc.HeaderXID, t.XID)
	switch {
	case t.Refusal != nil && t.Refusal.Code == engine.CodeLocked:
		c.JSON(http.StatusConflict, tcc.ErrorBody{Code: CodeLocked, Message: "transaction " + t.XID + " cancelled: " + t.Refusal.Message})
	case t.Status == tcc.TxTrying:
		c.Header("Retry-After", "1")
		c.JSON(http.StatusServiceUnavailable, tcc.ErrorBody{Code: CodeUndecided, Message: "transaction " + t.XID + " is not decided yet; query it with GET /v1/transactions/" + t.XID})
	case !out.Reached:
		c.JSON(http.StatusAccepted, t)
	case out.Replay:
		c.JSON(http.StatusOK, t)
	default:
		c.JSON(http.StatusCreated, t)
	}
}

// parseBegin reads and validates a begin request; any error means nothing is stored.
func (h *handlers) parseBegin(c *gin.Context) (engine.BeginInput, error) {
	lim := h.d.Limits
	var in engine.BeginInput
	body, err := jsonx.ReadBody(c.Writer, c.Request, lim.MaxBodyBytes)
	switch {
	case errors.Is(err, jsonx.ErrMediaType):
		return in, bad(http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "Content-Type must be application/json")
	case errors.Is(err, jsonx.ErrTooLarge):
		return in, bad(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "body over %d bytes", lim.MaxBodyBytes)
	case err != nil:
		return in, bad(http.StatusBadRequest, CodeBadJSON, "could not read the body")
	}
	if err := jsonx.DecodeStrict(body, &in.Req); err != nil {
		return in, bad(http.StatusBadRequest, CodeBadJSON, "the body is not a valid transaction request: %s", err)
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

func (h *handlers) get(c *gin.Context) {
	xid := c.Param("xid")
	if !tcc.ValidID(xid) {
		h.fail(c, bad(http.StatusBadRequest, CodeBadXID, "malformed XID"))
		return
	}
	t, err := h.d.Engine.Get(c.Request.Context(), xid)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, t)
}

func (h *handlers) list(c *gin.Context) {
	f := store.ListFilter{Limit: 100}
	q := c.Request.URL.Query()
	if s := q.Get("status"); s != "" {
		switch st := tcc.TxStatus(s); st {
		case tcc.TxTrying, tcc.TxConfirming, tcc.TxConfirmed, tcc.TxCancelling, tcc.TxCancelled:
			f.Status = st
		default:
			h.fail(c, bad(http.StatusBadRequest, CodeBadQuery, "unknown status"))
			return
		}
	}
	if s := q.Get("attention"); s != "" {
		v, err := strconv.ParseBool(s)
		if err != nil {
			h.fail(c, bad(http.StatusBadRequest, CodeBadQuery, "attention must be true or false"))
			return
		}
		f.Attention = &v
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			h.fail(c, bad(http.StatusBadRequest, CodeBadQuery, "limit must be 1..1000"))
			return
		}
		f.Limit = n
	}
	if s := q.Get("after"); s != "" {
		if !tcc.ValidID(s) {
			h.fail(c, bad(http.StatusBadRequest, CodeBadQuery, "malformed after cursor"))
			return
		}
		f.After = s
	}
	page, err := h.d.Engine.List(c.Request.Context(), f)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, page)
}

// client checks the client token (or the admin token) when one is configured.
func (h *handlers) client(c *gin.Context) {
	if h.d.ClientToken == "" {
		return
	}
	got := []byte(c.GetHeader("Authorization"))
	okClient := subtle.ConstantTimeCompare(got, []byte("Bearer "+h.d.ClientToken)) == 1
	okAdmin := h.d.AdminToken != "" && subtle.ConstantTimeCompare(got, []byte("Bearer "+h.d.AdminToken)) == 1
	if !okClient && !okAdmin {
		h.fail(c, bad(http.StatusUnauthorized, CodeUnauthorized, "client token required"))
	}
}

// admin checks the Bearer admin token in constant time.
func (h *handlers) admin(c *gin.Context) {
	if h.d.AdminToken == "" {
		if h.d.AllowAdminWithoutToken {
			return
		}
		h.fail(c, bad(http.StatusForbidden, CodeForbidden, "admin calls are disabled: no admin token is configured"))
		return
	}
	want := "Bearer " + h.d.AdminToken
	if subtle.ConstantTimeCompare([]byte(c.GetHeader("Authorization")), []byte(want)) != 1 {
		h.fail(c, bad(http.StatusUnauthorized, CodeUnauthorized, "admin token required"))
		return
	}
}

func (h *handlers) retry(c *gin.Context) {
	xid := c.Param("xid")
	if !tcc.ValidID(xid) {
		h.fail(c, bad(http.StatusBadRequest, CodeBadXID, "malformed XID"))
		return
	}
	t, err := h.d.Engine.Retry(c.Request.Context(), xid)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, t)
}

func clip(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
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
