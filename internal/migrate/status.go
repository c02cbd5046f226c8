package migrate

import (
	"context"
	"fmt"
	"path"
	"time"

	"github.com/pressly/goose/v3"
	"gorm.io/gorm"
)

// Version is one migration of a set and whether a database has it.
type Version struct {
	Version   int64
	File      string
	Applied   bool
	AppliedAt time.Time // when Applied; for an adopted version, when it was adopted
}

// Status lists set's migrations, oldest first, and which of them db has. It writes
// nothing: a database without history (new, or made before versioned migrations) lists
// every version pending, and Up adopts what it already has. On MySQL it waits for a
// migration in progress to end.
func Status(ctx context.Context, db *gorm.DB, set Set) ([]Version, error) {
	r, err := open(db, set, discard)
	if err != nil {
		return nil, err
	}
	if !db.WithContext(ctx).Migrator().HasTable(set.Table()) {
		var out []Version
		for _, s := range r.p.ListSources() {
			out = append(out, Version{Version: s.Version, File: path.Base(s.Path)})
		}
		return out, nil
	}
	ss, err := r.p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %s: %w", set.Component, err)
	}
	out := make([]Version, 0, len(ss))
	for _, s := range ss {
		out = append(out, Version{Version: s.Source.Version, File: path.Base(s.Source.Path),
			Applied: s.State == goose.StateApplied, AppliedAt: s.AppliedAt})
	}
	return out, nil
}
