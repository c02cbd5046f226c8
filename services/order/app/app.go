// Package app runs the order service: configuration from the environment, start-up
// (database, migrations, clients, routes) and graceful shutdown. It is public so that
// the all-in-one quick start can run the service in-process.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"
	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/pkg/tcc"
	"github.com/tccsuite/tccsuite/services/internal/platform"
	"github.com/tccsuite/tccsuite/services/order/internal/adapters"
	"github.com/tccsuite/tccsuite/services/order/internal/httpapi"
	"github.com/tccsuite/tccsuite/services/order/internal/service"
	"github.com/tccsuite/tccsuite/services/order/internal/store"
)

// Config is the order service's configuration. See the README for the variables.
type Config struct {
	// Addr is the listen address (ORDER_ADDR, default ":8080").
	Addr string
	platform.Common
	// CoordinatorURL is the coordinator's base URL, or several comma-separated
	// (ORDER_COORDINATOR_URL).
	CoordinatorURL string
	// CoordinatorToken is the coordinator's client token (ORDER_COORDINATOR_TOKEN, the
	// coordinator's TCC_CLIENT_TOKEN; empty when the coordinator requires none).
	CoordinatorToken string
	// InventoryURL and PaymentURL are the base URLs of the catalogue and accounts look-ups
	// (ORDER_INVENTORY_URL, ORDER_PAYMENT_URL).
	InventoryURL string
	PaymentURL   string
	// AccountCheck makes the order service ask the payment service whether the user has
	// an account before starting a transaction (ORDER_ACCOUNT_CHECK, default true), so an
	// unknown user is refused with nothing written. Off, the payment Try refuses instead
	// (the same 422 UNKNOWN_USER, with the order recorded CANCELLED) and the order service
	// never calls the payment service (for networks that only let coordinators reach it).
	AccountCheck bool
	// TxTimeout is the global transaction's deadline (ORDER_TX_TIMEOUT, default 5s). Every
	// wait of an order derives from it (service.BudgetsFor): look-ups, the coordinator
	// call and the wait budget it announces, and so the longest a POST takes, 2·T + 9s
	// (19s by default) when T ≥ 3s.
	TxTimeout time.Duration
	// Wait is "completion" (default) or "decision" (ORDER_WAIT).
	Wait string
	// RateLimit is the sustained POST /api/v1/orders rate per second, 0 for none
	// (ORDER_RATE_LIMIT, default 10000); RateBurst the burst (ORDER_RATE_BURST, 1000).
	RateLimit float64
	RateBurst int
	// PriceCacheTTL is how long a catalogue price is reused (ORDER_PRICE_CACHE_TTL,
	// default 1s; 0 disables).
	PriceCacheTTL time.Duration
	// IdempotencyRetention is how long an Idempotency-Key is remembered
	// (ORDER_IDEMPOTENCY_RETENTION, default 168h; zero means the default); the keys are
	// purged every IdempotencyPurgeInterval (ORDER_IDEMPOTENCY_PURGE_INTERVAL, default 1h;
	// 0 disables).
	IdempotencyRetention     time.Duration
	IdempotencyPurgeInterval time.Duration
	// Listener, when set, is served instead of listening on Addr (tests, quick start).
	Listener net.Listener
}

// ConfigFromEnv reads the configuration through getenv (os.Getenv in main).
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	e := &platform.Env{Getenv: getenv}
	c := Config{
		Addr:             e.String("ORDER_ADDR", ":8080"),
		Common:           platform.CommonFromEnv(e, "ORDER_"),
		CoordinatorURL:   e.String("ORDER_COORDINATOR_URL", "http://127.0.0.1:7070"),
		CoordinatorToken: e.String("ORDER_COORDINATOR_TOKEN", ""),
		InventoryURL:     e.String("ORDER_INVENTORY_URL", "http://127.0.0.1:8081"),
		PaymentURL:       e.String("ORDER_PAYMENT_URL", "http://127.0.0.1:8082"),
		AccountCheck:     e.Bool("ORDER_ACCOUNT_CHECK", true),
		TxTimeout:        e.Duration("ORDER_TX_TIMEOUT", 5*time.Second),
		Wait:             e.String("ORDER_WAIT", tcc.WaitCompletion),
		RateLimit:        e.Float("ORDER_RATE_LIMIT", 10000),
		RateBurst:        int(e.Int("ORDER_RATE_BURST", 1000)),
		PriceCacheTTL:    e.Duration("ORDER_PRICE_CACHE_TTL", time.Second),

		IdempotencyRetention:     e.Duration("ORDER_IDEMPOTENCY_RETENTION", 7*24*time.Hour),
		IdempotencyPurgeInterval: e.Duration("ORDER_IDEMPOTENCY_PURGE_INTERVAL", time.Hour),
	}
	if err := e.Err(); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

// Validate reports every problem of the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Addr == "" && c.Listener == nil {
		errs = append(errs, errors.New("ORDER_ADDR is required"))
	}
	if err := c.Common.Validate("ORDER_"); err != nil {
		errs = append(errs, err)
	}
	if err := c.ValidateListeners("ORDER_", c.Addr, c.Listener); err != nil {
		errs = append(errs, err)
	}
	// ORDER_COORDINATOR_URL may list several coordinators, comma-separated (tcc.NewClient
	// spreads the calls and skips one that is down).
	urls := map[string][]string{"ORDER_COORDINATOR_URL": strings.Split(c.CoordinatorURL, ","), "ORDER_INVENTORY_URL": {c.InventoryURL}}
	if c.AccountCheck {
		urls["ORDER_PAYMENT_URL"] = []string{c.PaymentURL}
	}
	for name, us := range urls {
		for _, u := range us {
			p, err := url.Parse(strings.TrimSpace(u))
			if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
				errs = append(errs, fmt.Errorf("%s must be an http(s) URL, got %q", name, u))
			}
		}
	}
	if c.IdempotencyRetention != 0 && c.IdempotencyRetention < time.Hour {
		errs = append(errs, errors.New("ORDER_IDEMPOTENCY_RETENTION must be at least 1h"))
	}
	if c.IdempotencyPurgeInterval < 0 {
		errs = append(errs, errors.New("ORDER_IDEMPOTENCY_PURGE_INTERVAL must not be negative (0 disables the purge)"))
	}
	if c.TxTimeout < 100*time.Millisecond || c.TxTimeout > 5*time.Minute {
		errs = append(errs, errors.New("ORDER_TX_TIMEOUT must be in 100ms..5m"))
	}
	if c.Wait != tcc.WaitCompletion && c.Wait != tcc.WaitDecision {
		errs = append(errs, fmt.Errorf("ORDER_WAIT must be %q or %q", tcc.WaitCompletion, tcc.WaitDecision))
	}
	if c.RateLimit < 0 {
		errs = append(errs, errors.New("ORDER_RATE_LIMIT must not be negative"))
	}
	if c.RateLimit > 0 && c.RateBurst < 1 {
		errs = append(errs, errors.New("ORDER_RATE_BURST must be at least 1"))
	}
	if c.PriceCacheTTL < 0 || c.PriceCacheTTL > time.Minute {
		errs = append(errs, errors.New("ORDER_PRICE_CACHE_TTL must be in 0..1m"))
	}
	return errors.Join(errs...)
}

// Run runs the service until ctx ends, then shuts it down gracefully: the server stops
// taking requests and finishes those in flight (their transactions are decided by the
// coordinator either way), then the database closes.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("order: config: %w", err)
	}
	log = log.With("service", "order")
	log.Info("order starting", append([]any{"addr", cfg.Addr, "coordinator", cfg.CoordinatorURL, "inventory", cfg.InventoryURL,
		"payment", cfg.PaymentURL, "account_check", cfg.AccountCheck, "tx_timeout", cfg.TxTimeout.String(), "wait", cfg.Wait, "rate_limit", cfg.RateLimit,
		"rate_burst", cfg.RateBurst, "price_cache_ttl", cfg.PriceCacheTTL.String()},
		cfg.Common.LogAttrs()...)...)

	db, err := cfg.OpenDB(ctx)
	if err != nil {
		return fmt.Errorf("order: %w", err)
	}
	defer func() {
		if err := dbx.Close(db); err != nil {
			log.Warn("order: close database", "err", err)
		}
	}()
	if err := migrate(ctx, db); err != nil {
		return err
	}
	defer cfg.StartPurger(db, log)()
	defer startKeyPurger(cfg, store.New(db), log)()
	coord, err := newCoordinatorClient(cfg)
	if err != nil {
		return fmt.Errorf("order: %w", err)
	}
	defer coord.Close()
	api, tccAPI, closeClients, err := newHandler(cfg, db, log, coord)
	if err != nil {
		return err
	}
	defer closeClients()
	return platform.ServeAll(ctx, log, cfg.ShutdownGrace, cfg.Servers("order", cfg.Addr, cfg.Listener, api, tccAPI)...)
}

// newCoordinatorClient returns the coordinator client. Its timeout is the order's
// coordinator budget (service.BudgetsFor): the service bounds each begin by it too, and
// the client tells the coordinator that budget less a margin (tcc.HeaderWaitBudget), so
// the coordinator answers first whatever its TCC_COMPLETION_WAIT.
func newCoordinatorClient(cfg Config) (*tcc.Client, error) {
	return tcc.NewClient(cfg.CoordinatorURL, tcc.WithTimeout(service.BudgetsFor(cfg.TxTimeout).Coordinator),
		tcc.WithMaxIdleConnsPerHost(512), tcc.WithClientToken(cfg.CoordinatorToken))
}

func migrate(ctx context.Context, db *gorm.DB) error {
	if err := tcc.Migrate(ctx, db); err != nil {
		return fmt.Errorf("order: %w", err)
	}
	return store.Migrate(ctx, db)
}

// newHandler wires the routes with the given coordinator (a fake in tests): the REST API,
// health and metrics on api; the TCC action on tccAPI, which is api itself unless
// ORDER_TCC_ADDR gives it its own listener. The returned func releases the look-up
// clients' connections once the server stopped.
func newHandler(cfg Config, db *gorm.DB, log *slog.Logger, coord service.Coordinator) (api, tccAPI *gin.Engine, closeAll func(), err error) {
	st := store.New(db)
	lookupTimeout := service.BudgetsFor(cfg.TxTimeout).Lookup
	catalogue := adapters.NewCatalogue(cfg.InventoryURL, cfg.PriceCacheTTL, lookupTimeout)
	closers := []func(){catalogue.Close}
	var accounts service.Accounts = service.NoAccountCheck{}
	if cfg.AccountCheck {
		a := adapters.NewAccounts(cfg.PaymentURL, lookupTimeout)
		accounts, closers = a, append(closers, a.Close)
	}
	closeAll = func() {
		for _, c := range closers {
			c()
		}
	}
	svc := service.New(service.Config{TxTimeout: cfg.TxTimeout, Wait: cfg.Wait}, st, coord, catalogue, accounts, log)
	metrics := platform.NewMetrics("order")
	api, tccAPI = cfg.Engines(log, metrics, db, httpapi.MapError)
	participant, err := cfg.NewParticipant(db, log, metrics)
	if err != nil {
		closeAll()
		return nil, nil, nil, fmt.Errorf("order: %w", err)
	}
	if err := tcc.Mount(tccAPI, participant, service.PlaceAction(st)); err != nil {
		closeAll()
		return nil, nil, nil, fmt.Errorf("order: %w", err)
	}
	rest := &httpapi.API{Service: svc, Store: st, MaxBodyBytes: cfg.MaxBodyBytes, Log: log}
	if cfg.RateLimit > 0 {
		rest.Limiter = rate.NewLimiter(rate.Limit(cfg.RateLimit), cfg.RateBurst)
	}
	rest.Routes(api)
	return api, tccAPI, closeAll, nil
}

// startKeyPurger purges old idempotency keys every IdempotencyPurgeInterval until the
// returned stop is called (stop waits for a purge in progress).
func startKeyPurger(cfg Config, st *store.Store, log *slog.Logger) (stop func()) {
	if cfg.IdempotencyPurgeInterval <= 0 {
		return func() {}
	}
	retention := cfg.IdempotencyRetention
	if retention == 0 {
		retention = 7 * 24 * time.Hour
	}
	return platform.Background(func(ctx context.Context) {
		t := time.NewTicker(cfg.IdempotencyPurgeInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				n, err := st.PurgeKeys(ctx, retention, 500)
				switch {
				case err != nil && ctx.Err() == nil:
					log.Warn("order: idempotency key purge failed", "err", err)
				case n > 0:
					log.Info("order: idempotency keys purged", "keys", n)
				}
			}
		}
	})
}
