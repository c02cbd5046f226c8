// Package dbx opens the suite's databases: MySQL through gorm's MySQL driver, or the
// embedded pure-Go SQLite of the quick start. It owns the pool settings that make each
// of them behave under concurrency, so that every binary opens its database the same way.
package dbx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/tccsuite/tccsuite/pkg/tcc/dberr"
)

// Config says which database to open.
type Config struct {
	// MySQLDSN, when set, selects MySQL (go-sql-driver format, e.g.
	// "user:pass@tcp(host:3306)/db"). parseTime and a UTC loc are forced on.
	MySQLDSN string
	// SQLitePath selects the embedded database when MySQLDSN is empty; ":memory:" is
	// allowed for tests. The file is created if missing.
	SQLitePath string
	// MaxOpenConns bounds the MySQL pool (default 64). SQLite always uses one
	// connection: it has a single writer, and one connection turns lock contention into
	// queueing instead of SQLITE_BUSY errors.
	MaxOpenConns int
}

// Validate reports a configuration that cannot be opened.
func (c Config) Validate() error {
	if c.MySQLDSN == "" && c.SQLitePath == "" {
		return errors.New("dbx: either a MySQL DSN or an SQLite path is required")
	}
	if c.MaxOpenConns < 0 {
		return errors.New("dbx: MaxOpenConns must not be negative")
	}
	return nil
}

// IsMySQL reports whether the config selects MySQL.
func (c Config) IsMySQL() bool { return c.MySQLDSN != "" }

// driverLog routes the MySQL driver's own messages (a bad idle connection closed, a
// packet error) to slog, so they carry the process's log format instead of going raw to
// stderr.
type driverLog struct{}

func (driverLog) Print(v ...any) {
	slog.Warn("mysql driver", "msg", strings.TrimSpace(fmt.Sprint(v...)))
}

// The driver's logger is a package variable that it reads without a lock (ParseDSN does),
// so it is set once at start-up, before any goroutine can use the driver.
func init() { _ = mysqldrv.SetLogger(driverLog{}) }

// Open opens and pings the database. The caller closes it with Close.
func Open(ctx context.Context, c Config) (*gorm.DB, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	gcfg := &gorm.Config{
		Logger:                 logger.Default.LogMode(logger.Silent),
		SkipDefaultTransaction: true,
		PrepareStmt:            false,
		NowFunc:                func() time.Time { return time.Now().UTC() },
	}
	var (
		db  *gorm.DB
		err error
	)
	if c.IsMySQL() {
		dsn, derr := NormalizeMySQLDSN(c.MySQLDSN)
		if derr != nil {
			return nil, derr
		}
		db, err = gorm.Open(mysql.Open(dsn), gcfg)
	} else {
		path := c.SQLitePath
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		// WAL lets readers run beside the writer; busy_timeout absorbs the rare
		// cross-process lock; foreign keys are not used but enabled for hygiene.
		path += sep + "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_txlock=immediate"
		db, err = gorm.Open(sqlite.Open(path), gcfg)
	}
	if err != nil {
		return nil, fmt.Errorf("dbx: open: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("dbx: pool: %w", err)
	}
	if c.IsMySQL() {
		n := c.MaxOpenConns
		if n == 0 {
			n = 64
		}
		sqlDB.SetMaxOpenConns(n)
		sqlDB.SetMaxIdleConns(n)
		sqlDB.SetConnMaxLifetime(30 * time.Minute)
	} else {
		sqlDB.SetMaxOpenConns(1)
		sqlDB.SetMaxIdleConns(1)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("dbx: ping: %w", err)
	}
	return db, nil
}

// Close closes the pool under db.
func Close(db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// NormalizeMySQLDSN forces the options the suite relies on, whatever the user passed:
//
//   - clientFoundRows off: the barrier and the Idempotency-Key claim detect a duplicate
//     by an affected-row count of 0 (INSERT … ON DUPLICATE KEY UPDATE that changed
//     nothing, a conditional UPDATE that matched nothing new). With CLIENT_FOUND_ROWS the
//     server counts matched rows instead, an existing row reports 1, and a duplicate
//     would be applied again;
//   - no autocommit or transaction-isolation override among the session variables: every
//     write outside an explicit transaction must commit on its own, and the barrier's
//     locking reads assume the server's default (REPEATABLE READ) or READ COMMITTED;
//   - parseTime, UTC times, and interpolateParams (one round trip per statement instead
//     of prepare+execute+close).
func NormalizeMySQLDSN(dsn string) (string, error) {
	cfg, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		return "", fmt.Errorf("dbx: bad MySQL DSN: %w", err)
	}
	cfg.ClientFoundRows = false
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.InterpolateParams = true
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	for k := range cfg.Params {
		switch strings.ToLower(k) {
		case "autocommit", "transaction_isolation", "tx_isolation", "sql_safe_updates":
			delete(cfg.Params, k)
		}
	}
	if _, ok := cfg.Params["time_zone"]; !ok {
		cfg.Params["time_zone"] = "'+00:00'"
	}
	return cfg.FormatDSN(), nil
}

// CreateMySQLDatabase creates the database named in dsn if it does not exist, by
// connecting to the server without a default schema. It is idempotent.
func CreateMySQLDatabase(ctx context.Context, dsn string) error {
	cfg, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		return fmt.Errorf("dbx: bad MySQL DSN: %w", err)
	}
	name := cfg.DBName
	if name == "" {
		return errors.New("dbx: the MySQL DSN names no database")
	}
	if strings.ContainsAny(name, "`\\") {
		return fmt.Errorf("dbx: bad database name %q", name)
	}
	cfg.DBName = ""
	db, err := gorm.Open(mysql.Open(cfg.FormatDSN()), &gorm.Config{Logger: logger.Default.LogMode(logger.Silent)})
	if err != nil {
		return fmt.Errorf("dbx: connect: %w", err)
	}
	defer func() { _ = Close(db) }()
	if err := db.WithContext(ctx).Exec("CREATE DATABASE IF NOT EXISTS `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin").Error; err != nil {
		return fmt.Errorf("dbx: create database %s: %w", name, err)
	}
	return nil
}

// IsUnavailable reports whether err says the database could not be reached or went
// away mid-call: connection refused or reset, the server shutting down or restarting, a
// killed or lost connection, too many connections, the server read-only (a fail-over in
// progress). The statement did not commit unless it was a COMMIT whose answer was lost;
// callers answer 503 with Retry-After and never treat it as a definite failure. It is
// the participant SDK's classification (dberr.IsUnavailable), so that the services and
// their TCC endpoints agree.
func IsUnavailable(err error) bool { return dberr.IsUnavailable(err) }

// IsTransient reports whether the same call may well succeed if repeated: a conflict
// (IsRetryable) or the database being unavailable (IsUnavailable).
func IsTransient(err error) bool { return dberr.IsTransient(err) }

// IsRetryable reports whether err is a transient database conflict (MySQL deadlock or
// lock wait timeout, SQLite busy) after which the whole local transaction was rolled
// back and may be run again (dberr.IsRetryable).
func IsRetryable(err error) bool { return dberr.IsRetryable(err) }
