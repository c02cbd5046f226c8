// Package testenv gives tests real infrastructure: a fresh MariaDB/MySQL database per
// test (dropped in t.Cleanup) and a fresh SQLite file. It is imported only by tests.
//
// The MySQL server is taken from TCC_TEST_MYSQL_DSN (default
// "root@tcp(127.0.0.1:3306)/"). A test that needs MySQL fails, never skips, when the
// server is unreachable: a skipped integration test hides exactly the failures it exists
// to catch.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/internal/etcdx"
)

// MySQLServerDSN is the DSN of the test server, without a database name.
func MySQLServerDSN() string {
	if v := os.Getenv("TCC_TEST_MYSQL_DSN"); v != "" {
		return v
	}
	return "root@tcp(127.0.0.1:3306)/"
}

// NewMySQLDSN creates a uniquely named empty database and returns its DSN. The database
// is dropped when the test ends.
func NewMySQLDSN(t testing.TB) string {
	t.Helper()
	cfg, err := mysqldrv.ParseDSN(MySQLServerDSN())
	if err != nil {
		t.Fatalf("testenv: bad TCC_TEST_MYSQL_DSN: %v", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	cfg.DBName = "tcct_" + hex.EncodeToString(b[:])
	dsn := cfg.FormatDSN()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := dbx.CreateMySQLDatabase(ctx, dsn); err != nil {
		t.Fatalf("testenv: MySQL is required for this test (set TCC_TEST_MYSQL_DSN): %v", err)
	}
	t.Cleanup(func() {
		admin := *cfg
		admin.DBName = ""
		db, err := dbx.Open(context.Background(), dbx.Config{MySQLDSN: admin.FormatDSN(), MaxOpenConns: 1})
		if err != nil {
			t.Errorf("testenv: drop %s: %v", cfg.DBName, err)
			return
		}
		defer func() { _ = dbx.Close(db) }()
		if err := db.Exec("DROP DATABASE IF EXISTS `" + cfg.DBName + "`").Error; err != nil {
			t.Errorf("testenv: drop %s: %v", cfg.DBName, err)
		}
	})
	return dsn
}

// MySQL opens a fresh database on the test server with a pool of maxConns (0: default).
func MySQL(t testing.TB, maxConns int) *gorm.DB {
	t.Helper()
	dsn := NewMySQLDSN(t)
	db, err := dbx.Open(context.Background(), dbx.Config{MySQLDSN: dsn, MaxOpenConns: maxConns})
	if err != nil {
		t.Fatalf("testenv: open MySQL: %v", err)
	}
	t.Cleanup(func() { _ = dbx.Close(db) })
	return db
}

// SQLite opens a fresh SQLite file in the test's temporary directory.
func SQLite(t testing.TB) *gorm.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	db, err := dbx.Open(context.Background(), dbx.Config{SQLitePath: path})
	if err != nil {
		t.Fatalf("testenv: open SQLite: %v", err)
	}
	t.Cleanup(func() { _ = dbx.Close(db) })
	return db
}

// Databases returns one fresh database of each kind the suite supports, by name, for
// contract tests that must hold on all of them.
func Databases(_ *testing.T) map[string]func(t *testing.T) *gorm.DB {
	return map[string]func(t *testing.T) *gorm.DB{
		"mysql":  func(t *testing.T) *gorm.DB { return MySQL(t, 0) },
		"sqlite": func(t *testing.T) *gorm.DB { return SQLite(t) },
	}
}

// Etcd starts an embedded etcd server for the test on free loopback ports and returns
// its client endpoint. The server is stopped when the test ends.
func Etcd(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e, err := etcdx.StartEmbedded(ctx, etcdx.EmbedConfig{
		Dir:        filepath.Join(t.TempDir(), "etcd"),
		ClientAddr: "127.0.0.1:0",
		PeerAddr:   "127.0.0.1:0",
	})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(e.Close)
	return e.Endpoint()
}
