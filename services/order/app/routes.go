package app

import (
	"log/slog"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/services/internal/platform"
)

// Routes lists the routes the service serves (method and gin path pattern), so that the
// API reference (api/openapi.yaml) can be checked against the server itself. It wires
// the handler without opening a database; nothing is called.
//
// It wires the two-listener layout (ORDER_TCC_ADDR set) and lists the union of both
// engines: the routes are the same as with one listener, only split.
func Routes() ([]gin.RouteInfo, error) {
	env := map[string]string{"TCC_INSECURE": "true", "ORDER_SQLITE_PATH": "never-opened.db", "ORDER_TCC_ADDR": "127.0.0.1:0"}
	cfg, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		return nil, err
	}
	api, tccAPI, closeClients, err := newHandler(cfg, &gorm.DB{}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return nil, err
	}
	defer closeClients()
	return platform.RouteUnion(api, tccAPI), nil
}
