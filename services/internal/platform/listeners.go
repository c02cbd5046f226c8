package platform

import (
	"context"
	"log/slog"
	"net"
	"net/http"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/internal/httpx"
)

// Engines returns the engine the REST API goes on and the one the TCC participant
// routes go on: the same engine, unless SeparateTCC, then a second one built alike
// (httpx.NewEngine with m, mapErr, and /readyz pinging db).
func (c Common) Engines(log *slog.Logger, m *httpx.Metrics, db *gorm.DB, mapErr httpx.Mapper) (api, tcc *gin.Engine) {
	opts := []httpx.Option{httpx.WithMetrics(m), httpx.WithMapper(mapErr),
		httpx.WithReadiness(httpx.Readiness{Check: pingDB(db), Message: "database unavailable"})}
	api = httpx.NewEngine(log, opts...)
	if !c.SeparateTCC() {
		return api, api
	}
	return api, httpx.NewEngine(log, opts...)
}

// pingDB is a readiness check: the database answers a ping.
func pingDB(db *gorm.DB) func(context.Context) error {
	return func(ctx context.Context) error {
		sqlDB, err := db.DB()
		if err != nil {
			return err
		}
		return sqlDB.PingContext(ctx)
	}
}

// Servers returns what httpx.ServeAll serves for a service: the main listener (addr, or
// ln when set) with api, and, when SeparateTCC, the TCC listener with tcc.
func (c Common) Servers(name, addr string, ln net.Listener, api, tcc http.Handler) []httpx.Server {
	s := []httpx.Server{{Name: name, Addr: addr, Listener: ln, Handler: api}}
	if c.SeparateTCC() {
		s = append(s, httpx.Server{Name: name + " tcc", Addr: c.TCCAddr, Listener: c.TCCListener, Handler: tcc})
	}
	return s
}
