package tcc_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/pkg/tcc"
	"github.com/tccsuite/tccsuite/pkg/tcc/internal/testenv"
)

// TestConcurrentTryCancelOnMySQL fires, for 200 branches at once, two Tries and two
// Cancels each from separate goroutines, over HTTP against a real MariaDB. Every answer
// must be a success, a suspension, or a retryable 5xx (a deadlock or a lost lock race);
// the test then retries the failed Cancels as the coordinator would. At the end every
// branch's net effect is zero: as many Cancel effects as Try effects (0 or 1 each), and
// nothing stays held.
func TestConcurrentTryCancelOnMySQL(t *testing.T) {
	const branches = 200
	const initial = 1_000_000
	f := newFixture(t, testenv.MySQL(t, 32), initial)
	body := `{"pool":1,"amount":7}`

	var wg sync.WaitGroup
	var mu sync.Mutex
	failedCancels := map[string]int{}
	unexpected := []string{}
	for i := 0; i < branches; i++ {
		branch := fmt.Sprintf("b%03d", i)
		for _, ph := range []tcc.Phase{tcc.PhaseTry, tcc.PhaseCancel, tcc.PhaseTry, tcc.PhaseCancel} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a := do(t, f.request(t, call{xid: "conc", branch: branch, phase: ph, body: body}))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case a.status == http.StatusOK:
				case ph == tcc.PhaseTry && a.status == http.StatusConflict && a.code == tcc.CodeSuspended:
				case a.status >= 500:
					// Outcome unknown: a Try is followed by a Cancel anyway; a Cancel is
					// retried below.
					if ph == tcc.PhaseCancel {
						failedCancels[branch]++
					}
				default:
					unexpected = append(unexpected, fmt.Sprintf("%s %s: %d %s", branch, ph, a.status, a.code))
				}
			}()
		}
	}
	wg.Wait()
	if len(unexpected) > 0 {
		t.Fatalf("unexpected answers: %v", unexpected)
	}
	// The coordinator retries a Cancel until it answers 2xx. Each branch already had two
	// Cancels in flight; retry once more for every branch whose Cancels both failed, and
	// for every branch as a duplicate check.
	for i := 0; i < branches; i++ {
		branch := fmt.Sprintf("b%03d", i)
		deadline := time.Now().Add(30 * time.Second)
		for {
			a := do(t, f.request(t, call{xid: "conc", branch: branch, phase: tcc.PhaseCancel, body: body}))
			if a.status == http.StatusOK {
				break
			}
			if a.status < 500 || time.Now().After(deadline) {
				t.Fatalf("%s: cancel retry answered %d %s", branch, a.status, a.code)
			}
		}
	}
	t.Logf("cancels that failed transiently and were retried: %d", len(failedCancels))

	p := f.pool(t)
	if p.Available != initial || p.Held != 0 || p.Spent != 0 {
		t.Fatalf("pool after all cancels: %+v, want %d/0/0", p, initial)
	}
	var rows []struct {
		BranchID string
		Phase    string
		N        int
	}
	if err := f.db.Model(&effect{}).Select("branch_id, phase, count(*) AS n").Where("xid = ?", "conc").
		Group("branch_id, phase").Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	per := map[string]map[string]int{}
	for _, r := range rows {
		if per[r.BranchID] == nil {
			per[r.BranchID] = map[string]int{}
		}
		per[r.BranchID][r.Phase] = r.N
	}
	tried := 0
	for b, m := range per {
		if m["try"] > 1 || m["cancel"] != m["try"] || m["confirm"] != 0 {
			t.Errorf("branch %s effects %v: want try = cancel ≤ 1", b, m)
		}
		tried += m["try"]
	}
	t.Logf("branches whose try ran before its cancel: %d of %d", tried, branches)
	// Every branch ends with its try row (either origin) and its cancel row.
	var n int64
	if err := f.db.Table(tcc.BarrierTable).Where("xid = ?", "conc").Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != 2*branches {
		t.Fatalf("barrier rows: %d, want %d", n, 2*branches)
	}
}

// TestDeadlockIsRetryable provokes a real InnoDB deadlock between two Tries served over
// HTTP and checks that the victim answers 503 TCC_RETRY with its barrier row and business
// change rolled back, and that the coordinator's repeated call then applies it once.
func TestDeadlockIsRetryable(t *testing.T) {
	type lockPayload struct{ First, Second int }
	// Each business step locks its first pool, waits until the other step holds its own
	// first pool, then locks its second: with opposite orders, InnoDB must pick a victim.
	firstLocked := map[int]chan struct{}{1: make(chan struct{}), 2: make(chan struct{})}
	var once sync.Map
	lockBoth := func(_ context.Context, tx *gorm.DB, _ tcc.Branch, p lockPayload) error {
		if err := tx.Exec("UPDATE pools SET held = held + 1 WHERE id = ?", p.First).Error; err != nil {
			return err
		}
		if _, done := once.LoadOrStore(p.First, true); !done {
			close(firstLocked[p.First])
			<-firstLocked[p.Second]
		}
		return tx.Exec("UPDATE pools SET held = held + 1 WHERE id = ?", p.Second).Error
	}
	noop := func(context.Context, *gorm.DB, tcc.Branch, lockPayload) error { return nil }
	db := testenv.MySQL(t, 8)
	f := newFixture(t, db, 100, func(r gin.IRouter, p *tcc.Participant) error {
		return tcc.Mount(r, p, tcc.Action[lockPayload]{Name: "lock", Try: lockBoth, Confirm: noop, Cancel: noop})
	})
	if err := db.Create(&pool{ID: 2, Available: 100}).Error; err != nil {
		t.Fatal(err)
	}
	bodies := []string{`{"First":1,"Second":2}`, `{"First":2,"Second":1}`}
	answers := make([]answer, 2)
	var wg sync.WaitGroup
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = do(t, f.request(t, call{action: "lock", xid: "dl", branch: fmt.Sprint("b", i), phase: tcc.PhaseTry, body: bodies[i]}))
		}()
	}
	wg.Wait()
	victim := -1
	for i, a := range answers {
		switch {
		case a.status == http.StatusOK:
		case a.status == http.StatusServiceUnavailable && a.code == tcc.CodeRetry && victim == -1:
			victim = i
		default:
			t.Fatalf("branch %d answered %d %s; want one 200 and one 503 %s", i, a.status, a.code, tcc.CodeRetry)
		}
	}
	if victim == -1 {
		t.Fatal("no deadlock victim")
	}
	var n int64
	db.Table(tcc.BarrierTable).Where("xid = ? AND branch_id = ?", "dl", fmt.Sprint("b", victim)).Count(&n)
	if n != 0 {
		t.Fatal("the deadlock victim's barrier row survived")
	}
	var held int64
	db.Model(&pool{}).Select("sum(held)").Scan(&held)
	if held != 2 {
		t.Fatalf("held sum %d after the deadlock, want 2 (the winner's two updates only)", held)
	}
	// The coordinator calls again: now it applies, once.
	a := do(t, f.request(t, call{action: "lock", xid: "dl", branch: fmt.Sprint("b", victim), phase: tcc.PhaseTry, body: bodies[victim]}))
	if a.status != http.StatusOK || a.result.Outcome != tcc.OutcomeApplied {
		t.Fatalf("retried try: %+v", a)
	}
	db.Model(&pool{}).Select("sum(held)").Scan(&held)
	if held != 4 {
		t.Fatalf("held sum %d after the retry, want 4", held)
	}
}

// TestConcurrentSecondPhasesOnMySQL races, over HTTP against a real MariaDB, what a
// confused coordinator or a duplicating network can deliver at once:
//
//   - for 100 tried branches, two Confirms and two Cancels together: exactly one of the
//     two phases is applied, once; the calls of the other answer 409
//     TCC_PHASE_CONFLICT (or a retryable 503/504);
//   - for 100 fresh branches, a Try and a Confirm together: the Confirm either comes
//     second and applies, or comes first and answers 409 TCC_NOT_TRIED leaving nothing
//     that would block the Try; the coordinator's Confirm after the Try then applies.
//
// Each branch then has exactly one second-phase effect, the answers say which, and
// nothing stays held.
func TestConcurrentSecondPhasesOnMySQL(t *testing.T) {
	const branches = 100
	const initial = 1_000_000
	f := newFixture(t, testenv.MySQL(t, 32), initial)
	body := `{"pool":1,"amount":7}`
	// transient: the call may be repeated (a deadlock victim, a timeout).
	transient := func(a answer) bool {
		return a.status == http.StatusServiceUnavailable && a.code == tcc.CodeRetry ||
			a.status == http.StatusGatewayTimeout && a.code == tcc.CodeTimeout
	}
	// until repeats a call while it answers a transient 5xx, as the coordinator does.
	until := func(c call) answer {
		deadline := time.Now().Add(30 * time.Second)
		for {
			a := do(t, f.request(t, c))
			if !transient(a) || time.Now().After(deadline) {
				return a
			}
		}
	}
	var wg sync.WaitGroup
	for i := 0; i < branches; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if a := until(call{xid: "dec", branch: fmt.Sprintf("b%03d", i), phase: tcc.PhaseTry, body: body}); a.status != http.StatusOK {
				t.Errorf("try b%03d: %d %s", i, a.status, a.code)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	var mu sync.Mutex
	applied := map[string]map[tcc.Phase]int{} // "xid/branch" → phase → "applied" answers
	answers := map[string]int{}               // answer → how many, for the log
	unexpected := []string{}
	note := func(xid, branch string, ph tcc.Phase, a answer, ok bool) {
		mu.Lock()
		defer mu.Unlock()
		answers[fmt.Sprint(a.status, " ", a.code, a.result.Outcome)]++
		switch {
		case a.status == http.StatusOK && a.result.Outcome == tcc.OutcomeApplied:
			k := xid + "/" + branch
			if applied[k] == nil {
				applied[k] = map[tcc.Phase]int{}
			}
			applied[k][ph]++
		case a.status == http.StatusOK && a.result.Outcome == tcc.OutcomeDuplicate:
		case transient(a):
		case ok:
		default:
			unexpected = append(unexpected, fmt.Sprintf("%s/%s %s: %d %s %s", xid, branch, ph, a.status, a.code, a.result.Outcome))
		}
	}
	for i := 0; i < branches; i++ {
		branch := fmt.Sprintf("b%03d", i)
		for _, ph := range []tcc.Phase{tcc.PhaseConfirm, tcc.PhaseCancel, tcc.PhaseConfirm, tcc.PhaseCancel} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a := do(t, f.request(t, call{xid: "dec", branch: branch, phase: ph, body: body}))
				note("dec", branch, ph, a, a.status == http.StatusConflict && a.code == tcc.CodePhaseConflict)
			}()
		}
		for _, ph := range []tcc.Phase{tcc.PhaseTry, tcc.PhaseConfirm} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a := do(t, f.request(t, call{xid: "race", branch: branch, phase: ph, body: body}))
				note("race", branch, ph, a, ph == tcc.PhaseConfirm && a.status == http.StatusConflict && a.code == tcc.CodeNotTried)
			}()
		}
	}
	wg.Wait()
	if len(unexpected) > 0 {
		t.Fatalf("unexpected answers: %v", unexpected)
	}
	// The coordinator's calls after the race: a Try whose answer was lost is repeated,
	// then the Confirm. For "dec", a branch whose four calls all failed transiently gets
	// one more Confirm; one that was decided refuses it or answers duplicate.
	for i := 0; i < branches; i++ {
		branch := fmt.Sprintf("b%03d", i)
		a := until(call{xid: "race", branch: branch, phase: tcc.PhaseTry, body: body})
		note("race", branch, tcc.PhaseTry, a, false)
		a = until(call{xid: "race", branch: branch, phase: tcc.PhaseConfirm, body: body})
		note("race", branch, tcc.PhaseConfirm, a, false)
		a = until(call{xid: "dec", branch: branch, phase: tcc.PhaseConfirm, body: body})
		note("dec", branch, tcc.PhaseConfirm, a, a.status == http.StatusConflict && a.code == tcc.CodePhaseConflict)
	}
	if len(unexpected) > 0 {
		t.Fatalf("unexpected answers after the race: %v", unexpected)
	}

	var rows []struct {
		XID      string `gorm:"column:xid"`
		BranchID string
		Phase    string
		N        int
	}
	if err := f.db.Model(&effect{}).Select("xid, branch_id, phase, count(*) AS n").
		Group("xid, branch_id, phase").Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	per := map[string]map[tcc.Phase]int{}
	for _, r := range rows {
		k := r.XID + "/" + r.BranchID
		if per[k] == nil {
			per[k] = map[tcc.Phase]int{}
		}
		per[k][tcc.Phase(r.Phase)] = r.N
	}
	confirmed := 0
	for _, xid := range []string{"dec", "race"} {
		for i := 0; i < branches; i++ {
			k := fmt.Sprintf("%s/b%03d", xid, i)
			m := per[k]
			if m[tcc.PhaseTry] != 1 || m[tcc.PhaseConfirm]+m[tcc.PhaseCancel] != 1 || xid == "race" && m[tcc.PhaseConfirm] != 1 {
				t.Errorf("%s: effects %v, want one try and exactly one of confirm, cancel", k, m)
				continue
			}
			// The answers tell the same story: each effect was answered "applied" once
			// (the "dec" Tries, sent before, are not counted).
			want := map[tcc.Phase]int{tcc.PhaseConfirm: m[tcc.PhaseConfirm], tcc.PhaseCancel: m[tcc.PhaseCancel]}
			if xid == "race" {
				want[tcc.PhaseTry] = 1
			}
			for _, ph := range []tcc.Phase{tcc.PhaseTry, tcc.PhaseConfirm, tcc.PhaseCancel} {
				if applied[k][ph] != want[ph] {
					t.Errorf("%s: %d %s answers said applied, want %d (effects %v)", k, applied[k][ph], ph, want[ph], m)
				}
			}
			confirmed += m[tcc.PhaseConfirm]
		}
	}
	t.Logf("of %d raced decisions, %d were confirms; answers: %v", branches, confirmed-branches, answers)
	p := f.pool(t)
	if p.Held != 0 || p.Spent != int64(7*confirmed) || p.Available != initial-p.Spent {
		t.Fatalf("pool %+v after %d confirms, want %d/0/%d", p, confirmed, initial-7*confirmed, 7*confirmed)
	}
}
