package httpx

import (
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// HandlerFunc is a handler that returns its failure instead of writing it: a non-nil
// error becomes the answer through the engine's Errors middleware (see Map). A handler
// that already wrote its answer should return nil.
type HandlerFunc func(*gin.Context) error

// Handle adapts h to gin: an error h returns is recorded on the context (c.Error) and the
// chain is aborted, so the Errors middleware answers it, once.
func Handle(h HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := h(c); err != nil {
			_ = c.Error(err)
			c.Abort()
		}
	}
}

// Errors is the one error-mapping middleware: after the handlers ran, the last error
// recorded on the context (by Handle, or c.Error) becomes the JSON answer through Map,
// unless an answer was already written. 5xx answers are logged with the request ID and
// the cause (503 at Warn: a retry may succeed; others at Error).
func Errors(log *slog.Logger, m Mapper) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Next()
		if len(c.Errors) == 0 || c.Writer.Written() {
			return
		}
		err := c.Errors.Last().Err
		e := Map(err, m)
		if e.Status >= 500 {
			level := slog.LevelError
			if e.Status == http.StatusServiceUnavailable {
				level = slog.LevelWarn
			}
			attrs := []any{"method", c.Request.Method, "path", c.FullPath(), "status", e.Status, "code", e.Code,
				"request_id", tcc.MetaFrom(c.Request.Context()).RequestID, "err", err}
			for k, v := range e.Details {
				attrs = append(attrs, k, v)
			}
			log.Log(c.Request.Context(), level, "request failed", attrs...)
		}
		Abort(c, e)
	}
}

// Abort answers e and stops the chain, without logging: for middleware that refuses a
// request before any handler runs. The body is {"code","message"} plus e.Details; a 500
// INTERNAL always says only "internal error".
func Abort(c *gin.Context, e *Error) {
	if e.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	msg := e.Message
	if e.Status >= 500 && e.Code == CodeInternal {
		c.AbortWithStatusJSON(e.Status, tcc.ErrorBody{Code: e.Code, Message: "internal error"})
		return
	}
	if len(e.Details) == 0 {
		c.AbortWithStatusJSON(e.Status, tcc.ErrorBody{Code: e.Code, Message: msg})
		return
	}
	body := make(map[string]any, len(e.Details)+2)
	for k, v := range e.Details {
		body[k] = v
	}
	body["code"], body["message"] = e.Code, msg
	c.AbortWithStatusJSON(e.Status, body)
}
