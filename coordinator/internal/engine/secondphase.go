package engine

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/tccsuite/tccsuite/coordinator/internal/registry"
	"github.com/tccsuite/tccsuite/coordinator/internal/store"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// secondPhase drives Confirm (CONFIRMING) or Cancel (CANCELLING) on every branch not yet
// finished, in parallel, until all have answered.
func (r *txRun) secondPhase(from tcc.TxStatus) {
	phase, final := tcc.PhaseConfirm, tcc.BranchConfirmed
	if from == tcc.TxCancelling {
		phase, final = tcc.PhaseCancel, tcc.BranchCancelled
	}
	var wg sync.WaitGroup
	ok := make([]bool, len(r.tx.Branches))
	for i := range r.tx.Branches {
		if s := r.branch(i).Status; s == final || s == tcc.BranchNotApplied {
			ok[i] = true // NOT_APPLIED is final too: never called again, not even on retry
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ok[i] = r.finishBranch(i, phase, final)
		}(i)
	}
	wg.Wait()
	for _, o := range ok {
		if !o {
			r.abandon("lease lost or shutting down during " + string(phase))
			return
		}
	}
	r.finish(from)
}

// finishBranch calls Confirm or Cancel until the participant answers 2xx, with
// exponential backoff and full jitter, forever (until the run's context ends). After
// AttentionAfter attempts the transaction is flagged for attention. attempts counts this
// run's calls of the phase: a run that takes the transaction over starts again at 1
// (the stored count cannot tell a Try's attempt from a Confirm's or a Cancel's).
//
// A 409 TCC_NOT_TRIED or TCC_PHASE_CONFLICT is the participant's barrier saying that
// nothing was applied there and nothing will be: the branch becomes NOT_APPLIED (final,
// with the participant's answer as last_error), the transaction is flagged at once, and
// the branch is not called again. Any other answer, including other 409 codes, is
// retried.
func (r *txRun) finishBranch(i int, phase tcc.Phase, final tcc.BranchStatus) bool {
	b := r.branch(i)
	for attempts := 1; ; attempts++ {
		if r.ctx.Err() != nil {
			return false
		}
		var res registry.Result
		p, ok := r.e.reg.Get(b.Participant)
		if !ok {
			res = registry.Result{Class: tcc.ClassUnknown, Err: errors.New("participant " + b.Participant + " is not configured")}
		} else {
			cctx, cancel := context.WithTimeout(r.ctx, r.e.cfg.CallTimeout)
			t0 := time.Now()
			res = p.Do(cctx, r.call(b, phase, t0.Add(r.e.cfg.CallTimeout)))
			cancel()
			if r.ctx.Err() != nil {
				return false
			}
			r.observe(p, phase, res, t0)
			if res.Class == tcc.ClassUnknown {
				p.Breaker.Failure()
			} else {
				p.Breaker.Success()
			}
		}
		if res.Class == tcc.ClassDone {
			r.setBranch(i, final, attempts, "", true)
			return true
		}
		if res.Class == tcc.ClassRefused && (res.Code == tcc.CodeNotTried || res.Code == tcc.CodePhaseConflict) {
			r.setBranch(i, tcc.BranchNotApplied, attempts, res.Error(), true)
			r.e.m.NotApplied.WithLabelValues(b.Participant, string(phase), res.Code).Inc()
			r.flagNow(b, phase, "the participant refused the "+string(phase)+" as final ("+res.Code+"): the branch is NOT_APPLIED and will not be called again", res.Error())
			return true
		}
		lvl := slog.LevelWarn
		if res.Class == tcc.ClassBadCall || res.Class == tcc.ClassRefused {
			lvl = slog.LevelError // Confirm/Cancel never refuse: a bug somewhere
		}
		r.log.Log(r.ctx, lvl, "branch call failed; will retry", "branch", b.BranchID, "participant", b.Participant,
			"phase", string(phase), "attempt", attempts, "err", res.Error())
		pending := tcc.BranchTried
		if phase == tcc.PhaseCancel {
			pending = b.Status
			if pending == tcc.BranchConfirmed || pending == tcc.BranchCancelled {
				pending = tcc.BranchTried
			}
		}
		r.setBranch(i, pending, attempts, res.Error(), attempts == 1 || attempts%4 == 0)
		if attempts == r.e.cfg.AttentionAfter {
			r.flagNow(b, phase, "a branch keeps failing; still retrying", res.Error())
		}
		if !r.sleep(r.e.backoff(attempts)) {
			return false
		}
	}
}

// flagNow marks the transaction for attention (metric, Error log, and the stored flag);
// the metric and the stored flag once per run, the log every time it is called.
func (r *txRun) flagNow(b store.Branch, phase tcc.Phase, why, lastErr string) {
	r.mu.Lock()
	already := r.flagged
	r.flagged = true
	r.mu.Unlock()
	r.log.Error("transaction needs attention: "+why, "branch", b.BranchID,
		"participant", b.Participant, "phase", string(phase), "err", lastErr)
	if already {
		return
	}
	r.e.m.Attention.Inc()
	r.e.results.add(resultItem{attention: r.xid})
}
