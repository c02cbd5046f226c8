package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// MySQLServerDSN is the DSN of the test server, without a database name.
func MySQLServerDSN() string {
	if v := os.Getenv("TCC_TEST_MYSQL_DSN"); v != "" {
		return v
	}
	return "root@tcp(127.0.0.1:3306)/"
}

// NewMySQLDSN creates a uniquely named empty database and returns its DSN, with the
// options the suite's services force (parseTime, UTC, no clientFoundRows: see
// tcc.NewBarrier). The database is dropped when the test ends.
func NewMySQLDSN(t testing.TB) string {
	t.Helper()
	cfg, err := mysqldrv.ParseDSN(MySQLServerDSN())
	if err != nil {
		t.Fatalf("testenv: bad TCC_TEST_MYSQL_DSN: %v", err)
	}
	cfg.ParseTime, cfg.Loc, cfg.InterpolateParams, cfg.ClientFoundRows = true, time.UTC, true, false
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "tcct_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := admin(ctx, cfg, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		t.Fatalf("testenv: MySQL is required for this test (set TCC_TEST_MYSQL_DSN): %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := admin(ctx, cfg, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("testenv: drop %s: %v", name, err)
		}
	})
	cfg.DBName = name
	return cfg.FormatDSN()
}

// admin runs one statement on the server without a default schema.
func admin(ctx context.Context, server *mysqldrv.Config, stmt string) error {
	cfg := server.Clone()
	cfg.DBName = ""
	conn, err := mysqldrv.NewConnector(cfg)
	if err != nil {
		return err
	}
	db := sql.OpenDB(conn)
	defer func() { _ = db.Close() }()
	_, err = db.ExecContext(ctx, stmt)
	return err
}

// MySQL opens a fresh database on the test server with a pool of maxConns (0: 64).
func MySQL(t testing.TB, maxConns int) *gorm.DB {
	t.Helper()
	if maxConns == 0 {
		maxConns = 64
	}
	return open(t, mysql.Open(NewMySQLDSN(t)), maxConns)
}

// open opens dialector as the suite's services do (silent logger, no implicit
// transactions, UTC times), bounds its pool, pings it, and closes it when the test ends.
func open(t testing.TB, dialector gorm.Dialector, maxConns int) *gorm.DB {
	t.Helper()
	db, err := gorm.Open(dialector, &gorm.Config{
		Logger:                 logger.Default.LogMode(logger.Silent),
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return time.Now().UTC() },
	})
	if err != nil {
		t.Fatalf("testenv: open %s: %v", dialector.Name(), err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatalf("testenv: pool: %v", err)
	}
	t.Cleanup(func() { _ = sqlDB.Close() })
	sqlDB.SetMaxOpenConns(maxConns)
	sqlDB.SetMaxIdleConns(maxConns)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(ctx); err != nil {
		t.Fatalf("testenv: ping %s: %v", dialector.Name(), err)
	}
	return db
}
