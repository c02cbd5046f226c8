package dberr_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/tccsuite/tccsuite/pkg/tcc/dberr"
)

// sqliteError stands for an SQLite driver's error: only its Code method is looked at.
type sqliteError int

func (e sqliteError) Error() string { return fmt.Sprintf("sqlite error %d", int(e)) }
func (e sqliteError) Code() int     { return int(e) }

// refused is the error of a real MySQL driver dialing a port where nothing listens.
func refused(t *testing.T) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := mysqldrv.NewConfig()
	cfg.Net, cfg.Addr, cfg.Timeout = "tcp", addr, 5*time.Second
	cfg.Logger = &mysqldrv.NopLogger{}
	conn, err := mysqldrv.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	defer func() { _ = db.Close() }()
	err = db.PingContext(ctx)
	if err == nil {
		t.Fatal("pinged a database where nothing listens")
	}
	return err
}

// TestClassify: the errors of an unreachable or departing database, the conflicts worth
// a retry, and everything else are told apart, through wrapping.
func TestClassify(t *testing.T) {
	cases := []struct {
		name        string
		err         error
		unavailable bool
		retryable   bool
	}{
		{"connection refused", refused(t), true, false},
		{"invalid connection", fmt.Errorf("wrapped: %w", mysqldrv.ErrInvalidConn), true, false},
		{"connection done", sql.ErrConnDone, true, false},
		{"unexpected EOF", io.ErrUnexpectedEOF, true, false},
		{"too many connections", &mysqldrv.MySQLError{Number: 1040}, true, false},
		{"shutdown in progress", &mysqldrv.MySQLError{Number: 1053}, true, false},
		{"connection killed", &mysqldrv.MySQLError{Number: 1927}, true, false},
		{"read-only", fmt.Errorf("exec: %w", &mysqldrv.MySQLError{Number: 1290}), true, false},
		{"inactivity disconnect", &mysqldrv.MySQLError{Number: 4031}, true, false},
		{"deadlock", fmt.Errorf("tx: %w", &mysqldrv.MySQLError{Number: 1213}), false, true},
		{"lock wait timeout", &mysqldrv.MySQLError{Number: 1205}, false, true},
		{"sqlite busy", fmt.Errorf("tx: %w", sqliteError(5)), false, true},
		{"sqlite locked", sqliteError(6), false, true},
		{"sqlite busy snapshot (extended)", sqliteError(5 | 2<<8), false, true},
		{"sqlite constraint", sqliteError(19), false, false},
		{"duplicate key", &mysqldrv.MySQLError{Number: 1062}, false, false},
		{"syntax", &mysqldrv.MySQLError{Number: 1064}, false, false},
		{"no rows", sql.ErrNoRows, false, false},
		{"other", errors.New("boom"), false, false},
		{"nil", nil, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := dberr.IsUnavailable(tc.err); got != tc.unavailable {
				t.Errorf("IsUnavailable(%v) = %v, want %v", tc.err, got, tc.unavailable)
			}
			if got := dberr.IsRetryable(tc.err); got != tc.retryable {
				t.Errorf("IsRetryable(%v) = %v, want %v", tc.err, got, tc.retryable)
			}
			if got, want := dberr.IsTransient(tc.err), tc.unavailable || tc.retryable; got != want {
				t.Errorf("IsTransient(%v) = %v, want %v", tc.err, got, want)
			}
		})
	}
}
