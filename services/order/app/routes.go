package app

import (
	"fmt"
	"log/slog"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"
)

// Routes lists the routes the service serves (method and gin path pattern), so that the
// API reference (api/openapi.yaml) can be checked against the server itself. It wires
// the handler without opening a database; nothing is called.
func Routes() ([]gin.RouteInfo, error) {
	env := map[string]string{"TCC_INSECURE": "true", "ORDER_SQLITE_PATH": "never-opened.db"}
	cfg, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		return nil, err
	}
	h, closeClients, err := newHandler(cfg, &gorm.DB{}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return nil, err
	}
	defer closeClients()
	engine, ok := h.(*gin.Engine)
	if !ok {
		return nil, fmt.Errorf("order: the handler is a %T, not a gin engine", h)
	}
	return engine.Routes(), nil
}
