package engine

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tccsuite/tccsuite/coordinator/internal/store"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// txRun is one transaction driven by this instance, begun or taken over in one epoch
// of its membership (whose owner tag it writes under).
//
// Two contexts bound it. ctx is the run's life: it ends when the engine stops or when a
// fenced write reports that the row was taken over by another coordinator; the run then
// stops calling at once and leaves the transaction to recovery (or to its new owner).
// lease is ctx that also ends with the epoch: everything before the decision (locks,
// Tries, the decision itself) runs under it, so a run that lost its lease never decides.
// The second phase runs under ctx alone: once decided, a transaction keeps being
// confirmed or cancelled through an etcd outage (its writes stay fenced by owner in the
// database, which needs no lease).
type txRun struct {
	e     *Engine
	ep    Epoch
	owner string // the owner tag its writes are fenced on
	xid   string
	meta  tcc.Meta
	log   *slog.Logger
	ctx   context.Context
	lease context.Context
	stop  context.CancelFunc
	start time.Time
	// takenOver is set when a fenced write found the row owned by someone else.
	takenOver atomic.Bool

	decided chan struct{} // closed once the decision is durable, or the run is abandoned
	done    chan struct{} // closed once every branch finished, or the run is abandoned

	mu        sync.Mutex
	tx        store.Transaction
	kickCh    chan struct{} // closed and replaced by kick
	gaveUp    bool
	flagged   bool
	closedDec bool
}

func (e *Engine) newRun(ep Epoch, t *store.Transaction, meta tcc.Meta) *txRun {
	ctx, cancel := context.WithCancel(context.Background())
	stopA := context.AfterFunc(e.stopCtx, cancel)
	lease, cancelLease := context.WithCancel(ctx)
	stopB := context.AfterFunc(ep.Context(), cancelLease)
	r := &txRun{
		e: e, ep: ep, owner: t.Owner, xid: t.XID, meta: meta, start: time.Now(),
		log:     e.log.With("xid", t.XID, "request_id", meta.RequestID),
		ctx:     ctx,
		lease:   lease,
		decided: make(chan struct{}), done: make(chan struct{}), kickCh: make(chan struct{}),
		tx: *t,
	}
	r.tx.Branches = append([]store.Branch(nil), t.Branches...)
	r.stop = func() { stopA(); stopB(); cancelLease(); cancel() }
	return r
}

// fenced stops the run because a fenced write found its row owned by another
// coordinator: it stops calling participants and leaves the transaction to its owner.
func (r *txRun) fenced() {
	if r.takenOver.CompareAndSwap(false, true) {
		r.log.Warn("the transaction was taken over by another coordinator; stopping", "owner", r.owner)
		r.stop()
	}
}

// wait blocks until the wait target is reached (true), or ctx ends or the run is
// abandoned (false). Completion waits are bounded by the deadline plus extra.
func (r *txRun) wait(ctx context.Context, mode string, extra time.Duration) bool {
	target := r.decided
	if mode == tcc.WaitCompletion {
		target = r.done
	}
	dl := time.NewTimer(time.Until(r.tx.Deadline) + extra)
	defer dl.Stop()
	select {
	case <-target:
		return !r.abandoned()
	case <-ctx.Done():
	case <-dl.C:
	}
	return false
}

func (r *txRun) abandoned() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gaveUp
}

func (r *txRun) snapshot() *tcc.Transaction {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.tx
	t.Attention = t.Attention || r.flagged
	t.UpdatedAt = time.Now().UTC()
	return toAPI(&t)
}

func (r *txRun) kick() {
	r.mu.Lock()
	close(r.kickCh)
	r.kickCh = make(chan struct{})
	r.mu.Unlock()
}

func (r *txRun) kickChan() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.kickCh
}

// abandon ends the run without finishing the transaction: recovery will.
func (r *txRun) abandon(why string) {
	r.mu.Lock()
	r.gaveUp = true
	closeDec := !r.closedDec
	r.closedDec = true
	flagged := r.flagged // read under mu: flagNow writes it under mu
	r.flagged = false
	r.mu.Unlock()
	if closeDec {
		close(r.decided)
	}
	close(r.done)
	if flagged {
		r.e.m.Attention.Dec()
	}
	if r.takenOver.Load() {
		why = "taken over by another coordinator (a fenced write was refused)"
	}
	r.log.Warn("stopped driving the transaction; recovery will finish it", "why", why)
	r.stop()
	r.e.unregister(r, true)
}

func (r *txRun) markDecided(to tcc.TxStatus, refusal *tcc.Refusal) {
	r.mu.Lock()
	r.tx.Status = to
	r.tx.Refusal = refusal
	closeDec := !r.closedDec
	r.closedDec = true
	r.mu.Unlock()
	if closeDec {
		close(r.decided)
	}
	r.e.m.Transactions.WithLabelValues(string(to)).Inc()
	r.e.m.DecisionSeconds.WithLabelValues(string(to)).Observe(time.Since(r.start).Seconds())
}

// finish records the final status (asynchronously), releases the waiters, then the
// lock keys. The run leaves the active map once the final status is durable. A
// transaction with a NOT_APPLIED branch stays flagged for attention in its final
// status; any other flag (raised by retries that later succeeded) is cleared.
func (r *txRun) finish(from tcc.TxStatus) {
	to := tcc.TxConfirmed
	if from == tcc.TxCancelling {
		to = tcc.TxCancelled
	}
	r.mu.Lock()
	r.tx.Status = to
	keep := false
	for _, b := range r.tx.Branches {
		keep = keep || b.Status == tcc.BranchNotApplied
	}
	r.tx.Attention = keep
	flagged := r.flagged
	r.flagged = false
	r.mu.Unlock()
	if flagged {
		r.e.m.Attention.Dec()
	}
	if keep {
		r.log.Error("transaction finished with a branch NOT_APPLIED; it stays flagged for attention", "status", string(to))
	} else if flagged {
		r.log.Info("flagged transaction finished")
	}
	r.e.m.Transactions.WithLabelValues(string(to)).Inc()
	r.e.m.CompletionSeconds.WithLabelValues(string(to)).Observe(time.Since(r.start).Seconds())
	close(r.done)
	r.releaseLocks()
	r.stop()
	r.e.results.add(resultItem{
		finish: &store.Finish{XID: r.xid, Owner: r.owner, From: from, To: to, Attention: keep},
		done:   func() { r.e.unregister(r, false) },
	})
	r.e.runs.Done()
}

func (r *txRun) setBranch(i int, status tcc.BranchStatus, attempts int, lastErr string, persist bool) {
	r.mu.Lock()
	b := &r.tx.Branches[i]
	b.Status = status
	b.Attempts = attempts
	b.LastError = lastErr
	u := store.BranchUpdate{XID: r.xid, Owner: r.owner, BranchID: b.BranchID, Participant: b.Participant, Action: b.Action,
		Status: status, Attempts: attempts, LastError: lastErr}
	r.mu.Unlock()
	if persist {
		r.e.results.add(resultItem{branch: &u})
	}
}

func (r *txRun) branch(i int) store.Branch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tx.Branches[i]
}

// driveNew drives a transaction this instance just began: locks, Tries, decision,
// second phase.
func (r *txRun) driveNew() {
	if keys := r.tx.LockKeys; len(keys) > 0 {
		lctx, cancel := context.WithDeadline(r.lease, r.tx.Deadline)
		for _, k := range sortedKeys(keys) {
			err := r.ep.Lock(lctx, k, r.xid)
			if err == nil {
				continue
			}
			cancel()
			if errors.Is(err, ErrLocked) {
				// No Try went out: cancel without calling anyone.
				ref := &tcc.Refusal{Code: CodeLocked, Message: "lock key " + k + " held by another transaction until the deadline"}
				if !r.decide(tcc.TxCancelling, ref) {
					return
				}
				for i := range r.tx.Branches {
					r.setBranch(i, tcc.BranchCancelled, 0, "", true)
				}
				r.finish(tcc.TxCancelling)
				return
			}
			r.abandon("lock: " + err.Error())
			return
		}
		cancel()
	}
	ok, refusal := r.tries()
	if r.lease.Err() != nil {
		r.abandon("lease lost or shutting down before the decision")
		return
	}
	to := tcc.TxConfirming
	if !ok {
		to = tcc.TxCancelling
	}
	if !r.decide(to, refusal) {
		return
	}
	r.secondPhase(to)
}

// driveRecovered finishes a transaction taken over (or resumed): TRYING is cancelled
// (its driver is gone, so no decision will come from it), CONFIRMING keeps confirming,
// CANCELLING keeps cancelling.
func (r *txRun) driveRecovered() {
	if keys := r.tx.LockKeys; len(keys) > 0 {
		// Hold the keys again for the rest of the transaction's life, best effort: the
		// dead owner's lease freed them.
		for _, k := range sortedKeys(keys) {
			lctx, cancel := context.WithTimeout(r.lease, time.Second)
			if err := r.ep.Lock(lctx, k, r.xid); err != nil {
				r.log.Warn("could not take the lock key back on recovery", "key", k, "err", err)
			}
			cancel()
		}
	}
	status := r.tx.Status
	if status == tcc.TxTrying {
		if !r.decide(tcc.TxCancelling, nil) {
			return
		}
		status = tcc.TxCancelling
	} else {
		r.markDecided(status, r.tx.Refusal)
	}
	r.secondPhase(status)
}

// sleep waits d, or less if kicked; false if the run's context ended.
func (r *txRun) sleep(d time.Duration) bool { return r.sleepOn(r.ctx, d) }

// sleepOn waits d, or less if kicked; false if ctx ended.
func (r *txRun) sleepOn(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.kickChan():
		return true
	case <-ctx.Done():
		return false
	}
}

// releaseLocks deletes the transaction's lock keys, best effort, while the epoch that
// took them lasts: once its lease is gone the keys are gone with it (or held by their
// next taker, which Unlock leaves alone). It gives up after a few attempts; the keys
// then stay held until this epoch's lease ends.
func (r *txRun) releaseLocks() {
	keys := r.tx.LockKeys
	if len(keys) == 0 {
		return
	}
	ectx := r.ep.Context()
	for _, k := range keys {
		for attempt := 1; attempt <= 5 && ectx.Err() == nil; attempt++ {
			ctx, cancel := context.WithTimeout(ectx, 5*time.Second)
			err := r.ep.Unlock(ctx, k, r.xid)
			cancel()
			if err == nil {
				break
			}
			if attempt == 5 {
				r.log.Error("could not release a lock key; it stays held until this instance's lease ends", "key", k, "err", err)
			} else if !r.sleepOn(ectx, r.e.backoff(attempt)) {
				break
			}
		}
	}
}
