package dbx_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/internal/testenv"
)

// TestNormalizeMySQLDSN: whatever the user passed, the options that change affected-row
// counts or commit behaviour are forced to what the barrier and the idempotency claim
// rely on; unrelated options survive.
func TestNormalizeMySQLDSN(t *testing.T) {
	cases := []struct {
		name, dsn string
		check     func(t *testing.T, c *mysqldrv.Config)
	}{
		{"clientFoundRows off", "u:p@tcp(h:3306)/db?clientFoundRows=true", func(t *testing.T, c *mysqldrv.Config) {
			if c.ClientFoundRows {
				t.Error("clientFoundRows survived")
			}
		}},
		{"autocommit override dropped", "u:p@tcp(h:3306)/db?autocommit=0", func(t *testing.T, c *mysqldrv.Config) {
			if _, ok := c.Params["autocommit"]; ok {
				t.Errorf("autocommit survived: %v", c.Params)
			}
		}},
		{"isolation overrides dropped", "u:p@tcp(h:3306)/db?transaction_isolation=%27READ-UNCOMMITTED%27&tx_isolation=%27READ-UNCOMMITTED%27", func(t *testing.T, c *mysqldrv.Config) {
			if len(c.Params) != 1 { // time_zone only
				t.Errorf("params %v, want only time_zone", c.Params)
			}
		}},
		{"forced options", "u:p@tcp(h:3306)/db?parseTime=false&interpolateParams=false&loc=Local", func(t *testing.T, c *mysqldrv.Config) {
			if !c.ParseTime || !c.InterpolateParams || c.Loc != time.UTC || c.Params["time_zone"] != "'+00:00'" {
				t.Errorf("parseTime=%v interpolateParams=%v loc=%v time_zone=%q", c.ParseTime, c.InterpolateParams, c.Loc, c.Params["time_zone"])
			}
		}},
		{"other options kept", "u:p@tcp(h:3306)/db?readTimeout=5s&time_zone=%27%2B01%3A00%27", func(t *testing.T, c *mysqldrv.Config) {
			if c.ReadTimeout != 5*time.Second || c.Params["time_zone"] != "'+01:00'" {
				t.Errorf("readTimeout=%v time_zone=%q", c.ReadTimeout, c.Params["time_zone"])
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := dbx.NormalizeMySQLDSN(tc.dsn)
			if err != nil {
				t.Fatal(err)
			}
			c, err := mysqldrv.ParseDSN(out)
			if err != nil {
				t.Fatalf("normalised DSN %q does not parse: %v", out, err)
			}
			tc.check(t, c)
		})
	}
	if _, err := dbx.NormalizeMySQLDSN("not a dsn"); err == nil {
		t.Error("a malformed DSN was accepted")
	}
}

// TestAffectedRowsWhateverTheDSN: on MariaDB, through dbx.Open, an insert-ignore of an
// existing row and an UPDATE that matches a row without changing it report 0 affected
// rows even when the DSN asks for clientFoundRows (which would report 1: a duplicate
// would then look new to the barrier and to the Idempotency-Key claim), and a write
// outside a transaction commits even when the DSN sets autocommit=0.
func TestAffectedRowsWhateverTheDSN(t *testing.T) {
	base := testenv.NewMySQLDSN(t)
	for i, flags := range []string{"clientFoundRows=true", "autocommit=0", "clientFoundRows=true&autocommit=0&transaction_isolation=%27READ-UNCOMMITTED%27"} {
		t.Run(flags, func(t *testing.T) {
			sep := "?"
			if strings.Contains(base, "?") {
				sep = "&"
			}
			db, err := dbx.Open(context.Background(), dbx.Config{MySQLDSN: base + sep + flags, MaxOpenConns: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = dbx.Close(db) }()
			table := fmt.Sprintf("rows_%d", i)
			if err := db.Exec("CREATE TABLE " + table + " (id VARCHAR(16) PRIMARY KEY, v INT NOT NULL)").Error; err != nil {
				t.Fatal(err)
			}
			type row struct {
				ID string `gorm:"column:id;primaryKey"`
				V  int    `gorm:"column:v"`
			}
			ins := func() int64 {
				res := db.Table(table).Clauses(clause.OnConflict{DoNothing: true}).Create(&row{ID: "a", V: 1})
				if res.Error != nil {
					t.Fatal(res.Error)
				}
				return res.RowsAffected
			}
			if n := ins(); n != 1 {
				t.Fatalf("first insert affected %d rows, want 1", n)
			}
			if n := ins(); n != 0 {
				t.Fatalf("duplicate insert affected %d rows, want 0 (a duplicate would be applied again)", n)
			}
			res := db.Exec("UPDATE "+table+" SET v = ? WHERE id = ?", 1, "a")
			if res.Error != nil || res.RowsAffected != 0 {
				t.Fatalf("no-change update: affected %d (err %v), want 0", res.RowsAffected, res.Error)
			}
			// The insert committed on its own: another connection sees it.
			other, err := dbx.Open(context.Background(), dbx.Config{MySQLDSN: base, MaxOpenConns: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = dbx.Close(other) }()
			var n int64
			if err := other.Table(table).Count(&n).Error; err != nil || n != 1 {
				t.Fatalf("another connection sees %d rows (err %v), want 1: the write did not commit", n, err)
			}
		})
	}
}

// TestIsUnavailable: the errors of an unreachable or departing database are told apart
// from conflicts and from everything else.
func TestIsUnavailable(t *testing.T) {
	// A real one: a server address where nothing listens.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	_, openErr := dbx.Open(ctx, dbx.Config{MySQLDSN: fmt.Sprintf("root@tcp(%s)/x", addr)})
	if openErr == nil {
		t.Fatal("opened a database where nothing listens")
	}
	cases := []struct {
		name        string
		err         error
		unavailable bool
		retryable   bool
	}{
		{"connection refused", openErr, true, false},
		{"invalid connection", fmt.Errorf("wrapped: %w", mysqldrv.ErrInvalidConn), true, false},
		{"unexpected EOF", io.ErrUnexpectedEOF, true, false},
		{"too many connections", &mysqldrv.MySQLError{Number: 1040}, true, false},
		{"shutdown in progress", &mysqldrv.MySQLError{Number: 1053}, true, false},
		{"connection killed", &mysqldrv.MySQLError{Number: 1927}, true, false},
		{"read-only", &mysqldrv.MySQLError{Number: 1290}, true, false},
		{"deadlock", &mysqldrv.MySQLError{Number: 1213}, false, true},
		{"lock wait timeout", &mysqldrv.MySQLError{Number: 1205}, false, true},
		{"duplicate key", &mysqldrv.MySQLError{Number: 1062}, false, false},
		{"syntax", &mysqldrv.MySQLError{Number: 1064}, false, false},
		{"not found", gorm.ErrRecordNotFound, false, false},
		{"other", errors.New("boom"), false, false},
		{"nil", nil, false, false},
	}
	for _, tc := range cases {
		if got := dbx.IsUnavailable(tc.err); got != tc.unavailable {
			t.Errorf("%s: IsUnavailable = %v, want %v (%v)", tc.name, got, tc.unavailable, tc.err)
		}
		if got := dbx.IsRetryable(tc.err); got != tc.retryable {
			t.Errorf("%s: IsRetryable = %v, want %v", tc.name, got, tc.retryable)
		}
		if got := dbx.IsTransient(tc.err); got != (tc.unavailable || tc.retryable) {
			t.Errorf("%s: IsTransient = %v", tc.name, got)
		}
	}
}
