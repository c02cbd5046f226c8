package tcc_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"pgregory.net/rapid"

	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// Broken variants of the barrier, built only here, each with one guarantee removed. They
// reuse the real barrier for every phase but the one they break, and reimplement that
// one as a plausible wrong version would (the first is the barrier's old Confirm).

// brokenInsert inserts a barrier row unless it exists, and reports whether it did.
func brokenInsert(tx *gorm.DB, br tcc.Branch, phase, origin tcc.Phase) (bool, error) {
	res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&modelRow{
		XID: br.XID, BranchID: br.BranchID, Phase: string(phase), OriginPhase: string(origin), CreatedAt: time.Now().UTC(),
	})
	return res.RowsAffected == 1, res.Error
}

// brokenPhase runs phase in its own transaction and leaves the others to the real
// barrier.
func brokenPhase(phase tcc.Phase, step func(tx *gorm.DB, br tcc.Branch, fn tcc.BusinessFunc) (tcc.Outcome, error)) func(context.Context, *gorm.DB, tcc.Branch, tcc.BusinessFunc) (tcc.Outcome, error) {
	return func(ctx context.Context, db *gorm.DB, br tcc.Branch, fn tcc.BusinessFunc) (tcc.Outcome, error) {
		if br.Phase != phase {
			return tcc.NewBarrier(db).Run(ctx, br, fn)
		}
		var out tcc.Outcome
		err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			var err error
			out, err = step(tx, br, fn)
			return err
		})
		return out, err
	}
}

var brokenVariants = []subject{
	{
		// (a) The old Confirm: insert the confirm row and apply, without looking for the
		// branch's Try (nor its Cancel).
		name: "confirm-without-try-check",
		run: brokenPhase(tcc.PhaseConfirm, func(tx *gorm.DB, br tcc.Branch, fn tcc.BusinessFunc) (tcc.Outcome, error) {
			inserted, err := brokenInsert(tx, br, tcc.PhaseConfirm, tcc.PhaseConfirm)
			if err != nil || !inserted {
				return tcc.OutcomeDuplicate, err
			}
			return tcc.OutcomeApplied, fn(tx)
		}),
		purge: tcc.Purge,
	},
	{
		// (b) A purge by age alone: it also removes open branches (a Try with neither
		// Confirm nor Cancel), whose late Confirm then finds no Try.
		name: "purge-open-branches",
		run:  realBarrier.run,
		purge: func(ctx context.Context, db *gorm.DB, cfg tcc.PurgeConfig) (int64, error) {
			var keys []struct {
				XID      string `gorm:"column:xid"`
				BranchID string `gorm:"column:branch_id"`
			}
			cutoff := time.Now().UTC().Add(-cfg.Retention)
			if err := db.WithContext(ctx).Table(tcc.BarrierTable).Distinct("xid", "branch_id").
				Where("created_at < ?", cutoff).Scan(&keys).Error; err != nil {
				return 0, err
			}
			var n int64
			for _, k := range keys {
				res := db.WithContext(ctx).Where("xid = ? AND branch_id = ?", k.XID, k.BranchID).Delete(&modelRow{})
				if res.Error != nil {
					return n, res.Error
				}
				n += res.RowsAffected
			}
			return n, nil
		},
	},
	{
		// (c) A Cancel that does not look for the Confirm: it compensates a confirmed
		// branch.
		name: "cancel-after-confirm",
		run: brokenPhase(tcc.PhaseCancel, func(tx *gorm.DB, br tcc.Branch, fn tcc.BusinessFunc) (tcc.Outcome, error) {
			tryMissing, err := brokenInsert(tx, br, tcc.PhaseTry, tcc.PhaseCancel)
			if err != nil {
				return "", err
			}
			inserted, err := brokenInsert(tx, br, tcc.PhaseCancel, tcc.PhaseCancel)
			switch {
			case err != nil:
				return "", err
			case !inserted:
				return tcc.OutcomeDuplicate, nil
			case tryMissing:
				return tcc.OutcomeEmptyCompensation, nil
			}
			return tcc.OutcomeApplied, fn(tx)
		}),
		purge: tcc.Purge,
	},
	{
		// (d) A Cancel without the anti-suspension marker: an empty compensation writes
		// only its cancel row, so a late Try still applies and stays held.
		name: "cancel-without-marker",
		run: brokenPhase(tcc.PhaseCancel, func(tx *gorm.DB, br tcc.Branch, fn tcc.BusinessFunc) (tcc.Outcome, error) {
			var tries int64
			if err := tx.Model(&modelRow{}).Where("xid = ? AND branch_id = ? AND phase = ?", br.XID, br.BranchID, "try").
				Count(&tries).Error; err != nil {
				return "", err
			}
			inserted, err := brokenInsert(tx, br, tcc.PhaseCancel, tcc.PhaseCancel)
			switch {
			case err != nil:
				return "", err
			case !inserted:
				return tcc.OutcomeDuplicate, nil
			case tries == 0:
				return tcc.OutcomeEmptyCompensation, nil
			}
			var confirms int64
			if err := tx.Model(&modelRow{}).Where("xid = ? AND branch_id = ? AND phase = ?", br.XID, br.BranchID, "confirm").
				Count(&confirms).Error; err != nil {
				return "", err
			}
			if confirms > 0 {
				return "", tcc.ErrPhaseConflict
			}
			return tcc.OutcomeApplied, fn(tx)
		}),
		purge: tcc.Purge,
	},
}

// recordingTB stands in for *testing.T under rapid.Check, so that a test can assert that
// a check FAILS: it records the failure and the log instead of failing the test.
type recordingTB struct {
	name   string
	mu     sync.Mutex
	failed bool
	log    []string
}

func (r *recordingTB) Helper()      {}
func (r *recordingTB) Name() string { return r.name }
func (r *recordingTB) Logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, fmt.Sprintf(format, args...))
}
func (r *recordingTB) Log(args ...any)                   { r.Logf("%s", fmt.Sprint(args...)) }
func (r *recordingTB) Skipf(format string, args ...any)  { r.Errorf("skip: "+format, args...) }
func (r *recordingTB) Skip(args ...any)                  { r.Error(append([]any{"skip: "}, args...)...) }
func (r *recordingTB) SkipNow()                          { r.Error("skip") }
func (r *recordingTB) Errorf(format string, args ...any) { r.Logf(format, args...); r.Fail() }
func (r *recordingTB) Error(args ...any)                 { r.Log(args...); r.Fail() }
func (r *recordingTB) Fatalf(format string, args ...any) { r.Errorf(format, args...) }
func (r *recordingTB) Fatal(args ...any)                 { r.Error(args...) }
func (r *recordingTB) FailNow()                          { r.Fail() }
func (r *recordingTB) Fail() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
}
func (r *recordingTB) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// maxCounterexample bounds the shrunk counterexample of a broken variant: each bug takes
// at most a few deliveries to show.
const maxCounterexample = 4

// TestBarrierModelCatchesBrokenVariants is the evidence that the checker bites: against
// each broken variant, rapid.Check (on SQLite, under a recording TB) must fail, and
// shrink its counterexample to at most maxCounterexample actions. It runs the checker's
// short sequences (shortProperty, the same checks), and delivers a pair's calls one
// after the other (checker.serialPairs), so that shrinking is quick and reproducible. The shrunk sequence is
// logged in the notation of TestBarrierModelRegressions, where each is kept and must
// pass on the real barrier.
func TestBarrierModelCatchesBrokenVariants(t *testing.T) {
	// rapid saves a fail file for a failed check under testdata/rapid/<name>, and replays
	// the ones it finds there first: keep both in a scratch directory.
	t.Chdir(t.TempDir())
	for _, subj := range brokenVariants {
		t.Run(subj.name, func(t *testing.T) {
			start := time.Now()
			c := newChecker(t, sqliteDB(t), subj)
			c.serialPairs = true // reproducible runs: see checker.serialPairs
			var last []action
			rec := &recordingTB{name: "broken-" + subj.name}
			// A check finds each of these bugs with a fair chance, and rapid's first checks
			// are the simplest: give it up to three runs of -rapid.checks (each a fresh
			// random seed) so that missing one is practically impossible.
			for run := 0; run < 3 && !rec.Failed(); run++ {
				rapid.Check(rec, c.shortProperty(12, &last))
			}
			if !rec.Failed() {
				t.Fatalf("the checker did not catch %s", subj.name)
			}
			// rapid's verdict (first line of its error), and the details of the shrunk
			// counterexample's replay (absent if a race in it went the other way).
			var why, details string
			for _, l := range rec.log {
				switch {
				case strings.HasPrefix(l, "[rapid] failed") || strings.HasPrefix(l, "[rapid] flaky"):
					why, _, _ = strings.Cut(l, "\n")
				case strings.HasPrefix(l, "step ") && details == "":
					details = l // the first: the one with the details
				}
			}
			t.Logf("%s: caught in %v; shrunk counterexample (%d actions):\n\t%s\n\t%s\n\t%s",
				subj.name, time.Since(start).Round(time.Millisecond), len(last), formatActions(last), why, details)
			if len(last) > maxCounterexample || !strings.HasPrefix(why, "[rapid] failed") {
				t.Errorf("counterexample of %d actions, want at most %d; rapid's log:\n%s",
					len(last), maxCounterexample, strings.Join(rec.log, "\n"))
			}
		})
	}
}
