package app

import (
	"log/slog"

	"github.com/gin-gonic/gin"

	"github.com/tccsuite/tccsuite/coordinator/internal/httpapi"
	"github.com/tccsuite/tccsuite/coordinator/internal/metrics"
)

// Routes lists the routes the coordinator serves (method and gin path pattern), so that
// the API reference (api/openapi.yaml) can be checked against the server itself.
func Routes() []gin.RouteInfo {
	return httpapi.New(httpapi.Deps{Metrics: metrics.New(), Log: slog.New(slog.DiscardHandler)}).Routes()
}
