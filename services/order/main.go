// Command order is the order service: the REST order API (POST /api/v1/orders starts a
// global transaction) and the order branch of it. Configuration: environment variables,
// see the README.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/tccsuite/tccsuite/services/order/app"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log); err != nil {
		log.Error("order stopped", "err", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger) error {
	cfg, err := app.ConfigFromEnv(os.Getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return app.Run(ctx, cfg, log)
}
