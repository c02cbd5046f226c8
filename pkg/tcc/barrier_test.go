package tcc_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/internal/testenv"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// effect is the test's business table: one row per business step that committed.
type effect struct {
	ID       uint   `gorm:"primaryKey"`
	XID      string `gorm:"column:xid"`
	BranchID string
	Phase    string
}

func migrateTest(t testing.TB, db *gorm.DB) {
	t.Helper()
	if err := tcc.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	// Twice: Migrate is idempotent.
	if err := tcc.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	if err := db.AutoMigrate(&effect{}); err != nil {
		t.Fatal(err)
	}
}

// record is a business step that writes one effect row in the barrier's transaction.
func record(br tcc.Branch) tcc.BusinessFunc {
	return func(tx *gorm.DB) error {
		return tx.Create(&effect{XID: br.XID, BranchID: br.BranchID, Phase: string(br.Phase)}).Error
	}
}

var errBusiness = errors.New("business step failed")

func effects(t testing.TB, db *gorm.DB, xid string) map[tcc.Phase]int {
	t.Helper()
	var rows []effect
	if err := db.Where("xid = ?", xid).Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	got := map[tcc.Phase]int{}
	for _, r := range rows {
		got[tcc.Phase(r.Phase)]++
	}
	return got
}

// TestBarrierSequences drives every delivery sequence of DESIGN §3 and checks that each
// business effect happened exactly once or not at all, with the right answer each time.
func TestBarrierSequences(t *testing.T) {
	type step struct {
		phase tcc.Phase
		fail  bool // the business step returns an error
	}
	T, Cf, C := step{phase: tcc.PhaseTry}, step{phase: tcc.PhaseConfirm}, step{phase: tcc.PhaseCancel}
	Tfail := step{phase: tcc.PhaseTry, fail: true}
	const (
		applied   = string(tcc.OutcomeApplied)
		dup       = string(tcc.OutcomeDuplicate)
		empty     = string(tcc.OutcomeEmptyCompensation)
		suspended = "ERR_SUSPENDED"
		bizErr    = "ERR_BUSINESS"
	)
	cases := []struct {
		name    string
		steps   []step
		answers []string
		want    map[tcc.Phase]int
	}{
		{"T", []step{T}, []string{applied}, map[tcc.Phase]int{tcc.PhaseTry: 1}},
		{"T,T", []step{T, T}, []string{applied, dup}, map[tcc.Phase]int{tcc.PhaseTry: 1}},
		{"T,Cf", []step{T, Cf}, []string{applied, applied}, map[tcc.Phase]int{tcc.PhaseTry: 1, tcc.PhaseConfirm: 1}},
		{"T,Cf,Cf", []step{T, Cf, Cf}, []string{applied, applied, dup}, map[tcc.Phase]int{tcc.PhaseTry: 1, tcc.PhaseConfirm: 1}},
		{"T,C", []step{T, C}, []string{applied, applied}, map[tcc.Phase]int{tcc.PhaseTry: 1, tcc.PhaseCancel: 1}},
		{"T,C,C", []step{T, C, C}, []string{applied, applied, dup}, map[tcc.Phase]int{tcc.PhaseTry: 1, tcc.PhaseCancel: 1}},
		{"C", []step{C}, []string{empty}, map[tcc.Phase]int{}},
		{"C,T", []step{C, T}, []string{empty, suspended}, map[tcc.Phase]int{}},
		{"C,C", []step{C, C}, []string{empty, dup}, map[tcc.Phase]int{}},
		{"C,T,C", []step{C, T, C}, []string{empty, suspended, dup}, map[tcc.Phase]int{}},
		{"Tfail,C", []step{Tfail, C}, []string{bizErr, empty}, map[tcc.Phase]int{}},
		{"Tfail,C,T", []step{Tfail, C, T}, []string{bizErr, empty, suspended}, map[tcc.Phase]int{}},
		{"T,T,C,T", []step{T, T, C, T}, []string{applied, dup, applied, dup}, map[tcc.Phase]int{tcc.PhaseTry: 1, tcc.PhaseCancel: 1}},
	}
	for dbName, open := range testenv.Databases(t) {
		t.Run(dbName, func(t *testing.T) {
			db := open(t)
			migrateTest(t, db)
			b := tcc.NewBarrier(db)
			for i, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					xid := fmt.Sprintf("seq-%d", i)
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					for j, s := range tc.steps {
						br := tcc.Branch{XID: xid, BranchID: "b1", Phase: s.phase}
						fn := record(br)
						if s.fail {
							fn = func(tx *gorm.DB) error {
								if err := record(br)(tx); err != nil {
									return err
								}
								return errBusiness // after a write: it must roll back
							}
						}
						out, err := b.Run(ctx, br, fn)
						var got string
						switch {
						case errors.Is(err, tcc.ErrSuspended):
							got = suspended
						case errors.Is(err, errBusiness):
							got = bizErr
						case err != nil:
							t.Fatalf("step %d (%s): unexpected error %v", j, s.phase, err)
						default:
							got = string(out)
						}
						if got != tc.answers[j] {
							t.Errorf("step %d (%s): answer %s, want %s", j, s.phase, got, tc.answers[j])
						}
					}
					got := effects(t, db, xid)
					for _, ph := range []tcc.Phase{tcc.PhaseTry, tcc.PhaseConfirm, tcc.PhaseCancel} {
						if got[ph] != tc.want[ph] {
							t.Errorf("%s effects: %d, want %d", ph, got[ph], tc.want[ph])
						}
					}
				})
			}
		})
	}
}

func TestBarrierExpiredTryTouchesNothing(t *testing.T) {
	db := testenv.SQLite(t)
	migrateTest(t, db)
	b := tcc.NewBarrier(db)
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	br := tcc.Branch{XID: "late", BranchID: "b1", Phase: tcc.PhaseTry}
	if _, err := b.Run(ctx, br, record(br)); !errors.Is(err, tcc.ErrExpired) {
		t.Fatalf("late try: %v, want ErrExpired", err)
	}
	var n int64
	if err := db.Table(tcc.BarrierTable).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != 0 || len(effects(t, db, "late")) != 0 {
		t.Fatalf("late try left %d barrier rows and effects %v", n, effects(t, db, "late"))
	}
}

func TestBarrierRejectsBadBranch(t *testing.T) {
	db := testenv.SQLite(t)
	migrateTest(t, db)
	b := tcc.NewBarrier(db)
	for _, br := range []tcc.Branch{
		{XID: "", BranchID: "b", Phase: tcc.PhaseTry},
		{XID: "x", BranchID: "b/1", Phase: tcc.PhaseTry},
		{XID: "x", BranchID: "b", Phase: "commit"},
	} {
		if _, err := b.Run(context.Background(), br, record(br)); err == nil {
			t.Errorf("%+v: no error", br)
		}
	}
}
