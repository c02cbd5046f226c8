package testenv

import (
	"path/filepath"
	"testing"

	"gorm.io/gorm"
)

// SQLitePragmas are the connection options the suite's services open SQLite with (the
// glebarez/modernc DSN syntax): WAL lets readers run beside the writer, busy_timeout
// absorbs the rare cross-process lock, and _txlock=immediate takes the write lock at
// BEGIN, so that two transactions never deadlock upgrading a read lock.
const SQLitePragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_txlock=immediate"

// SQLite opens a fresh SQLite file in the test's temporary directory through
// openDriver, the SQLite driver's gorm opener (github.com/glebarez/sqlite's Open), on
// one connection as the suite's services do: SQLite has a single writer, and one
// connection turns lock contention into queueing instead of SQLITE_BUSY errors.
func SQLite(t testing.TB, openDriver func(dsn string) gorm.Dialector) *gorm.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	return open(t, openDriver(path+"?"+SQLitePragmas), 1)
}
