// Package app is the payment service: its configuration from the environment, and its
// description to the service skeleton (platform.Run does start-up and shutdown). It is
// public so that the all-in-one quick start can run the service in-process.
package app

import (
	"context"
	"log/slog"

	"github.com/gin-gonic/gin"

	"github.com/tccsuite/tccsuite/internal/conf"
	"github.com/tccsuite/tccsuite/services/internal/platform"
	"github.com/tccsuite/tccsuite/services/payment/internal/httpapi"
	"github.com/tccsuite/tccsuite/services/payment/internal/store"
	"github.com/tccsuite/tccsuite/services/payment/internal/tccaction"
)

// Run runs the service until ctx ends, then shuts it down gracefully (platform.Run): the
// server stops taking requests and finishes those in flight, then the database closes.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	return platform.Run(ctx, log, describe(cfg))
}

// describe is the payment service as the skeleton runs it: its store, its TCC action on
// the TCC routes (PAYMENT_TCC_ADDR may give them their own listener), its REST API with
// the admin PUT.
func describe(cfg Config) platform.Service {
	return platform.Service{
		Name: "payment", Common: cfg.Common, Addr: cfg.Addr, Listener: cfg.Listener,
		Validate: cfg.Validate, LogAttrs: conf.Attrs(cfg), AdminAPI: true, Migrate: store.Migrate, Mapper: httpapi.MapError,
		Build: func(d platform.Deps) (platform.Parts, error) {
			st := store.New(d.DB)
			rest := &httpapi.API{Store: st, MaxBodyBytes: cfg.MaxBodyBytes}
			return platform.Parts{
				Actions: []platform.Mounter{platform.Action(tccaction.Charge(st))},
				Routes:  func(r gin.IRouter) { rest.Routes(r, d.Admin) },
			}, nil
		},
	}
}
