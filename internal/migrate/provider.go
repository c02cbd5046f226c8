package migrate

import (
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"gorm.io/gorm"
)

// run is a set opened on a database: goose's provider and the lock its runs take.
type run struct {
	set    Set
	db     *gorm.DB
	d      dialect
	p      *goose.Provider
	lock   lock.SessionLocker // nil on SQLite
	latest int64              // the newest version of the set
}

// open prepares the set's migrations for db's dialect. It reads no table.
func open(db *gorm.DB, set Set, log *slog.Logger) (*run, error) {
	if err := set.validate(); err != nil {
		return nil, err
	}
	d, err := dialectOf(db)
	if err != nil {
		return nil, err
	}
	if err := sameVersions(set); err != nil {
		return nil, err
	}
	dir, err := fs.Sub(set.FS, d.dir)
	if err != nil {
		return nil, fmt.Errorf("migrate: %s: %w", set.Component, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("migrate: %s: %w", set.Component, err)
	}
	r := &run{set: set, db: db, d: d}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true), goose.WithTableName(set.Table())}
	if d.goose == goose.DialectMySQL {
		r.lock = mysqlLock{component: set.Component, log: log}
		opts = append(opts, goose.WithSessionLocker(r.lock))
	}
	if r.p, err = goose.NewProvider(d.goose, sqlDB, dir, opts...); err != nil {
		return nil, fmt.Errorf("migrate: %s: %w", set.Component, err)
	}
	srcs := r.p.ListSources()
	r.latest = srcs[len(srcs)-1].Version
	return r, nil
}

// sameVersions checks that every dialect has the same versions: a version written for one
// database and forgotten for the other would otherwise only show on that other database.
func sameVersions(set Set) error {
	var want []int64
	for i, dir := range []string{"mysql", "sqlite"} {
		names, err := fs.Glob(set.FS, dir+"/*.sql")
		if err != nil {
			return fmt.Errorf("migrate: %s: %w", set.Component, err)
		}
		vs := make([]int64, 0, len(names))
		for _, n := range names {
			v, err := goose.NumericComponent(path.Base(n))
			if err != nil {
				return fmt.Errorf("migrate: %s: %s: %w", set.Component, n, err)
			}
			vs = append(vs, v)
		}
		slices.Sort(vs)
		if len(vs) == 0 {
			return fmt.Errorf("migrate: %s: no migrations in %s/", set.Component, dir)
		}
		if i == 0 {
			want = vs
		} else if !slices.Equal(vs, want) {
			return fmt.Errorf("migrate: %s: the versions in mysql/ %v and sqlite/ %v differ", set.Component, want, vs)
		}
	}
	return nil
}
