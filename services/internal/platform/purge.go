package platform

import (
	"context"
	"log/slog"

	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// StartPurger purges old barrier rows every PurgeInterval (tcc.RunPurger; safe on several
// replicas at once) until the returned stop is called; stop waits for a purge in
// progress to end, so call it before closing db. PurgeInterval 0: nothing runs.
func (c Common) StartPurger(db *gorm.DB, log *slog.Logger) (stop func()) {
	if c.PurgeInterval <= 0 {
		return func() {}
	}
	retention := c.BarrierRetention
	if retention == 0 {
		retention = DefaultBarrierRetention
	}
	return Background(func(ctx context.Context) {
		tcc.RunPurger(ctx, db, tcc.PurgeConfig{Retention: retention}, c.PurgeInterval, log.Info)
	})
}
