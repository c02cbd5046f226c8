// Command coordinator is the TCC transaction coordinator (docs/design.md §4). It is configured
// by environment variables (see README.md) and stops gracefully on SIGINT or SIGTERM.
// "coordinator migrate [up|status]" applies or lists the schema versions and exits.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/tccsuite/tccsuite/coordinator/app"
	"github.com/tccsuite/tccsuite/coordinator/internal/store"
	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/internal/migrate"
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
	cfg, err := app.ConfigFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	if len(os.Args) > 1 && os.Args[1] == "migrate" {
		db := dbx.Config{MySQLDSN: cfg.MySQLDSN, SQLitePath: cfg.SQLitePath, MaxOpenConns: cfg.DBMaxConns}
		return migrate.Command(ctx, db, store.Schema, os.Args[2:], os.Stdout, log)
	}
	return app.Run(ctx, cfg, log)
}
