package platform

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/internal/migrate"
)

// Binary is what a participant service's main needs to know of it.
type Binary[C any] struct {
	// Name is the command's name ("inventory"), in its log lines.
	Name string
	// Load reads the configuration through getenv (the service's ConfigFromEnv).
	Load func(getenv func(string) string) (C, error)
	// Common returns the shared part of the configuration (database, log level).
	Common func(C) Common
	// Run runs the service until ctx ends (the service's app.Run).
	Run func(ctx context.Context, cfg C, log *slog.Logger) error
	// Schema is the service's versioned schema, for "<name> migrate".
	Schema migrate.Set
}

// Main is the whole main of a participant service: it reads the configuration from the
// environment, logs JSON to stderr at the configured level, and either runs
// "<name> migrate [up|status]" (the schema's versions applied or listed, then exit) or
// the service until SIGINT or SIGTERM, when it shuts down gracefully. It exits 1 after
// logging the error that stopped it.
func Main[C any](b Binary[C]) {
	level := new(slog.LevelVar) // INFO until the configuration's <S>_LOG_LEVEL is read
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := b.main(ctx, log, level, os.Args[1:])
	stop()
	if err != nil {
		log.Error(b.Name+" stopped", "err", err)
		os.Exit(1)
	}
}

func (b Binary[C]) main(ctx context.Context, log *slog.Logger, level *slog.LevelVar, args []string) error {
	cfg, err := b.Load(os.Getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	c := b.Common(cfg)
	level.Set(c.LogLevel)
	if len(args) > 0 && args[0] == "migrate" {
		db := dbx.Config{MySQLDSN: c.MySQLDSN, SQLitePath: c.SQLitePath, MaxOpenConns: c.DBMaxConns}
		return migrate.Command(ctx, db, b.Schema, args[1:], os.Stdout, log)
	}
	return b.Run(ctx, cfg, log)
}
