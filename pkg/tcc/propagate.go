package tcc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-resty/resty/v2"
)

// Meta is what one request carries along every hop of a transaction: the request ID of
// the original REST call, the W3C trace context, and, inside a branch call, the XID,
// branch ID and deadline.
type Meta struct {
	RequestID   string
	TraceParent string
	TraceState  string
	XID         string
	BranchID    string
	Deadline    time.Time // zero when none
}

type metaKey struct{}

// WithMeta returns a context carrying m.
func WithMeta(ctx context.Context, m Meta) context.Context {
	return context.WithValue(ctx, metaKey{}, m)
}

// MetaFrom returns the Meta carried by ctx (zero if none).
func MetaFrom(ctx context.Context) Meta {
	m, _ := ctx.Value(metaKey{}).(Meta)
	return m
}

// MetaFromHeader reads the propagated headers. Malformed optional values are dropped
// rather than refused: propagation never fails a request.
func MetaFromHeader(h http.Header) Meta {
	m := Meta{
		RequestID:   h.Get(HeaderRequestID),
		TraceParent: h.Get(HeaderTraceParent),
		TraceState:  h.Get(HeaderTraceState),
		XID:         h.Get(HeaderXID),
		BranchID:    h.Get(HeaderBranchID),
	}
	if len(m.RequestID) > 128 || !printable(m.RequestID) {
		m.RequestID = ""
	}
	if len(m.TraceParent) > 55 || !printable(m.TraceParent) {
		m.TraceParent = ""
	}
	if len(m.TraceState) > 512 || !printable(m.TraceState) {
		m.TraceState = ""
	}
	if !ValidID(m.XID) {
		m.XID = ""
	}
	if !ValidID(m.BranchID) {
		m.BranchID = ""
	}
	if d := h.Get(HeaderDeadline); d != "" {
		if t, err := ParseDeadline(d); err == nil {
			m.Deadline = t
		}
	}
	return m
}

// Inject sets m's non-empty fields as headers on h.
func (m Meta) Inject(h http.Header) {
	set := func(k, v string) {
		if v != "" {
			h.Set(k, v)
		}
	}
	set(HeaderRequestID, m.RequestID)
	set(HeaderTraceParent, m.TraceParent)
	set(HeaderTraceState, m.TraceState)
	set(HeaderXID, m.XID)
	set(HeaderBranchID, m.BranchID)
	if !m.Deadline.IsZero() {
		h.Set(HeaderDeadline, FormatDeadline(m.Deadline))
	}
}

// NewRequestID returns a random 128-bit request ID in hex.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Propagate is a gin middleware that reads the propagated headers into the request
// context (MetaFrom), gives the request an X-Request-ID if it has none and echoes it in
// the answer, and applies X-TCC-Deadline, if present and in the future, as the context's
// deadline.
func Propagate() gin.HandlerFunc {
	return func(c *gin.Context) {
		m := MetaFromHeader(c.Request.Header)
		if m.RequestID == "" {
			m.RequestID = NewRequestID()
		}
		c.Header(HeaderRequestID, m.RequestID)
		ctx := WithMeta(c.Request.Context(), m)
		if !m.Deadline.IsZero() && time.Now().Before(m.Deadline) {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, m.Deadline)
			defer cancel()
		}
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}

// RestyMiddleware is a resty request middleware (client.OnBeforeRequest) that copies the
// Meta of the request's context onto the outgoing call, so that a hop keeps the request
// ID, trace context and transaction headers. Headers set explicitly on the request win.
func RestyMiddleware(_ *resty.Client, r *resty.Request) error {
	m := MetaFrom(r.Context())
	h := http.Header{}
	m.Inject(h)
	for k, v := range h {
		if r.Header.Get(k) == "" {
			r.Header[k] = v
		}
	}
	return nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
