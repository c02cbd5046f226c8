// Package platform is the foundation layer the three business services share: the HTTP
// server lifecycle (graceful shutdown), the one error-mapping middleware, strict JSON
// decoding with size and media-type limits, admin authentication, health and metrics
// endpoints, and environment parsing. It knows nothing of orders, stock or money.
package platform

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/internal/jsonx"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// Error is an error with the HTTP status and stable code a client sees. Handlers return
// it (or a domain error that the service's Mapper turns into one) through c.Error.
type Error struct {
	Status  int
	Code    string
	Message string
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

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted message.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Stable codes shared by every service.
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

// Mapper turns a service's domain errors into an *Error; it returns nil for errors it
// does not know, which then answer a generic 500.
type Mapper func(error) *Error

// Errors is the one error-mapping middleware: after the handler ran, the last error it
// recorded with c.Error becomes the JSON answer {"code","message"}. 5xx answers are
// generic; their detail goes to the log with the request ID.
func Errors(log *slog.Logger, mapErr Mapper) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Next()
		if len(c.Errors) == 0 || c.Writer.Written() {
			return
		}
		err := c.Errors.Last().Err
		var pe *Error
		if !errors.As(err, &pe) && mapErr != nil {
			pe = mapErr(err)
		}
		if pe == nil && transient(err) {
			pe = &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "temporarily unavailable; retry later", RetryAfter: 1, Err: err}
		}
		if pe == nil {
			pe = &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error", Err: err}
		}
		rid := tcc.MetaFrom(c.Request.Context()).RequestID
		if pe.Status >= 500 {
			log.Error("request failed", "method", c.Request.Method, "path", c.FullPath(), "status", pe.Status, "request_id", rid, "err", err)
		}
		if pe.RetryAfter > 0 {
			c.Header("Retry-After", strconv.Itoa(pe.RetryAfter))
		}
		msg := pe.Message
		if pe.Status >= 500 && pe.Code == CodeInternal {
			msg = "internal error"
		}
		c.AbortWithStatusJSON(pe.Status, tcc.ErrorBody{Code: pe.Code, Message: msg})
	}
}

// Recover turns a panic into a logged generic 500, so no request can crash a service.
func Recover(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				log.Error("panic serving request", "path", c.Request.URL.Path, "panic", r,
					"request_id", tcc.MetaFrom(c.Request.Context()).RequestID)
				c.AbortWithStatusJSON(http.StatusInternalServerError, tcc.ErrorBody{Code: CodeInternal, Message: "internal error"})
			}
		}()
		c.Next()
	}
}

// Metrics holds the HTTP metrics of one service, on its own registry.
type Metrics struct {
	Registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewMetrics returns a registry with the Go and process collectors and HTTP metrics.
func NewMetrics(service string) *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "HTTP requests served, by route and status.",
			ConstLabels: prometheus.Labels{"service": service},
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", Help: "HTTP request latency, by route.",
			ConstLabels: prometheus.Labels{"service": service},
			Buckets:     []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method", "route"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

// Middleware records every request's status and latency under its route pattern (never
// the raw path, so clients cannot blow up the label space).
func (m *Metrics) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(c.Request.Method, route, strconv.Itoa(c.Writer.Status())).Inc()
		m.latency.WithLabelValues(c.Request.Method, route).Observe(time.Since(start).Seconds())
	}
}

// NewEngine returns a gin engine with recovery, header propagation (request ID, trace
// context), metrics, the error middleware, JSON 404/405 answers, and /healthz, /readyz
// and /metrics. readyz answers 200 when the database answers a ping within a second.
func NewEngine(log *slog.Logger, m *Metrics, db *gorm.DB, mapErr Mapper) *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.Use(Recover(log), tcc.Propagate(), m.Middleware(), Errors(log, mapErr))
	r.NoRoute(func(c *gin.Context) {
		c.AbortWithStatusJSON(http.StatusNotFound, tcc.ErrorBody{Code: CodeNotFound, Message: "no such endpoint"})
	})
	r.NoMethod(func(c *gin.Context) {
		c.AbortWithStatusJSON(http.StatusMethodNotAllowed, tcc.ErrorBody{Code: CodeMethodNotAllowed, Message: "method not allowed"})
	})
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), time.Second)
		defer cancel()
		sqlDB, err := db.DB()
		if err == nil {
			err = sqlDB.PingContext(ctx)
		}
		if err != nil {
			log.Warn("readiness: database unusable", "err", err)
			c.JSON(http.StatusServiceUnavailable, tcc.ErrorBody{Code: CodeUnavailable, Message: "database unavailable"})
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	})
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})))
	return r
}

// DecodeJSON reads a JSON request body into v strictly: Content-Type must be
// application/json (415), the body at most max bytes (413), one JSON value with no
// unknown fields and the right types (400).
func DecodeJSON(c *gin.Context, max int64, v any) error {
	body, err := jsonx.ReadBody(c.Writer, c.Request, max)
	switch {
	case errors.Is(err, jsonx.ErrMediaType):
		return Errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "Content-Type must be application/json")
	case errors.Is(err, jsonx.ErrTooLarge):
		return Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "the body is over %d bytes", max)
	case err != nil:
		return Errorf(http.StatusBadRequest, CodeBadRequest, "could not read the body")
	}
	return Unmarshal(body, v)
}

// Unmarshal decodes one strict JSON value (no unknown fields, no trailing data).
func Unmarshal(body []byte, v any) error {
	if err := jsonx.DecodeStrict(body, v); err != nil {
		return Errorf(http.StatusBadRequest, CodeBadRequest, "invalid JSON body: %s", err)
	}
	return nil
}

// AdminAuth checks "Authorization: Bearer <token>" in constant time; a missing or wrong
// token answers 401 and the handler never runs.
func AdminAuth(token string) gin.HandlerFunc {
	want := []byte("Bearer " + token)
	return func(c *gin.Context) {
		got := []byte(c.GetHeader("Authorization"))
		if token == "" || subtle.ConstantTimeCompare(got, want) != 1 {
			c.Header("WWW-Authenticate", `Bearer realm="tccsuite-admin"`)
			c.AbortWithStatusJSON(http.StatusUnauthorized, tcc.ErrorBody{Code: CodeUnauthorized, Message: "admin token missing or wrong"})
			return
		}
		c.Next()
	}
}

// Serve serves h on ln (or on addr when ln is nil) until ctx ends, then shuts down
// gracefully: it stops accepting, lets in-flight requests finish for up to grace, and
// returns. ready, when not nil, receives the bound address once listening.
func Serve(ctx context.Context, log *slog.Logger, name, addr string, ln net.Listener, h http.Handler, grace time.Duration, ready func(net.Addr)) error {
	return ServeAll(ctx, log, grace, Server{Name: name, Addr: addr, Listener: ln, Handler: h, Ready: ready})
}

// Server is one listener of a service for ServeAll.
type Server struct {
	// Name names the server in logs and errors ("inventory", "inventory tcc").
	Name string
	// Addr is listened on when Listener is nil.
	Addr     string
	Listener net.Listener
	Handler  http.Handler
	// Ready, when not nil, receives the bound address once listening.
	Ready func(net.Addr)
}

// ServeAll serves every server until ctx ends or one of them fails, then shuts them all
// down together and gracefully: they stop accepting, in-flight requests finish for up to
// grace, and ServeAll returns. A listen error closes the listeners already bound (and the
// given ones) and returns before anything is served.
func ServeAll(ctx context.Context, log *slog.Logger, grace time.Duration, servers ...Server) error {
	if len(servers) == 0 {
		return errors.New("serve: no server")
	}
	lns := make([]net.Listener, len(servers))
	for i, s := range servers {
		lns[i] = s.Listener
		if lns[i] != nil {
			continue
		}
		ln, err := net.Listen("tcp", s.Addr)
		if err != nil {
			for _, l := range lns[:i] {
				_ = l.Close()
			}
			for _, o := range servers[i+1:] {
				if o.Listener != nil {
					_ = o.Listener.Close()
				}
			}
			return fmt.Errorf("%s: listen %s: %w", s.Name, s.Addr, err)
		}
		lns[i] = ln
	}
	type result struct {
		i   int
		err error
	}
	srvs := make([]*http.Server, len(servers))
	errc := make(chan result, len(servers))
	for i, s := range servers {
		srvs[i] = &http.Server{
			Handler:           s.Handler,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		go func() { errc <- result{i, srvs[i].Serve(lns[i])} }()
		log.Info(s.Name+" listening", "addr", lns[i].Addr().String())
		if s.Ready != nil {
			s.Ready(lns[i].Addr())
		}
	}
	var errs []error
	pending := len(servers)
	select {
	case r := <-errc:
		// Serve only returns early on a failure (ErrServerClosed needs a Shutdown).
		pending--
		errs = append(errs, fmt.Errorf("%s: serve: %w", servers[r.i].Name, r.err))
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	shut := make(chan error, len(servers))
	for i, s := range servers {
		log.Info(s.Name+" shutting down", "grace", grace.String())
		go func() {
			if err := srvs[i].Shutdown(sctx); err != nil {
				_ = srvs[i].Close()
				shut <- fmt.Errorf("%s: shutdown: %w", s.Name, err)
				return
			}
			shut <- nil
		}()
	}
	for range servers {
		if err := <-shut; err != nil {
			errs = append(errs, err)
		}
	}
	for ; pending > 0; pending-- {
		if r := <-errc; r.err != nil && !errors.Is(r.err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("%s: serve: %w", servers[r.i].Name, r.err))
		}
	}
	return errors.Join(errs...)
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

// transient reports a database condition after which the same request may well succeed:
// a deadlock or lock wait timeout, SQLite busy, or the database unreachable, restarting
// or out of connections (dbx.IsTransient). Such an answer is a 503 with Retry-After,
// never a 500: the request changed nothing that a retry would repeat.
func transient(err error) bool { return dbx.IsTransient(err) }

// Page limits of the list endpoints.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// PageQuery reads a list endpoint's ?limit= (1..MaxPageSize, default DefaultPageSize)
// and ?after= cursor, which validAfter must accept (what names it in the error). Fetch
// limit+1 rows and cut them with Page.
func PageQuery(c *gin.Context, validAfter func(string) bool, what string) (limit int, after string, err error) {
	limit = DefaultPageSize
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			return 0, "", Errorf(http.StatusBadRequest, CodeBadRequest, "limit must be in 1..%d", MaxPageSize)
		}
		limit = n
	}
	after = c.Query("after")
	if after != "" && !validAfter(after) {
		return 0, "", Errorf(http.StatusBadRequest, CodeBadRequest, "after must be %s", what)
	}
	return limit, after, nil
}

// Page cuts rows, fetched with limit+1, to one page and returns the next page's cursor
// (the last row's key), or "" when this is the last page.
func Page[T any](rows []T, limit int, key func(T) string) ([]T, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, key(rows[limit-1])
}
