package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/tccsuite/tccsuite/coordinator/internal/store"
	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/internal/testenv"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// TestNoSplitDecision races deciders with separate database handles (as separate
// coordinator processes would have), half deciding Confirm and half Cancel, on the same
// XIDs. Each XID must end with exactly one decision, and the "participant" (driven only
// by a winner, as the engine does) must see only that one.
func TestNoSplitDecision(t *testing.T) {
	dsn := testenv.NewMySQLDSN(t)
	const deciders, xids = 8, 200
	stores := make([]store.Store, deciders)
	for i := range stores {
		db, err := dbx.Open(context.Background(), dbx.Config{MySQLDSN: dsn, MaxOpenConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = dbx.Close(db) })
		if stores[i], err = store.New(db); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	if err := stores[0].Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var txs []*store.Transaction
	for i := 0; i < xids; i++ {
		txs = append(txs, newTx(fmt.Sprintf("split-%04d", i), "owner", "", 2))
	}
	for _, err := range stores[0].Begin(ctx, txs) {
		if err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string][]tcc.TxStatus{} // what the participant received, per XID
	var wg sync.WaitGroup
	start := make(chan struct{})
	for d := 0; d < deciders; d++ {
		wg.Add(1)
		go func(d int) {
			defer wg.Done()
			to := tcc.TxConfirming
			if d%2 == 1 {
				to = tcc.TxCancelling
			}
			<-start
			for i := 0; i < xids; i++ {
				// Walk the XIDs in a different order per decider, in small batches.
				j := (i*7 + d*31) % xids
				res := stores[d].Decide(ctx, []store.Decision{{XID: txs[j].XID, Owner: "owner", To: to}})
				if res[0].Err != nil {
					t.Error(res[0].Err)
					return
				}
				if res[0].Won {
					mu.Lock()
					seen[txs[j].XID] = append(seen[txs[j].XID], to)
					mu.Unlock()
				}
			}
		}(d)
	}
	close(start)
	wg.Wait()
	for _, tx := range txs {
		got := seen[tx.XID]
		if len(got) != 1 {
			t.Fatalf("%s: participant saw %v", tx.XID, got)
		}
		stored, err := stores[0].Get(ctx, tx.XID)
		if err != nil || stored.Status != got[0] {
			t.Fatalf("%s: stored %v, participant saw %v (%v)", tx.XID, stored.Status, got, err)
		}
	}
}
