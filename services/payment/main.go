// Command payment is the payment service: accounts, fund holds (the TCC action
// "charge": freeze, capture, release) and the accounts REST API. Configuration: environment variables,
// see the README. "payment migrate [up|status]" applies or lists the schema versions and
// exits.
package main

import (
	"github.com/tccsuite/tccsuite/services/internal/platform"
	"github.com/tccsuite/tccsuite/services/payment/app"
	"github.com/tccsuite/tccsuite/services/payment/internal/store"
)

func main() {
	platform.Main(platform.Binary[app.Config]{
		Name: "payment", Load: app.ConfigFromEnv, Run: app.Run, Schema: store.Schema,
		Common: func(c app.Config) platform.Common { return c.Common },
	})
}
