package store

import (
	"embed"

	"github.com/tccsuite/tccsuite/internal/migrate"
)

//go:embed migrations/mysql/*.sql migrations/sqlite/*.sql
var migrations embed.FS

// Schema is the coordinator's versioned schema: migrations/mysql and migrations/sqlite,
// one file per version. Migrate applies it at start, "coordinator migrate" on demand.
var Schema = migrate.Set{Component: "coordinator", FS: migrate.Sub(migrations, "migrations")}
