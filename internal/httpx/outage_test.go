package httpx

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/internal/testenv"
)

// TestDatabaseOutageAnswers503: while the database is unreachable (its connections cut
// and new ones refused, as when MariaDB is killed), a request that needs it answers 503
// UNAVAILABLE with Retry-After, never a 500, and /readyz says not ready; once the
// database is back the same engine answers 200 again with no restart.
func TestDatabaseOutageAnswers503(t *testing.T) {
	dsn := testenv.NewMySQLDSN(t)
	cfg, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewProxy(t, cfg.Addr)
	cfg.Addr = proxy.Addr()
	db, err := dbx.Open(context.Background(), dbx.Config{MySQLDSN: cfg.FormatDSN(), MaxOpenConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = dbx.Close(db) }()

	ping := func(ctx context.Context) error {
		sqlDB, err := db.DB()
		if err != nil {
			return err
		}
		return sqlDB.PingContext(ctx)
	}
	r := NewEngine(discard, WithMetrics(NewMetrics("test")), WithReadiness(Readiness{Check: ping}))
	r.GET("/work", Handle(func(c *gin.Context) error {
		var n int
		if err := db.WithContext(c.Request.Context()).Raw("SELECT 1").Scan(&n).Error; err != nil {
			return err
		}
		c.JSON(http.StatusOK, gin.H{"n": n})
		return nil
	}))
	call := func(path string) (int, string, string) {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequestWithContext(context.Background(), http.MethodGet, path, nil))
		var body struct{ Code string }
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		return w.Code, body.Code, w.Header().Get("Retry-After")
	}
	if st, code, _ := call("/work"); st != http.StatusOK {
		t.Fatalf("before the outage: %d %s", st, code)
	}

	proxy.Cut()
	// Twice: once on a pooled connection that the cut broke, once on a fresh dial.
	for i := 0; i < 2; i++ {
		st, code, ra := call("/work")
		if st != http.StatusServiceUnavailable || code != CodeUnavailable || ra == "" {
			t.Fatalf("during the outage (call %d): %d %q Retry-After=%q, want 503 UNAVAILABLE with Retry-After", i+1, st, code, ra)
		}
	}
	if st, _, _ := call("/readyz"); st != http.StatusServiceUnavailable {
		t.Fatalf("readyz during the outage: %d, want 503", st)
	}

	proxy.Restore()
	if st, code, _ := call("/work"); st != http.StatusOK {
		t.Fatalf("after the outage: %d %s, want 200 without a restart", st, code)
	}
	if st, _, _ := call("/readyz"); st != http.StatusOK {
		t.Fatalf("readyz after the outage: %d", st)
	}
}
