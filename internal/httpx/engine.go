package httpx

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// gin's debug mode prints every route at start; servers run in release mode unless
// GIN_MODE says otherwise. Set once here, before any engine exists, because gin keeps the
// mode in a package variable.
func init() {
	if os.Getenv(gin.EnvGinMode) == "" {
		gin.SetMode(gin.ReleaseMode)
	}
}

// Readiness is what GET /readyz checks.
type Readiness struct {
	// Check reports whether the server can take work (its database answers, its etcd
	// session is live...). It gets a context bounded by Timeout.
	Check func(ctx context.Context) error
	// Timeout bounds Check; zero means one second.
	Timeout time.Duration
	// Code and Message are the 503 answer's; empty means UNAVAILABLE and "not ready".
	Code, Message string
}

type engineOptions struct {
	mapper   Mapper
	metrics  *Metrics
	ready    Readiness
	notFound string
}

// Option configures NewEngine.
type Option func(*engineOptions)

// WithMapper maps the server's domain errors (see Map).
func WithMapper(m Mapper) Option { return func(o *engineOptions) { o.mapper = m } }

// WithMetrics records every request on m and serves m's registry on GET /metrics.
func WithMetrics(m *Metrics) Option { return func(o *engineOptions) { o.metrics = m } }

// WithReadiness makes GET /readyz answer 503 while r.Check fails (logged at Warn). Without
// it /readyz answers 200 whenever the process serves.
func WithReadiness(r Readiness) Option { return func(o *engineOptions) { o.ready = r } }

// WithNotFoundMessage sets the message of the JSON 404 (default "no such endpoint").
func WithNotFoundMessage(msg string) Option { return func(o *engineOptions) { o.notFound = msg } }

// NewEngine returns a gin engine with, in this order, Recover, tcc.Propagate (request ID
// and trace context), the metrics middleware (WithMetrics), and Errors (WithMapper);
// JSON answers for an unknown route (404 NOT_FOUND) and a known route with another
// method (405 METHOD_NOT_ALLOWED); and GET /healthz (always 200 while serving), GET
// /readyz (WithReadiness) and, WithMetrics, GET /metrics. gin's ContextWithFallback is
// on, but handlers should still pass c.Request.Context() on: gin recycles c once the
// handler returns, and a database driver may watch the context a little longer.
func NewEngine(log *slog.Logger, opts ...Option) *gin.Engine {
	o := engineOptions{notFound: "no such endpoint"}
	for _, opt := range opts {
		opt(&o)
	}
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.Use(Recover(log), tcc.Propagate())
	if o.metrics != nil {
		r.Use(o.metrics.Middleware())
	}
	r.Use(Errors(log, o.mapper))
	r.NoRoute(func(c *gin.Context) {
		Abort(c, Errorf(http.StatusNotFound, CodeNotFound, "%s", o.notFound))
	})
	r.NoMethod(func(c *gin.Context) {
		Abort(c, Errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method not allowed"))
	})
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", readyz(log, o.ready))
	if o.metrics != nil {
		r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(o.metrics.Registry, promhttp.HandlerOpts{})))
	}
	return r
}

func readyz(log *slog.Logger, r Readiness) gin.HandlerFunc {
	if r.Timeout <= 0 {
		r.Timeout = time.Second
	}
	if r.Code == "" {
		r.Code = CodeUnavailable
	}
	if r.Message == "" {
		r.Message = "not ready"
	}
	return func(c *gin.Context) {
		if r.Check != nil {
			ctx, cancel := context.WithTimeout(c.Request.Context(), r.Timeout)
			defer cancel()
			if err := r.Check(ctx); err != nil {
				log.Warn("not ready", "err", err)
				Abort(c, Errorf(http.StatusServiceUnavailable, r.Code, "%s", r.Message))
				return
			}
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	}
}

// Recover turns a panic into a logged generic 500, so no request can crash a server. A
// panic with http.ErrAbortHandler is re-raised: it is net/http's way to drop a response.
func Recover(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler { //nolint:errorlint // recover() returns the value panicked with, compared as net/http does
					panic(r)
				}
				log.Error("panic serving request", "path", c.Request.URL.Path, "panic", r,
					"request_id", tcc.MetaFrom(c.Request.Context()).RequestID)
				Abort(c, &Error{Status: http.StatusInternalServerError, Code: CodeInternal})
			}
		}()
		c.Next()
	}
}

// RouteUnion lists the routes of the engines, each method and path once.
func RouteUnion(engines ...*gin.Engine) []gin.RouteInfo {
	var out []gin.RouteInfo
	seen := map[string]bool{}
	for _, e := range engines {
		for _, r := range e.Routes() {
			if k := r.Method + " " + r.Path; !seen[k] {
				seen[k] = true
				out = append(out, r)
			}
		}
	}
	return out
}
