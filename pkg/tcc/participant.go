package tcc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/pkg/tcc/dberr"
	"github.com/tccsuite/tccsuite/pkg/tcc/jsonbody"
)

// DefaultMaxBodyBytes bounds a phase call's body when the config sets no limit.
const DefaultMaxBodyBytes = 64 << 10

// lateSecondPhaseTimeout bounds a Confirm or Cancel whose deadline had passed on arrival.
const lateSecondPhaseTimeout = 10 * time.Second

// ParticipantConfig configures a Participant.
type ParticipantConfig struct {
	// DB holds the business tables and tcc_barrier; every phase runs in one of its
	// transactions.
	DB *gorm.DB
	// Verifier checks that calls come from a coordinator. Required unless Insecure.
	Verifier *Verifier
	// Insecure accepts unsigned calls. For local development only: anyone who can reach
	// the participant can then reserve, confirm or release. A warning is logged.
	Insecure bool
	// MaxBodyBytes bounds the request body (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// Logger receives one line per refused or failed call (default slog.Default()).
	Logger *slog.Logger
	// Registerer, when set, receives the tcc_participant_calls_total counter.
	Registerer prometheus.Registerer
}

// Participant serves the phase endpoints of a service's TCC actions (docs/design.md §2).
type Participant struct {
	barrier  *Barrier
	verifier *Verifier
	maxBody  int64
	log      *slog.Logger
	calls    *prometheus.CounterVec
}

// NewParticipant checks cfg and returns a Participant.
func NewParticipant(cfg ParticipantConfig) (*Participant, error) {
	if cfg.DB == nil {
		return nil, errors.New("tcc: participant needs a DB")
	}
	if cfg.Verifier == nil && !cfg.Insecure {
		return nil, errors.New("tcc: participant needs a Verifier (or Insecure for development)")
	}
	p := &Participant{
		barrier:  NewBarrier(cfg.DB),
		verifier: cfg.Verifier,
		maxBody:  cfg.MaxBodyBytes,
		log:      cfg.Logger,
	}
	if p.maxBody <= 0 {
		p.maxBody = DefaultMaxBodyBytes
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	if cfg.Insecure && cfg.Verifier == nil {
		p.log.Warn("TCC PARTICIPANT AUTHENTICATION IS OFF: any caller can drive Try/Confirm/Cancel; never run this way outside local development")
	}
	p.calls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tcc_participant_calls_total",
		Help: "Phase calls served, by action, phase and outcome (applied, duplicate, empty_compensation, or an error code).",
	}, []string{"action", "phase", "outcome"})
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(p.calls); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("tcc: register metrics: %w", err)
			}
			p.calls = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	return p, nil
}

// Handler is the business step of one phase, run inside the barrier's local transaction
// tx with the decoded payload. It makes every change through tx. Returning a Reject
// error from a Try refuses it (409); any other error rolls back and answers 5xx, after
// which the coordinator calls again.
type Handler[P any] func(ctx context.Context, tx *gorm.DB, b Branch, payload P) error

// Action is one TCC action of a participant: its name in the URL and the business step
// of each phase. The coordinator sends the same payload to all three phases.
type Action[P any] struct {
	Name    string
	Try     Handler[P]
	Confirm Handler[P]
	Cancel  Handler[P]
}

// Validator is implemented by payloads that check themselves after decoding; an error
// answers 400 TCC_BAD_PAYLOAD and changes nothing.
type Validator interface {
	Validate() error
}

// Mount registers POST {r}/tcc/{a.Name}/try, /confirm and /cancel. It refuses an action
// whose name is not a ValidID (so never "." or "..", which would climb the URL path) or
// that lacks one of its three handlers.
func Mount[P any](r gin.IRouter, p *Participant, a Action[P]) error {
	if !ValidID(a.Name) {
		return fmt.Errorf("tcc: bad action name %q", a.Name)
	}
	if a.Try == nil || a.Confirm == nil || a.Cancel == nil {
		return fmt.Errorf("tcc: action %q needs Try, Confirm and Cancel", a.Name)
	}
	for _, ph := range []struct {
		phase Phase
		h     Handler[P]
	}{{PhaseTry, a.Try}, {PhaseConfirm, a.Confirm}, {PhaseCancel, a.Cancel}} {
		r.POST("/tcc/"+a.Name+"/"+string(ph.phase), phaseHandler(p, a.Name, ph.phase, ph.h))
	}
	return nil
}

// callError is a refusal of a phase call with its status and stable code.
type callError struct {
	status int
	code   string
	msg    string
}

func phaseHandler[P any](p *Participant, action string, phase Phase, h Handler[P]) gin.HandlerFunc {
	return func(c *gin.Context) {
		br, outcome, cerr := serve(c, p, phase, h)
		if cerr != nil {
			p.calls.WithLabelValues(action, string(phase), cerr.code).Inc()
			if cerr.status >= 500 {
				c.Header("Retry-After", "1")
			}
			c.AbortWithStatusJSON(cerr.status, ErrorBody{Code: cerr.code, Message: cerr.msg})
			return
		}
		p.calls.WithLabelValues(action, string(phase), string(outcome)).Inc()
		c.JSON(http.StatusOK, PhaseResult{XID: br.XID, BranchID: br.BranchID, Phase: phase, Outcome: outcome})
	}
}

func serve[P any](c *gin.Context, p *Participant, phase Phase, h Handler[P]) (Branch, Outcome, *callError) {
	req := c.Request
	body, err := jsonbody.ReadBody(c.Writer, req, p.maxBody)
	switch {
	case errors.Is(err, jsonbody.ErrMediaType):
		return Branch{}, "", &callError{http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "Content-Type must be application/json"}
	case errors.Is(err, jsonbody.ErrTooLarge):
		return Branch{}, "", &callError{http.StatusRequestEntityTooLarge, CodePayloadTooLarge, fmt.Sprintf("body over %d bytes", p.maxBody)}
	case err != nil:
		return Branch{}, "", &callError{http.StatusBadRequest, CodeBadPayload, "could not read the body"}
	}
	if p.verifier != nil {
		if err := p.verifier.Verify(req.Header, req.Method, req.URL.Path, body, time.Now()); err != nil {
			p.log.Warn("tcc: unauthenticated phase call refused", "path", req.URL.Path, "remote", c.ClientIP(), "err", err)
			return Branch{}, "", &callError{http.StatusUnauthorized, CodeUnauthorized, "the call is not signed by a coordinator"}
		}
	}
	br := Branch{XID: req.Header.Get(HeaderXID), BranchID: req.Header.Get(HeaderBranchID), Phase: phase}
	if !ValidID(br.XID) {
		return br, "", &callError{http.StatusBadRequest, CodeBadHeader, HeaderXID + " is missing or malformed"}
	}
	if !ValidID(br.BranchID) {
		return br, "", &callError{http.StatusBadRequest, CodeBadHeader, HeaderBranchID + " is missing or malformed"}
	}
	dl := req.Header.Get(HeaderDeadline)
	if dl == "" {
		return br, "", &callError{http.StatusBadRequest, CodeBadHeader, HeaderDeadline + " is missing"}
	}
	deadline, err := ParseDeadline(dl)
	if err != nil {
		return br, "", &callError{http.StatusBadRequest, CodeBadHeader, HeaderDeadline + " must be RFC 3339"}
	}
	log := p.log.With("xid", br.XID, "branch", br.BranchID, "phase", string(phase), "request_id", req.Header.Get(HeaderRequestID))

	now := time.Now()
	if phase == PhaseTry && !now.Before(deadline) {
		return br, "", &callError{http.StatusConflict, CodeExpired, "the transaction's deadline has passed"}
	}
	var payload P
	if err := jsonbody.DecodeStrict(body, &payload); err != nil {
		return br, "", &callError{http.StatusBadRequest, CodeBadPayload, "the payload is not valid JSON for this action: " + err.Error()}
	}
	if v, ok := any(&payload).(Validator); ok {
		if err := v.Validate(); err != nil {
			return br, "", &callError{http.StatusBadRequest, CodeBadPayload, err.Error()}
		}
	}

	// A Try runs under the transaction's deadline. A Confirm or Cancel must make progress
	// even when its per-call deadline already passed (clock skew, a slow network): it is
	// idempotent, so running late costs nothing, while refusing could stall it forever.
	if phase != PhaseTry && !now.Before(deadline) {
		deadline = now.Add(lateSecondPhaseTimeout)
	}
	ctx, cancel := context.WithDeadline(req.Context(), deadline)
	defer cancel()
	ctx = WithMeta(ctx, Meta{
		RequestID:   req.Header.Get(HeaderRequestID),
		TraceParent: req.Header.Get(HeaderTraceParent),
		TraceState:  req.Header.Get(HeaderTraceState),
		XID:         br.XID,
		BranchID:    br.BranchID,
		Deadline:    deadline,
	})

	outcome, err := p.barrier.Run(ctx, br, func(tx *gorm.DB) error { return h(ctx, tx, br, payload) })
	if err == nil {
		return br, outcome, nil
	}
	var rej *RejectedError
	switch {
	case errors.Is(err, ErrSuspended):
		log.Info("tcc: try refused: its cancel ran first")
		return br, "", &callError{http.StatusConflict, CodeSuspended, "the branch was cancelled before this try arrived"}
	case errors.Is(err, ErrExpired):
		return br, "", &callError{http.StatusConflict, CodeExpired, "the transaction's deadline has passed"}
	case errors.Is(err, ErrNotTried):
		// The coordinator confirmed a branch whose Try this participant never applied (or
		// whose barrier rows were purged): a coordinator bug or lost data, never normal.
		log.Error("tcc: confirm refused: no applied try for this branch; nothing was done", "err", err)
		return br, "", &callError{http.StatusConflict, CodeNotTried, "no try of this branch was applied here; nothing was done"}
	case errors.Is(err, ErrPhaseConflict):
		log.Error("tcc: second phase refused: the branch already went the other way; nothing was done", "err", err)
		return br, "", &callError{http.StatusConflict, CodePhaseConflict, "the opposite second phase of this branch was applied; nothing was done"}
	case errors.As(err, &rej) && phase == PhaseTry:
		return br, "", &callError{http.StatusConflict, rej.Code, rej.Message}
	case errors.As(err, &rej):
		log.Error("tcc: confirm/cancel refused for a business reason; this is a bug in the action", "code", rej.Code, "err", err)
		return br, "", &callError{http.StatusInternalServerError, CodeInternal, "internal error"}
	case dberr.IsRetryable(err):
		log.Warn("tcc: transient database conflict; the coordinator will call again", "err", err)
		return br, "", &callError{http.StatusServiceUnavailable, CodeRetry, "transient conflict, call again"}
	case errors.Is(ctx.Err(), context.Canceled):
		// The caller hung up (a coordinator cancelling the outstanding Tries after a
		// refusal, or a lost connection): nobody reads this answer.
		log.Info("tcc: caller went away; rolled back unless already committed", "err", err)
		return br, "", &callError{http.StatusGatewayTimeout, CodeTimeout, "the call was abandoned; outcome unknown, call again"}
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || ctx.Err() != nil:
		log.Warn("tcc: phase ran out of time; rolled back unless already committed", "err", err)
		return br, "", &callError{http.StatusGatewayTimeout, CodeTimeout, "the call ran out of time; outcome unknown, call again"}
	case dberr.IsUnavailable(err):
		// The database could not be reached or went away: nothing committed (or a lost
		// COMMIT answer, which the repeated call tells apart through the barrier).
		log.Warn("tcc: database unavailable; the coordinator will call again", "err", err)
		return br, "", &callError{http.StatusServiceUnavailable, CodeRetry, "the database is unavailable, call again"}
	default:
		log.Error("tcc: phase failed", "err", err)
		return br, "", &callError{http.StatusInternalServerError, CodeInternal, "internal error"}
	}
}
