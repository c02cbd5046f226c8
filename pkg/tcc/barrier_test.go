package tcc_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"

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

// seqAmount is what each business step of the sequence tests moves in the pool.
const seqAmount = 5

// poolStep is the business step of br over pool id: the Try moves seqAmount from
// available to held, the Confirm from held to spent, the Cancel from held back to
// available, each by a conditional UPDATE, and records its effect. Stock and money are
// pooled: the held column also holds other orders' reservations, so a Confirm or Cancel
// without its own Try would silently eat one of those.
func poolStep(id int, br tcc.Branch) tcc.BusinessFunc {
	cols := map[tcc.Phase][2]string{
		tcc.PhaseTry:     {"available", "held"},
		tcc.PhaseConfirm: {"held", "spent"},
		tcc.PhaseCancel:  {"held", "available"},
	}[br.Phase]
	from, to := cols[0], cols[1]
	return func(tx *gorm.DB) error {
		res := tx.Model(&pool{}).Where("id = ? AND "+from+" >= ?", id, seqAmount).
			Updates(map[string]any{from: gorm.Expr(from+" - ?", seqAmount), to: gorm.Expr(to+" + ?", seqAmount)})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return fmt.Errorf("pool %d: %s short", id, from)
		}
		return record(br)(tx)
	}
}

// barrierRowsOf counts the barrier rows of one XID.
func barrierRowsOf(t testing.TB, db *gorm.DB, xid string) int64 {
	t.Helper()
	var n int64
	if err := db.Table(tcc.BarrierTable).Where("xid = ?", xid).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// purgeNow ages the barrier rows of xid past the retention and purges, as the purger
// would days later.
func purgeNow(t testing.TB, db *gorm.DB, xid string) {
	t.Helper()
	aged := time.Now().UTC().Add(-48 * time.Hour)
	if err := db.Table(tcc.BarrierTable).Where("xid = ?", xid).Update("created_at", aged).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := tcc.Purge(context.Background(), db, tcc.PurgeConfig{Retention: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
}

// TestBarrierSequences drives every delivery sequence of docs/design.md §3, and the ones a
// confused coordinator or a purge in the middle can produce, and checks that each
// business effect happened exactly once or not at all, with the right answer each time,
// the pool moved accordingly (another order's reservation untouched), and the barrier
// rows left as expected. T is a Try, C a Confirm, X a Cancel.
func TestBarrierSequences(t *testing.T) {
	type step struct {
		phase tcc.Phase
		fail  bool // the business step returns an error (after its writes)
		late  bool // a Try whose deadline has already passed
		purge bool // not a call: the branch's rows age past the retention and are purged
	}
	T, C, X := step{phase: tcc.PhaseTry}, step{phase: tcc.PhaseConfirm}, step{phase: tcc.PhaseCancel}
	Tfail := step{phase: tcc.PhaseTry, fail: true}
	Tlate := step{phase: tcc.PhaseTry, late: true}
	P := step{purge: true}
	const (
		applied   = string(tcc.OutcomeApplied)
		dup       = string(tcc.OutcomeDuplicate)
		empty     = string(tcc.OutcomeEmptyCompensation)
		suspended = "ERR_SUSPENDED"
		expired   = "ERR_EXPIRED"
		notTried  = "ERR_NOT_TRIED"
		conflict  = "ERR_PHASE_CONFLICT"
		bizErr    = "ERR_BUSINESS"
		purged    = "PURGED"
	)
	type counts = map[tcc.Phase]int
	const try, confirm, cancel = tcc.PhaseTry, tcc.PhaseConfirm, tcc.PhaseCancel
	cases := []struct {
		name    string
		steps   []step
		answers []string
		want    counts
		rows    int64 // barrier rows of the branch at the end
	}{
		{"T", []step{T}, []string{applied}, counts{try: 1}, 1},
		{"T,T", []step{T, T}, []string{applied, dup}, counts{try: 1}, 1},
		{"T,C", []step{T, C}, []string{applied, applied}, counts{try: 1, confirm: 1}, 2},
		{"T,C,C", []step{T, C, C}, []string{applied, applied, dup}, counts{try: 1, confirm: 1}, 2},
		{"T,X", []step{T, X}, []string{applied, applied}, counts{try: 1, cancel: 1}, 2},
		{"T,X,X", []step{T, X, X}, []string{applied, applied, dup}, counts{try: 1, cancel: 1}, 2},
		{"X", []step{X}, []string{empty}, counts{}, 2},
		{"X,T", []step{X, T}, []string{empty, suspended}, counts{}, 2},
		{"X,X", []step{X, X}, []string{empty, dup}, counts{}, 2},
		{"X,T,X", []step{X, T, X}, []string{empty, suspended, dup}, counts{}, 2},
		{"Tfail,X", []step{Tfail, X}, []string{bizErr, empty}, counts{}, 2},
		{"Tfail,X,T", []step{Tfail, X, T}, []string{bizErr, empty, suspended}, counts{}, 2},
		{"T,T,X,T", []step{T, T, X, T}, []string{applied, dup, applied, dup}, counts{try: 1, cancel: 1}, 2},
		{"Tlate", []step{Tlate}, []string{expired}, counts{}, 0},

		// A Confirm without an applied Try, or after the Cancel, and a Cancel after the
		// Confirm, are refused and leave no row behind.
		{"C", []step{C}, []string{notTried}, counts{}, 0},
		{"C,T", []step{C, T}, []string{notTried, applied}, counts{try: 1}, 1},
		{"C,T,C", []step{C, T, C}, []string{notTried, applied, applied}, counts{try: 1, confirm: 1}, 2},
		{"Tfail,C", []step{Tfail, C}, []string{bizErr, notTried}, counts{}, 0},
		{"X,C", []step{X, C}, []string{empty, conflict}, counts{}, 2},
		{"T,X,C", []step{T, X, C}, []string{applied, applied, conflict}, counts{try: 1, cancel: 1}, 2},
		{"T,C,X", []step{T, C, X}, []string{applied, applied, conflict}, counts{try: 1, confirm: 1}, 2},
		{"T,C,X,C", []step{T, C, X, C}, []string{applied, applied, conflict, dup}, counts{try: 1, confirm: 1}, 2},
		{"T,X,C,X", []step{T, X, C, X}, []string{applied, applied, conflict, dup}, counts{try: 1, cancel: 1}, 2},

		// A purge in the middle: the barrier forgets the branch. A Confirm is then
		// refused, a Cancel compensates nothing, and a late Try is kept out by its
		// deadline alone.
		{"T,C,purge,C", []step{T, C, P, C}, []string{applied, applied, purged, notTried}, counts{try: 1, confirm: 1}, 0},
		{"T,X,purge,X", []step{T, X, P, X}, []string{applied, applied, purged, empty}, counts{try: 1, cancel: 1}, 2},
		{"T,X,purge,C", []step{T, X, P, C}, []string{applied, applied, purged, notTried}, counts{try: 1, cancel: 1}, 0},
		{"T,C,purge,X", []step{T, C, P, X}, []string{applied, applied, purged, empty}, counts{try: 1, confirm: 1}, 2},
		{"T,X,purge,T", []step{T, X, P, Tlate}, []string{applied, applied, purged, expired}, counts{try: 1, cancel: 1}, 0},
		{"T,C,purge,T", []step{T, C, P, Tlate}, []string{applied, applied, purged, expired}, counts{try: 1, confirm: 1}, 0},
	}
	// Every pool starts with another order's reservation in held: a stray Confirm or
	// Cancel would find it and move it.
	const initialAvailable, otherHeld = 100, 10
	for dbName, open := range databases() {
		t.Run(dbName, func(t *testing.T) {
			db := open(t)
			migrateTest(t, db)
			if err := db.AutoMigrate(&pool{}); err != nil {
				t.Fatal(err)
			}
			b := tcc.NewBarrier(db)
			for i, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					xid := fmt.Sprintf("seq-%d", i)
					poolID := i + 1
					if err := db.Create(&pool{ID: poolID, Available: initialAvailable, Held: otherHeld}).Error; err != nil {
						t.Fatal(err)
					}
					for j, s := range tc.steps {
						if s.purge {
							purgeNow(t, db, xid)
							if n := barrierRowsOf(t, db, xid); n != 0 {
								t.Fatalf("step %d: %d barrier rows survived the purge", j, n)
							}
							if tc.answers[j] != purged {
								t.Fatalf("step %d: the case expects %s of a purge", j, tc.answers[j])
							}
							continue
						}
						ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
						if s.late {
							cancel()
							ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
						}
						br := tcc.Branch{XID: xid, BranchID: "b1", Phase: s.phase}
						fn := poolStep(poolID, br)
						if s.fail {
							fn = func(tx *gorm.DB) error {
								if err := poolStep(poolID, br)(tx); err != nil {
									return err
								}
								return errBusiness // after its writes: they must roll back
							}
						}
						out, err := b.Run(ctx, br, fn)
						cancel()
						var got string
						switch {
						case errors.Is(err, tcc.ErrSuspended):
							got = suspended
						case errors.Is(err, tcc.ErrExpired):
							got = expired
						case errors.Is(err, tcc.ErrNotTried):
							got = notTried
						case errors.Is(err, tcc.ErrPhaseConflict):
							got = conflict
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
					for _, ph := range []tcc.Phase{try, confirm, cancel} {
						if got[ph] != tc.want[ph] {
							t.Errorf("%s effects: %d, want %d", ph, got[ph], tc.want[ph])
						}
					}
					var p pool
					if err := db.First(&p, poolID).Error; err != nil {
						t.Fatal(err)
					}
					w := tc.want
					want := pool{
						ID:        poolID,
						Available: initialAvailable - seqAmount*int64(w[try]-w[cancel]),
						Held:      otherHeld + seqAmount*int64(w[try]-w[confirm]-w[cancel]),
						Spent:     seqAmount * int64(w[confirm]),
					}
					if p != want {
						t.Errorf("pool %+v, want %+v", p, want)
					}
					if n := barrierRowsOf(t, db, xid); n != tc.rows {
						t.Errorf("%d barrier rows left, want %d", n, tc.rows)
					}
				})
			}
		})
	}
}

func TestBarrierExpiredTryTouchesNothing(t *testing.T) {
	db := sqliteDB(t)
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
	db := sqliteDB(t)
	migrateTest(t, db)
	b := tcc.NewBarrier(db)
	for _, br := range []tcc.Branch{
		{XID: "", BranchID: "b", Phase: tcc.PhaseTry},
		{XID: "x", BranchID: "b/1", Phase: tcc.PhaseTry},
		{XID: "x", BranchID: "b", Phase: "commit"},
		{XID: "..", BranchID: "b", Phase: tcc.PhaseTry},
		{XID: "x", BranchID: ".", Phase: tcc.PhaseConfirm},
	} {
		if _, err := b.Run(context.Background(), br, record(br)); err == nil {
			t.Errorf("%+v: no error", br)
		}
	}
}
