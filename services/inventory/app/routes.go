package app

import (
	"github.com/gin-gonic/gin"

	"github.com/tccsuite/tccsuite/services/internal/platform"
)

// Routes lists the routes the service serves (method and gin path pattern), so that the
// API reference (api/openapi.yaml) can be checked against the server itself. It wires
// the service without opening a database, with both listeners (INVENTORY_TCC_ADDR set);
// nothing is called.
func Routes() ([]gin.RouteInfo, error) {
	return platform.Routes("INVENTORY_", func(getenv func(string) string) (platform.Service, error) {
		cfg, err := ConfigFromEnv(getenv)
		return describe(cfg), err
	})
}
