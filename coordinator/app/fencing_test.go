package app_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/tccsuite/tccsuite/coordinator/internal/testpart"
	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// TestTakenOverRunStops: once the row of a transaction this instance drives is owned by
// another coordinator (a takeover), its next write is fenced and the run stops calling
// and does not finish the transaction: the row stays the new owner's to finish.
func TestTakenOverRunStops(t *testing.T) {
	e := newEnv(t)
	c, base := e.start(t, "fenced", nil)
	ctx := context.Background()
	e.parts["payment"].SetBehave(func(call testpart.Call) testpart.Answer {
		if call.Phase == tcc.PhaseConfirm {
			return testpart.Answer{Status: http.StatusServiceUnavailable, Code: "DOWN"}
		}
		return testpart.Answer{}
	})
	tx, err := c.Begin(ctx, threeBranches(tcc.WaitDecision, 5000), "")
	if err != nil || tx.Status != tcc.TxConfirming {
		t.Fatalf("%+v %v", tx, err)
	}
	db, err := dbx.Open(ctx, dbx.Config{MySQLDSN: e.dsn, MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = dbx.Close(db) }()
	// Another coordinator takes the row over (as its recovery scan's claim would).
	if err := db.Exec("UPDATE global_transactions SET owner = ? WHERE xid = ?", "elsewhere#1", tx.XID).Error; err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the run stopped", func() bool { return metric(t, base, "tcc_coordinator_in_flight") == 0 })
	e.parts["payment"].SetBehave(nil)
	var row struct{ Status, Owner string }
	if err := db.Raw("SELECT status, owner FROM global_transactions WHERE xid = ?", tx.XID).Scan(&row).Error; err != nil {
		t.Fatal(err)
	}
	if row.Status != string(tcc.TxConfirming) || row.Owner != "elsewhere#1" {
		t.Fatalf("row after the takeover: %+v", row)
	}
	got, err := c.Get(ctx, tx.XID)
	if err != nil || got.Status != tcc.TxConfirming {
		t.Fatalf("served %+v %v", got, err)
	}
}
