// Package app is the order service: its configuration from the environment, and its
// description to the service skeleton (platform.Run does start-up and shutdown). It is
// public so that the all-in-one quick start can run the service in-process.
package app

import (
	"context"
	"log/slog"
	"time"

	"golang.org/x/time/rate"

	"github.com/tccsuite/tccsuite/internal/conf"
	"github.com/tccsuite/tccsuite/pkg/tcc"
	"github.com/tccsuite/tccsuite/services/internal/platform"
	"github.com/tccsuite/tccsuite/services/order/internal/adapters"
	"github.com/tccsuite/tccsuite/services/order/internal/httpapi"
	"github.com/tccsuite/tccsuite/services/order/internal/service"
	"github.com/tccsuite/tccsuite/services/order/internal/store"
	"github.com/tccsuite/tccsuite/services/order/internal/tccaction"
)

// Run runs the service until ctx ends, then shuts it down gracefully (platform.Run): the
// server stops taking requests and finishes those in flight (their transactions are
// decided by the coordinator either way), then the database closes.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	return platform.Run(ctx, log, describe(cfg, nil))
}

// describe is the order service as the skeleton runs it, with the given coordinator (nil:
// a tcc.Client for ORDER_COORDINATOR_URL; a fake in tests): its store, its TCC action
// on the TCC routes (ORDER_TCC_ADDR may give them their own listener), the orders API,
// and the idempotency key purge.
func describe(cfg Config, coord service.Coordinator) platform.Service {
	return platform.Service{
		Name: "order", Common: cfg.Common, Addr: cfg.Addr, Listener: cfg.Listener, Validate: cfg.Validate,
		LogAttrs: conf.Attrs(cfg), Migrate: store.Migrate, Mapper: httpapi.MapError,
		Build: func(d platform.Deps) (platform.Parts, error) { return build(cfg, d, coord) },
	}
}

// build wires the order service on d.DB. Its Close releases the coordinator client (when
// build made it) and the look-up clients' connections.
func build(cfg Config, d platform.Deps, coord service.Coordinator) (platform.Parts, error) {
	var closers []func()
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	if coord == nil {
		client, err := newCoordinatorClient(cfg)
		if err != nil {
			return platform.Parts{}, err
		}
		coord, closers = client, append(closers, client.Close)
	}
	st := store.New(d.DB)
	lookupTimeout := service.BudgetsFor(cfg.TxTimeout).Lookup
	catalogue := adapters.NewCatalogue(cfg.InventoryURL, cfg.PriceCacheTTL, lookupTimeout)
	closers = append(closers, catalogue.Close)
	var accounts service.Accounts = service.NoAccountCheck{}
	if cfg.AccountCheck {
		a := adapters.NewAccounts(cfg.PaymentURL, lookupTimeout)
		accounts, closers = a, append(closers, a.Close)
	}
	svc := service.New(service.Config{TxTimeout: cfg.TxTimeout, Wait: cfg.Wait}, st, coord, catalogue, accounts, d.Log)
	rest := &httpapi.API{Service: svc, Store: st, MaxBodyBytes: cfg.MaxBodyBytes}
	if cfg.RateLimit > 0 {
		rest.Limiter = rate.NewLimiter(rate.Limit(cfg.RateLimit), cfg.RateBurst)
	}
	return platform.Parts{
		Actions: []platform.Mounter{platform.Action(tccaction.Place(st))},
		Routes:  rest.Routes,
		Jobs:    []platform.Job{keyPurger(cfg, st, d.Log)},
		Close:   closeAll,
	}, nil
}

// newCoordinatorClient returns the coordinator client. Its timeout is the order's
// coordinator budget (service.BudgetsFor): the service bounds each begin by it too, and
// the client tells the coordinator that budget less a margin (tcc.HeaderWaitBudget), so
// the coordinator answers first whatever its TCC_COMPLETION_WAIT.
func newCoordinatorClient(cfg Config) (*tcc.Client, error) {
	return tcc.NewClient(cfg.CoordinatorURL, tcc.WithTimeout(service.BudgetsFor(cfg.TxTimeout).Coordinator),
		tcc.WithMaxIdleConnsPerHost(512), tcc.WithClientToken(cfg.CoordinatorToken))
}

// keyPurger purges old idempotency keys every IdempotencyPurgeInterval, 500 per
// statement (nil, no job, when the interval is 0).
func keyPurger(cfg Config, st *store.Store, log *slog.Logger) platform.Job {
	retention := cfg.IdempotencyRetention
	if retention == 0 {
		retention = 7 * 24 * time.Hour
	}
	return platform.Every(cfg.IdempotencyPurgeInterval, func(ctx context.Context) {
		n, err := st.PurgeKeys(ctx, retention, 500)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("order: idempotency key purge failed", "err", err)
		case n > 0:
			log.Info("order: idempotency keys purged", "keys", n)
		}
	})
}
