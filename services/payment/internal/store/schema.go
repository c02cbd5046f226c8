package store

import (
	"embed"

	"github.com/tccsuite/tccsuite/internal/migrate"
)

//go:embed migrations/mysql/*.sql migrations/sqlite/*.sql
var migrations embed.FS

// Schema is the payment service's versioned schema, the TCC barrier's table included:
// migrations/mysql and migrations/sqlite, one file per version. Migrate applies it at
// start, "payment migrate" on demand.
var Schema = migrate.Set{Component: "payment", FS: migrate.Sub(migrations, "migrations")}
