package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/pressly/goose/v3/database"
	"gorm.io/gorm"
)

// adopt gives a database without history the history it already has, and reports the
// version it recorded (0: none). A database has no history when the version table is
// missing (a new database, or one made before versioned migrations, whose version
// Set.Baseline tells) or records nothing but version 0 (a run stopped between creating
// the table and running version 1, or goose's own status created it). It runs under the
// migration lock, on one connection: of several processes starting at once, one adopts
// and the others find its history. A database with history, or a new one, is left to
// goose.
func (r *run) adopt(ctx context.Context) (int64, error) {
	var adopted int64
	err := r.db.WithContext(ctx).Connection(func(c *gorm.DB) (err error) {
		conn, ok := c.Statement.ConnPool.(*sql.Conn)
		if !ok {
			return fmt.Errorf("migrate: %s: no connection of its own", r.set.Component)
		}
		if r.lock != nil {
			if err := r.lock.SessionLock(ctx, conn); err != nil {
				return err
			}
			defer func() {
				err = errors.Join(err, r.lock.SessionUnlock(context.WithoutCancel(ctx), conn))
			}()
		}
		adopted, err = r.adoptOn(ctx, c, conn)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("migrate: %s: adopt the existing schema: %w", r.set.Component, err)
	}
	return adopted, nil
}

func (r *run) adoptOn(ctx context.Context, c *gorm.DB, conn *sql.Conn) (int64, error) {
	st, err := database.NewStore(r.d.goose, r.set.Table())
	if err != nil {
		return 0, err
	}
	exists := c.Migrator().HasTable(r.set.Table())
	recorded := map[int64]bool{}
	if exists {
		ms, err := st.ListMigrations(ctx, conn)
		if err != nil {
			return 0, err
		}
		for _, m := range ms {
			if m.Version != 0 {
				return 0, nil // it has history: goose takes it from there
			}
			recorded[0] = true
		}
	}
	var v int64
	if r.set.Baseline != nil {
		if v, err = r.set.Baseline(ctx, c); err != nil {
			return 0, err
		}
	}
	switch {
	case v < 0 || v > r.latest:
		return 0, fmt.Errorf("baseline version %d out of 0..%d", v, r.latest)
	case v == 0 && recorded[0]:
		return 0, nil // nothing to adopt: goose runs every version
	case v == 0:
		// A new database: create the version table (with version 0) here, under the lock,
		// rather than leave it to goose, whose check-then-create of the table races between
		// processes starting at once (each recorded version 0).
		if !exists {
			if err := st.CreateVersionTable(ctx, conn); err != nil {
				return 0, err
			}
		}
		return 0, st.Insert(ctx, conn, database.InsertRequest{Version: 0})
	}
	if !exists {
		if err := st.CreateVersionTable(ctx, conn); err != nil {
			return 0, err
		}
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	for ver := int64(0); ver <= v; ver++ {
		if recorded[ver] {
			continue
		}
		if err := st.Insert(ctx, tx, database.InsertRequest{Version: ver}); err != nil {
			return 0, errors.Join(err, tx.Rollback())
		}
	}
	return v, tx.Commit()
}
