package migrate

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pressly/goose/v3"
	"gorm.io/gorm"
)

// ApplyUnrecorded runs set's versions up to upTo on db without recording them: the tables
// they make exist, and the database has no history, as a database made by the code
// before versioned migrations (whose DDL the first versions are). It is for upgrade tests.
func ApplyUnrecorded(ctx context.Context, db *gorm.DB, set Set, upTo int64) error {
	r, err := open(db, set, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	var later []int64
	for _, s := range r.p.ListSources() {
		if s.Version > upTo {
			later = append(later, s.Version)
		}
	}
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	dir := Sub(set.FS, r.d.dir)
	p, err := goose.NewProvider(r.d.goose, sqlDB, dir, goose.WithDisableGlobalRegistry(true),
		goose.WithDisableVersioning(true), goose.WithExcludeVersions(later))
	if err != nil {
		return fmt.Errorf("migrate: %s: %w", set.Component, err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %s: %w", set.Component, err)
	}
	return nil
}
