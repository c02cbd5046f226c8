package app_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// TestSQLite runs the coordinator on the embedded database of the quick start.
func TestSQLite(t *testing.T) {
	e := newEnv(t)
	c, _ := e.start(t, "sqlite", map[string]string{"TCC_MYSQL_DSN": "", "TCC_SQLITE_PATH": filepath.Join(t.TempDir(), "c.db")})
	ctx := context.Background()
	for _, wait := range []string{tcc.WaitCompletion, tcc.WaitDecision} {
		tx, err := c.Begin(ctx, threeBranches(wait, 5000), "k-"+wait)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "confirmed", func() bool { return statusOf(c, tx.XID) == tcc.TxConfirmed })
		again, err := c.Begin(ctx, threeBranches(wait, 5000), "k-"+wait)
		if err != nil || again.XID != tx.XID {
			t.Fatalf("replay %+v %v", again, err)
		}
	}
	page, err := c.List(ctx, tcc.ListOptions{Status: tcc.TxConfirmed})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Transactions) != 2 {
		t.Fatalf("listed %d", len(page.Transactions))
	}
}
