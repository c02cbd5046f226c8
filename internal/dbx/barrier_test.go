package dbx_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/internal/testenv"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// counter is the business table of TestBarrierDuplicatesWithClientFoundRows: how many
// times each phase's business step committed.
type counter struct {
	Phase string `gorm:"primaryKey"`
	N     int
}

// TestBarrierDuplicatesWithClientFoundRows opens MariaDB through dbx.Open with a DSN
// asking for clientFoundRows=true. With that flag the server reports a row that INSERT …
// ON DUPLICATE KEY UPDATE found but left unchanged as 1 affected row, the SDK's barrier
// would take every duplicate for a first call, and a duplicate Try, Confirm or Cancel
// would apply twice. dbx must normalise the flag away: each phase applies once, and
// duplicates answer duplicate.
func TestBarrierDuplicatesWithClientFoundRows(t *testing.T) {
	cfg, err := mysqldrv.ParseDSN(testenv.NewMySQLDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ClientFoundRows = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := dbx.Open(ctx, dbx.Config{MySQLDSN: cfg.FormatDSN(), MaxOpenConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dbx.Close(db) })
	if err := tcc.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := db.AutoMigrate(&counter{}); err != nil {
		t.Fatal(err)
	}
	b := tcc.NewBarrier(db)
	for i, tc := range []struct {
		phases []tcc.Phase
		want   []tcc.Outcome
	}{
		{
			[]tcc.Phase{tcc.PhaseTry, tcc.PhaseTry, tcc.PhaseConfirm, tcc.PhaseConfirm},
			[]tcc.Outcome{tcc.OutcomeApplied, tcc.OutcomeDuplicate, tcc.OutcomeApplied, tcc.OutcomeDuplicate},
		},
		{
			[]tcc.Phase{tcc.PhaseTry, tcc.PhaseTry, tcc.PhaseCancel, tcc.PhaseCancel},
			[]tcc.Outcome{tcc.OutcomeApplied, tcc.OutcomeDuplicate, tcc.OutcomeApplied, tcc.OutcomeDuplicate},
		},
	} {
		xid := fmt.Sprintf("cfr-%d", i)
		for j, ph := range tc.phases {
			br := tcc.Branch{XID: xid, BranchID: "b1", Phase: ph}
			key := xid + "/" + string(ph)
			out, err := b.Run(ctx, br, func(tx *gorm.DB) error {
				return tx.Exec("INSERT INTO counters (phase, n) VALUES (?, 1) ON DUPLICATE KEY UPDATE n = n + 1", key).Error
			})
			if err != nil || out != tc.want[j] {
				t.Errorf("%s step %d (%s): %q, %v; want %q", xid, j, ph, out, err, tc.want[j])
			}
		}
		var got []counter
		if err := db.Where("phase LIKE ?", xid+"/%").Find(&got).Error; err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Errorf("%s: business steps %+v, want two phases applied", xid, got)
		}
		for _, c := range got {
			if c.N != 1 {
				t.Errorf("%s: %s applied %d times, want once", xid, c.Phase, c.N)
			}
		}
	}
}
