package app_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tccsuite/tccsuite/coordinator/internal/testpart"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

func TestIntegration(t *testing.T) {
	e := newEnv(t)
	c, base := e.start(t, "itest", nil)
	ctx := context.Background()

	t.Run("all tries succeed", func(t *testing.T) {
		tx, err := c.Begin(ctx, threeBranches(tcc.WaitCompletion, 5000), "")
		if err != nil {
			t.Fatal(err)
		}
		if tx.Status != tcc.TxConfirmed || len(tx.Branches) != 3 {
			t.Fatalf("got %+v", tx)
		}
		for _, b := range tx.Branches {
			if b.Status != tcc.BranchConfirmed {
				t.Fatalf("branch %+v", b)
			}
		}
		for n, p := range e.parts {
			ph := p.Phases(tx.XID)
			if ph[tcc.PhaseTry] != 1 || ph[tcc.PhaseConfirm] != 1 || ph[tcc.PhaseCancel] != 0 {
				t.Fatalf("%s saw %v", n, ph)
			}
		}
	})

	t.Run("the request ID and deadline reach every participant", func(t *testing.T) {
		rctx := tcc.WithMeta(ctx, tcc.Meta{RequestID: "req-propagated-1"})
		tx, err := c.Begin(rctx, threeBranches(tcc.WaitCompletion, 5000), "")
		if err != nil {
			t.Fatal(err)
		}
		for n, p := range e.parts {
			calls := p.Calls(tx.XID)
			if len(calls) != 2 {
				t.Fatalf("%s saw %d calls, want a Try and a Confirm", n, len(calls))
			}
			for _, call := range calls {
				if call.RequestID != "req-propagated-1" {
					t.Errorf("%s %s carried request ID %q", n, call.Phase, call.RequestID)
				}
				if call.Phase == tcc.PhaseTry && !call.Deadline.Equal(tx.Deadline.Truncate(time.Millisecond)) {
					t.Errorf("%s try deadline %v, transaction deadline %v", n, call.Deadline, tx.Deadline)
				}
			}
		}
	})

	t.Run("wait decision", func(t *testing.T) {
		tx, err := c.Begin(ctx, threeBranches(tcc.WaitDecision, 5000), "")
		if err != nil {
			t.Fatal(err)
		}
		if tx.Status != tcc.TxConfirming && tx.Status != tcc.TxConfirmed {
			t.Fatalf("got %s", tx.Status)
		}
		eventually(t, 10*time.Second, "confirmed", func() bool { return statusOf(c, tx.XID) == tcc.TxConfirmed })
	})

	t.Run("one refusal", func(t *testing.T) {
		e.parts["inventory"].SetBehave(func(c testpart.Call) testpart.Answer {
			if c.Phase == tcc.PhaseTry {
				return testpart.Answer{Status: http.StatusConflict, Code: "OUT_OF_STOCK"}
			}
			return testpart.Answer{}
		})
		defer e.parts["inventory"].SetBehave(nil)
		tx, err := c.Begin(ctx, threeBranches(tcc.WaitCompletion, 5000), "")
		if err != nil {
			t.Fatal(err)
		}
		if tx.Status != tcc.TxCancelled || tx.Refusal == nil || tx.Refusal.Code != "OUT_OF_STOCK" || tx.Refusal.Participant != "inventory" {
			t.Fatalf("got %+v refusal %+v", tx, tx.Refusal)
		}
		for n, p := range e.parts {
			ph := p.Phases(tx.XID)
			if ph[tcc.PhaseConfirm] != 0 || ph[tcc.PhaseCancel] != 1 {
				t.Fatalf("%s saw %v", n, ph)
			}
		}
	})

	t.Run("first refusal cancels the outstanding tries", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		e.parts["payment"].SetBehave(func(c testpart.Call) testpart.Answer {
			if c.Phase == tcc.PhaseTry {
				return testpart.Block(release, c) // hangs until the coordinator gives up on it
			}
			return testpart.Answer{}
		})
		defer e.parts["payment"].SetBehave(nil)
		e.parts["inventory"].SetBehave(func(c testpart.Call) testpart.Answer {
			if c.Phase == tcc.PhaseTry {
				return testpart.Answer{Status: http.StatusConflict, Code: "OUT_OF_STOCK"}
			}
			return testpart.Answer{}
		})
		defer e.parts["inventory"].SetBehave(nil)
		t0 := time.Now()
		tx, err := c.Begin(ctx, threeBranches(tcc.WaitCompletion, 20000), "")
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(t0); took > 5*time.Second {
			t.Fatalf("the refusal did not cut the hanging Try short: %v", took)
		}
		if tx.Status != tcc.TxCancelled || tx.Refusal == nil || tx.Refusal.Code != "OUT_OF_STOCK" {
			t.Fatalf("got %+v", tx)
		}
		if e.parts["payment"].Count(tx.XID, tcc.PhaseCancel) != 1 {
			t.Fatal("the cancelled Try's branch got no Cancel")
		}
	})

	t.Run("try hangs past the deadline", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		e.parts["payment"].SetBehave(func(c testpart.Call) testpart.Answer {
			if c.Phase == tcc.PhaseTry {
				return testpart.Block(release, c)
			}
			return testpart.Answer{}
		})
		defer e.parts["payment"].SetBehave(nil)
		t0 := time.Now()
		tx, err := c.Begin(ctx, threeBranches(tcc.WaitCompletion, 300), "")
		if err != nil {
			t.Fatal(err)
		}
		if tx.Status != tcc.TxCancelled || tx.Refusal != nil {
			t.Fatalf("got %+v", tx)
		}
		if time.Since(t0) > 5*time.Second {
			t.Fatalf("took %v", time.Since(t0))
		}
		if n := e.parts["payment"].Count(tx.XID, tcc.PhaseCancel); n != 1 {
			t.Fatalf("payment got %d cancels", n)
		}
		for n, p := range e.parts {
			if p.Count(tx.XID, tcc.PhaseConfirm) != 0 {
				t.Fatalf("%s confirmed", n)
			}
		}
	})

	t.Run("participant down during confirm", func(t *testing.T) {
		var mu sync.Mutex
		down := true
		e.parts["payment"].SetBehave(func(c testpart.Call) testpart.Answer {
			mu.Lock()
			defer mu.Unlock()
			if c.Phase == tcc.PhaseConfirm && down {
				return testpart.Answer{Status: http.StatusServiceUnavailable, Code: "DOWN"}
			}
			return testpart.Answer{}
		})
		defer e.parts["payment"].SetBehave(nil)
		tx, err := c.Begin(ctx, threeBranches(tcc.WaitDecision, 5000), "")
		if err != nil {
			t.Fatal(err)
		}
		if tx.Status != tcc.TxConfirming {
			t.Fatalf("got %s", tx.Status)
		}
		yes := true
		eventually(t, 10*time.Second, "attention flag", func() bool {
			p, err := c.List(ctx, tcc.ListOptions{Attention: &yes})
			if err != nil {
				return false
			}
			for _, x := range p.Transactions {
				if x.XID == tx.XID {
					return x.Attention
				}
			}
			return false
		})
		if got, _ := c.Get(ctx, tx.XID); got.Status != tcc.TxConfirming || !got.Attention {
			t.Fatalf("while down: %+v", got)
		}
		// Admin retry: refused without the token, accepted with it.
		anon, _ := tcc.NewClient(base)
		if _, err := anon.Retry(ctx, tx.XID); !tcc.IsAPIError(err, "UNAUTHORIZED") {
			t.Fatalf("retry without token: %v", err)
		}
		mu.Lock()
		down = false
		mu.Unlock()
		if _, err := c.Retry(ctx, tx.XID); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "confirmed", func() bool { return statusOf(c, tx.XID) == tcc.TxConfirmed })
		got, _ := c.Get(ctx, tx.XID)
		if got.Attention {
			t.Fatal("attention not cleared")
		}
		if n := e.parts["payment"].Count(tx.XID, tcc.PhaseConfirm); n != 1 {
			t.Fatalf("payment confirmed %d times", n)
		}
	})

	t.Run("idempotency key", func(t *testing.T) {
		req := threeBranches(tcc.WaitCompletion, 5000)
		a, err := c.Begin(ctx, req, "idem-1")
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.Begin(ctx, req, "idem-1")
		if err != nil {
			t.Fatal(err)
		}
		if a.XID != b.XID || a.Status != tcc.TxConfirmed || b.Status != tcc.TxConfirmed {
			t.Fatalf("a %+v b %+v", a, b)
		}
		if n := e.parts["inventory"].Count(a.XID, tcc.PhaseTry); n != 1 {
			t.Fatalf("%d tries", n)
		}
		// Concurrent repeats: still one execution.
		var wg sync.WaitGroup
		xids := make([]string, 8)
		for i := range xids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tx, err := c.Begin(ctx, req, "idem-2")
				if err != nil {
					t.Error(err)
					return
				}
				xids[i] = tx.XID
			}()
		}
		wg.Wait()
		for _, x := range xids {
			if x != xids[0] {
				t.Fatalf("different XIDs %v", xids)
			}
		}
		if n := e.parts["inventory"].Count(xids[0], tcc.PhaseTry); n != 1 {
			t.Fatalf("%d tries", n)
		}
		other := threeBranches(tcc.WaitCompletion, 4000)
		if _, err := c.Begin(ctx, other, "idem-1"); !tcc.IsAPIError(err, "IDEMPOTENCY_KEY_REUSED") {
			t.Fatalf("different body: %v", err)
		}
	})
}
