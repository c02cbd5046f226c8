// Package httpapi is the coordinator's HTTP API (docs/design.md §7) on gin and the shared HTTP
// seam (internal/httpx): begin, get, list, the admin retry, and /healthz, /readyz,
// /metrics. It validates every input (docs/design.md §8) before anything is stored; handlers
// return their errors and httpx maps them to JSON answers in one place (mapError).
package httpapi

import (
	"context"
	"log/slog"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tccsuite/tccsuite/coordinator/internal/engine"
	"github.com/tccsuite/tccsuite/coordinator/internal/metrics"
	"github.com/tccsuite/tccsuite/coordinator/internal/registry"
	"github.com/tccsuite/tccsuite/internal/httpx"
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
	// Ready reports whether the instance can take work (database and etcd session);
	// /readyz answers 503 NOT_READY while it fails.
	Ready func(ctx context.Context) error
	Log   *slog.Logger
}

// readyTimeout bounds the readiness check of one /readyz.
const readyTimeout = 2 * time.Second

// New returns the HTTP handler.
func New(d Deps) *gin.Engine {
	r := httpx.NewEngine(d.Log,
		httpx.WithMapper(mapError),
		httpx.WithMetrics(d.Metrics.HTTP),
		httpx.WithNotFoundMessage("no such route"),
		httpx.WithReadiness(httpx.Readiness{Check: d.Ready, Timeout: readyTimeout, Code: CodeNotReady, Message: "not ready"}),
	)
	h := &handlers{d: d}
	v1 := r.Group("/v1", h.client)
	v1.POST("/transactions", httpx.Handle(h.begin))
	v1.GET("/transactions", httpx.Handle(h.list))
	v1.GET("/transactions/:xid", httpx.Handle(h.get))
	v1.POST("/transactions/:xid/retry", h.admin, httpx.Handle(h.retry))
	return r
}

type handlers struct{ d Deps }
