// Command order is the order service: the REST order API (POST /api/v1/orders starts a
// global transaction) and the order branch of it. Configuration: environment variables,
// see the README. "order migrate [up|status]" applies or lists the schema versions and
// exits.
package main

import (
	"github.com/tccsuite/tccsuite/services/internal/platform"
	"github.com/tccsuite/tccsuite/services/order/app"
	"github.com/tccsuite/tccsuite/services/order/internal/store"
)

func main() {
	platform.Main(platform.Binary[app.Config]{
		Name: "order", Load: app.ConfigFromEnv, Run: app.Run, Schema: store.Schema,
		Common: func(c app.Config) platform.Common { return c.Common },
	})
}
