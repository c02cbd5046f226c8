package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
)

// lockPoll is how long one GET_LOCK waits in the server before the wait is logged and
// the context checked again.
const lockPoll = 5 // seconds

// lockName is the named lock of a component's migrations on the connection's database:
// named locks are server-wide, so the name carries the database (hashed, to stay within
// the 64 characters MySQL allows).
const lockName = "CONCAT('goose_', ?, '_', MD5(DATABASE()))"

// mysqlLock is a goose session locker over MySQL's named locks. The lock belongs to the
// connection that took it: if the process dies or the connection drops, the server
// releases it, so a crashed migration never leaves the others waiting on a stale lock.
type mysqlLock struct {
	component string
	log       *slog.Logger
}

// SessionLock waits until conn holds the lock, or ctx ends.
func (l mysqlLock) SessionLock(ctx context.Context, conn *sql.Conn) error {
	for waited := false; ; waited = true {
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK("+lockName+", ?)", l.component, lockPoll).Scan(&got); err != nil {
			return fmt.Errorf("migrate: %s: take the migration lock: %w", l.component, err)
		}
		if !got.Valid {
			return fmt.Errorf("migrate: %s: take the migration lock: GET_LOCK answered NULL (no database selected?)", l.component)
		}
		if got.Int64 == 1 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("migrate: %s: waiting for the migration lock: %w", l.component, err)
		}
		if !waited {
			l.log.InfoContext(ctx, "waiting for another process's schema migration", "component", l.component)
		}
	}
}

// SessionUnlock releases the lock conn holds.
func (l mysqlLock) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT RELEASE_LOCK("+lockName+")", l.component).Scan(&got); err != nil {
		return fmt.Errorf("migrate: %s: release the migration lock: %w", l.component, err)
	}
	if !got.Valid || got.Int64 != 1 {
		return fmt.Errorf("migrate: %s: release the migration lock: it was not held", l.component)
	}
	return nil
}
