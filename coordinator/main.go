// Command coordinator is the TCC transaction coordinator (DESIGN §4). It is configured
// by environment variables (see README.md) and stops gracefully on SIGINT or SIGTERM.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/tccsuite/tccsuite/coordinator/app"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "coordinator:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	level := slog.LevelInfo
	if err := level.UnmarshalText([]byte(os.Getenv("TCC_LOG_LEVEL"))); err != nil && os.Getenv("TCC_LOG_LEVEL") != "" {
		return fmt.Errorf("TCC_LOG_LEVEL: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg, err := app.ConfigFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	return app.Run(ctx, cfg, log)
}
