package platform

import (
	"context"
	"fmt"
	"log/slog"

	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// OpenDB opens the service's database, creating the MySQL schema if missing. An
// unreachable database is waited for up to DBConnectWait (dbx.WaitAvailable).
func (c Common) OpenDB(ctx context.Context, log *slog.Logger) (*gorm.DB, error) {
	var db *gorm.DB
	err := dbx.WaitAvailable(ctx, c.DBConnectWait, log, func(ctx context.Context) error {
		if c.MySQLDSN != "" {
			if err := dbx.CreateMySQLDatabase(ctx, c.MySQLDSN); err != nil {
				return err
			}
		}
		var err error
		db, err = dbx.Open(ctx, dbx.Config{MySQLDSN: c.MySQLDSN, SQLitePath: c.SQLitePath, MaxOpenConns: c.DBMaxConns})
		return err
	})
	return db, err
}

// Migrate creates the TCC barrier's tables, then the service's (migrate, when not nil).
// Idempotent: it may run at every start, on several replicas at once.
func Migrate(ctx context.Context, db *gorm.DB, migrate func(context.Context, *gorm.DB) error) error {
	if err := tcc.Migrate(ctx, db); err != nil {
		return fmt.Errorf("barrier: %w", err)
	}
	if migrate == nil {
		return nil
	}
	return migrate(ctx, db)
}
