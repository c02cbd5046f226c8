package tcc_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// TestPurge: finished branches older than the retention go, all their rows at once;
// open branches and young ones stay; several purgers at once are safe.
func TestPurge(t *testing.T) {
	for dbName, open := range databases() {
		t.Run(dbName, func(t *testing.T) {
			db := open(t)
			migrateTest(t, db)
			b := tcc.NewBarrier(db)
			ctx := context.Background()
			run := func(xid, branch string, ph tcc.Phase) {
				t.Helper()
				br := tcc.Branch{XID: xid, BranchID: branch, Phase: ph}
				if _, err := b.Run(ctx, br, record(br)); err != nil {
					t.Fatal(err)
				}
			}
			const old = 120
			for i := 0; i < old; i++ {
				x := fmt.Sprintf("old-%03d", i)
				switch i % 3 {
				case 0: // confirmed
					run(x, "b", tcc.PhaseTry)
					run(x, "b", tcc.PhaseConfirm)
				case 1: // cancelled
					run(x, "b", tcc.PhaseTry)
					run(x, "b", tcc.PhaseCancel)
				case 2: // empty compensation
					run(x, "b", tcc.PhaseCancel)
				}
			}
			run("old-open", "b", tcc.PhaseTry) // a Try still waiting for its decision
			// Age everything written so far by two days.
			aged := time.Now().UTC().Add(-48 * time.Hour)
			if err := db.Table(tcc.BarrierTable).Where("1 = 1").Update("created_at", aged).Error; err != nil {
				t.Fatal(err)
			}
			run("young", "b", tcc.PhaseTry)
			run("young", "b", tcc.PhaseConfirm)

			var wg sync.WaitGroup
			var mu sync.Mutex
			var deleted int64
			for w := 0; w < 3; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					n, err := tcc.Purge(ctx, db, tcc.PurgeConfig{Retention: 24 * time.Hour, BatchSize: 7})
					if err != nil {
						t.Error(err)
					}
					mu.Lock()
					deleted += n
					mu.Unlock()
				}()
			}
			wg.Wait()
			// Purgers that stopped early leave rows for the next run: run once more.
			n, err := tcc.Purge(ctx, db, tcc.PurgeConfig{Retention: 24 * time.Hour, BatchSize: 7})
			if err != nil {
				t.Fatal(err)
			}
			deleted += n
			if deleted != 2*old {
				t.Errorf("deleted %d rows, want %d", deleted, 2*old)
			}
			type row struct {
				XID      string `gorm:"column:xid"`
				BranchID string `gorm:"column:branch_id"`
				Phase    string `gorm:"column:phase"`
			}
			var left []row
			if err := db.Table(tcc.BarrierTable).Select("xid, branch_id, phase").Order("xid, phase").Scan(&left).Error; err != nil {
				t.Fatal(err)
			}
			want := []row{
				{"old-open", "b", "try"}, {"young", "b", "confirm"}, {"young", "b", "try"},
			}
			if fmt.Sprint(left) != fmt.Sprint(want) {
				t.Errorf("rows left %v, want %v", left, want)
			}
			// The open branch still completes normally after the purge.
			run("old-open", "b", tcc.PhaseCancel)
			if got := effects(t, db, "old-open"); got[tcc.PhaseCancel] != 1 {
				t.Errorf("open branch's cancel after purge: effects %v", got)
			}
			if _, err := tcc.Purge(ctx, db, tcc.PurgeConfig{}); err == nil {
				t.Error("a purge without retention was accepted")
			}
		})
	}
}
