package store

import (
	"context"
	"embed"

	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/internal/migrate"
)

//go:embed migrations/mysql/*.sql migrations/sqlite/*.sql
var migrations embed.FS

// Schema is the order service's versioned schema, the TCC barrier's table included:
// migrations/mysql and migrations/sqlite, one file per version. Migrate applies it at
// start, "order migrate" on demand.
var Schema = migrate.Set{Component: "order", FS: migrate.Sub(migrations, "migrations"), Baseline: baseline}

// baseline tells the version of a database made before versioned migrations. Version 1
// (CREATE TABLE IF NOT EXISTS) adopts the tables of any such database, so only the one
// that already has version 2's columns (the code of the day they were added created
// them) must not run it: that database is at version 2.
func baseline(ctx context.Context, db *gorm.DB) (int64, error) {
	if db.WithContext(ctx).Migrator().HasColumn("idempotency_keys", "timeout_ms") {
		return 2, nil
	}
	return 0, nil
}
