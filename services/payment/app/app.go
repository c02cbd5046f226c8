// Package app runs the payment service: configuration from the environment, start-up
// (database, migrations, routes) and graceful shutdown. It is public so that the
// all-in-one quick start can run the service in-process.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/pkg/tcc"
	"github.com/tccsuite/tccsuite/services/internal/platform"
	"github.com/tccsuite/tccsuite/services/payment/internal/httpapi"
	"github.com/tccsuite/tccsuite/services/payment/internal/store"
)

// Config is the payment's configuration. See the README for the variables.
type Config struct {
	// Addr is the listen address (PAYMENT_ADDR, default ":8082").
	Addr string
	platform.Common
	// Listener, when set, is served instead of listening on Addr (tests, quick start).
	// The TCC routes' own listener, if any, is in Common (TCCAddr, TCCListener).
	Listener net.Listener
}

// ConfigFromEnv reads the configuration through getenv (os.Getenv in main).
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	e := &platform.Env{Getenv: getenv}
	c := Config{Addr: e.String("PAYMENT_ADDR", ":8082"), Common: platform.CommonFromEnv(e, "PAYMENT_")}
	if err := e.Err(); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

// Validate reports every problem of the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Addr == "" && c.Listener == nil {
		errs = append(errs, errors.New("PAYMENT_ADDR is required"))
	}
	if err := c.Common.Validate("PAYMENT_"); err != nil {
		errs = append(errs, err)
	}
	if err := c.ValidateListeners("PAYMENT_", c.Addr, c.Listener); err != nil {
		errs = append(errs, err)
	}
	if c.AdminToken != "" && len(c.AdminToken) < 8 {
		errs = append(errs, errors.New("TCC_ADMIN_TOKEN must be at least 8 characters"))
	}
	return errors.Join(errs...)
}

// Run runs the service until ctx ends, then shuts it down gracefully: the server stops
// taking requests and finishes those in flight, then the database closes.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("payment: config: %w", err)
	}
	log = log.With("service", "payment")
	log.Info("payment starting", append([]any{"addr", cfg.Addr}, cfg.Common.LogAttrs()...)...)
	if cfg.AdminToken == "" {
		log.Warn("TCC_ADMIN_TOKEN is not set: the admin API refuses every call")
	}

	db, err := cfg.OpenDB(ctx)
	if err != nil {
		return fmt.Errorf("payment: %w", err)
	}
	defer func() {
		if err := dbx.Close(db); err != nil {
			log.Warn("payment: close database", "err", err)
		}
	}()
	if err := migrate(ctx, db); err != nil {
		return err
	}
	defer cfg.StartPurger(db, log)()
	api, tccAPI, err := newHandler(cfg, db, log)
	if err != nil {
		return err
	}
	return platform.ServeAll(ctx, log, cfg.ShutdownGrace, cfg.Servers("payment", cfg.Addr, cfg.Listener, api, tccAPI)...)
}

// migrate creates the barrier and the service's tables; idempotent.
func migrate(ctx context.Context, db *gorm.DB) error {
	if err := tcc.Migrate(ctx, db); err != nil {
		return fmt.Errorf("payment: %w", err)
	}
	return store.Migrate(ctx, db)
}

// newHandler wires the routes: the REST API, health and metrics on api; the TCC action
// on tccAPI, which is api itself unless PAYMENT_TCC_ADDR gives it its own listener.
func newHandler(cfg Config, db *gorm.DB, log *slog.Logger) (api, tccAPI *gin.Engine, err error) {
	st := store.New(db)
	metrics := platform.NewMetrics("payment")
	api, tccAPI = cfg.Engines(log, metrics, db, httpapi.MapError)
	participant, err := cfg.NewParticipant(db, log, metrics)
	if err != nil {
		return nil, nil, fmt.Errorf("payment: %w", err)
	}
	if err := tcc.Mount(tccAPI, participant, httpapi.ChargeAction(st)); err != nil {
		return nil, nil, fmt.Errorf("payment: %w", err)
	}
	rest := &httpapi.API{Store: st, MaxBodyBytes: cfg.MaxBodyBytes}
	rest.Routes(api, platform.AdminAuth(cfg.AdminToken))
	return api, tccAPI, nil
}
