// Command inventory is the inventory service: the catalogue, stock reservations (the
// TCC action "reserve") and the stock REST API. Configuration: environment variables,
// see the README. "inventory migrate [up|status]" applies or lists the schema versions and
// exits.
package main

import (
	"github.com/tccsuite/tccsuite/services/internal/platform"
	"github.com/tccsuite/tccsuite/services/inventory/app"
	"github.com/tccsuite/tccsuite/services/inventory/internal/store"
)

func main() {
	platform.Main(platform.Binary[app.Config]{
		Name: "inventory", Load: app.ConfigFromEnv, Run: app.Run, Schema: store.Schema,
		Common: func(c app.Config) platform.Common { return c.Common },
	})
}
