package migrate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"

	"github.com/pressly/goose/v3"
	"gorm.io/gorm"
)

// Report says what Up did.
type Report struct {
	// Adopted, when not 0, is the version at which a database made before versioned
	// migrations was recorded (Set.Baseline), without running those versions.
	Adopted int64
	// Applied are the versions run now, in order.
	Applied []Applied
	// Version is the database's version now: the set's newest.
	Version int64
}

// Applied is one migration run by Up.
type Applied struct {
	Version int64
	File    string
}

// Up brings db's schema to the newest version of set: it adopts a database made before
// versioned migrations (see Set.Baseline), then runs the pending versions in order, each
// recorded in the set's version table as it completes. It is idempotent, and safe while
// other processes run it on the same database (on MySQL they wait for each other; a
// process that dies mid-way releases the lock with its connection). If a version fails,
// the versions before it stay applied and Up returns the error; on MySQL a version's DDL
// is not transactional, so the failed version may be partly applied. It logs each version
// it runs on log. ctx bounds the whole run, including the wait for the lock.
func Up(ctx context.Context, db *gorm.DB, set Set, log *slog.Logger) (Report, error) {
	r, err := open(db, set, log)
	if err != nil {
		return Report{}, err
	}
	var rep Report
	if rep.Adopted, err = r.adopt(ctx); err != nil {
		return rep, err
	}
	if rep.Adopted > 0 {
		log.InfoContext(ctx, "schema: adopted a database made before versioned migrations", "component", set.Component, "version", rep.Adopted)
	}
	res, err := r.p.Up(ctx)
	var partial *goose.PartialError
	if errors.As(err, &partial) {
		res = partial.Applied
	}
	for _, m := range res {
		a := Applied{Version: m.Source.Version, File: path.Base(m.Source.Path)}
		rep.Applied = append(rep.Applied, a)
		log.InfoContext(ctx, "schema: migration applied", "component", set.Component, "version", a.Version, "file", a.File, "duration", m.Duration.String())
	}
	if err != nil {
		return rep, fmt.Errorf("migrate: %s: %w", set.Component, err)
	}
	if rep.Version, _, err = r.p.GetVersions(ctx); err != nil {
		return rep, fmt.Errorf("migrate: %s: %w", set.Component, err)
	}
	return rep, nil
}
