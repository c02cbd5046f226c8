package app_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tccsuite/tccsuite/coordinator/internal/testpart"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// TestSecondPhaseRefusedAsFinal: a Confirm or Cancel answered 409 TCC_NOT_TRIED or
// TCC_PHASE_CONFLICT makes its branch NOT_APPLIED (with the answer as last_error), flags
// the transaction, is never called again (not even by the admin retry), and the
// transaction still finishes once the other branches are done, keeping its flag. Any
// other 409 on the second phase is retried as before.
func TestSecondPhaseRefusedAsFinal(t *testing.T) {
	e := newEnv(t)
	c, base := e.start(t, "notapplied", nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		phase tcc.Phase
		code  string
		final bool
	}{
		{"confirm not tried", tcc.PhaseConfirm, tcc.CodeNotTried, true},
		{"confirm after cancel", tcc.PhaseConfirm, tcc.CodePhaseConflict, true},
		{"cancel after confirm", tcc.PhaseCancel, tcc.CodePhaseConflict, true},
		{"another 409 on confirm is retried", tcc.PhaseConfirm, "SOMETHING_ELSE", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var inventoryDown, paymentRefuses atomic.Bool
			inventoryDown.Store(true)
			paymentRefuses.Store(true)
			// payment answers the tested 409 to the tested phase; inventory's second phase
			// fails (503) until released, so the transaction stays unfinished meanwhile;
			// order refuses its Try when the tested phase is Cancel.
			e.parts["payment"].SetBehave(func(call testpart.Call) testpart.Answer {
				if call.Phase == tc.phase && paymentRefuses.Load() {
					return testpart.Answer{Status: http.StatusConflict, Code: tc.code}
				}
				return testpart.Answer{}
			})
			e.parts["inventory"].SetBehave(func(call testpart.Call) testpart.Answer {
				if call.Phase != tcc.PhaseTry && inventoryDown.Load() {
					return testpart.Answer{Status: http.StatusServiceUnavailable, Code: "DOWN"}
				}
				return testpart.Answer{}
			})
			e.parts["order"].SetBehave(func(call testpart.Call) testpart.Answer {
				if call.Phase == tcc.PhaseTry && tc.phase == tcc.PhaseCancel {
					return testpart.Answer{Status: http.StatusConflict, Code: "OUT_OF_STOCK"}
				}
				return testpart.Answer{}
			})
			defer func() {
				for _, p := range e.parts {
					p.SetBehave(nil)
				}
			}()
			tx, err := c.Begin(ctx, threeBranches(tcc.WaitDecision, 5000), "")
			if err != nil {
				t.Fatal(err)
			}
			decided, done := tcc.TxConfirming, tcc.TxConfirmed
			if tc.phase == tcc.PhaseCancel {
				decided, done = tcc.TxCancelling, tcc.TxCancelled
			}
			if tx.Status != decided {
				t.Fatalf("decided %s, want %s", tx.Status, decided)
			}
			pay := e.parts["payment"]
			if !tc.final {
				eventually(t, 10*time.Second, "payment retried", func() bool { return pay.Attempts(tx.XID, tc.phase) >= 3 })
				got, _ := c.Get(ctx, tx.XID)
				if b := branchOf(got, "payment"); b.Status == tcc.BranchNotApplied || got.Status != decided {
					t.Fatalf("a %s 409 was taken as final: %+v", tc.code, got)
				}
				paymentRefuses.Store(false)
				inventoryDown.Store(false)
				eventually(t, 10*time.Second, "finished", func() bool { return statusOf(c, tx.XID) == done })
				return
			}
			eventually(t, 10*time.Second, "payment's branch NOT_APPLIED", func() bool {
				got, err := c.Get(ctx, tx.XID)
				return err == nil && branchOf(got, "payment").Status == tcc.BranchNotApplied
			})
			got, _ := c.Get(ctx, tx.XID)
			if b := branchOf(got, "payment"); !strings.Contains(b.LastError, tc.code) || !got.Attention || got.Status != decided {
				t.Fatalf("after the final 409: %+v, payment %+v", got, b)
			}
			// The admin retry makes the waiting branch fire again, never the NOT_APPLIED one.
			before := e.parts["inventory"].Attempts(tx.XID, tc.phase)
			if _, err := c.Retry(ctx, tx.XID); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "inventory retried", func() bool {
				return e.parts["inventory"].Attempts(tx.XID, tc.phase) > before+1
			})
			inventoryDown.Store(false)
			eventually(t, 10*time.Second, "finished", func() bool { return statusOf(c, tx.XID) == done })
			if _, err := c.Retry(ctx, tx.XID); err != nil {
				t.Fatal(err)
			}
			// Stored: final status, still flagged, the branch NOT_APPLIED.
			yes := true
			eventually(t, 10*time.Second, "stored flagged and final", func() bool {
				page, err := c.List(ctx, tcc.ListOptions{Attention: &yes, Status: done})
				if err != nil {
					return false
				}
				for _, x := range page.Transactions {
					if x.XID == tx.XID {
						return branchOf(&x, "payment").Status == tcc.BranchNotApplied
					}
				}
				return false
			})
			if n := pay.Attempts(tx.XID, tc.phase); n != 1 {
				t.Fatalf("payment's refused %s was called %d times", tc.phase, n)
			}
			want := `tcc_coordinator_branches_not_applied_total{code="` + tc.code + `",participant="payment",phase="` + string(tc.phase) + `"}`
			if v := metric(t, base, want); v < 1 {
				t.Fatalf("%s = %v", want, v)
			}
		})
	}
}
