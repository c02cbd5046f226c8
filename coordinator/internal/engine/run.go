package engine

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tccsuite/tccsuite/coordinator/internal/cluster"
	"github.com/tccsuite/tccsuite/coordinator/internal/registry"
	"github.com/tccsuite/tccsuite/coordinator/internal/store"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// run is one transaction driven by this instance, begun or taken over in one etcd
// epoch (whose owner tag it writes under).
//
// Two contexts bound it. ctx is the run's life: it ends when the engine stops or when a
// fenced write reports that the row was taken over by another coordinator; the run then
// stops calling at once and leaves the transaction to recovery (or to its new owner).
// lease is ctx that also ends with the epoch: everything before the decision (locks,
// Tries, the decision itself) runs under it, so a run that lost its lease never decides.
// The second phase runs under ctx alone: once decided, a transaction keeps being
// confirmed or cancelled through an etcd outage (its writes stay fenced by owner in the
// database, which needs no lease).
type run struct {
	e     *Engine
	ep    *cluster.Epoch
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

func (e *Engine) newRun(ep *cluster.Epoch, t *store.Transaction, meta tcc.Meta) *run {
	ctx, cancel := context.WithCancel(context.Background())
	stopA := context.AfterFunc(e.stopCtx, cancel)
	lease, cancelLease := context.WithCancel(ctx)
	stopB := context.AfterFunc(ep.Context(), cancelLease)
	r := &run{
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
func (r *run) fenced() {
	if r.takenOver.CompareAndSwap(false, true) {
		r.log.Warn("the transaction was taken over by another coordinator; stopping", "owner", r.owner)
		r.stop()
	}
}

// wait blocks until the wait target is reached (true), or ctx ends or the run is
// abandoned (false). Completion waits are bounded by the deadline plus extra.
func (r *run) wait(ctx context.Context, mode string, extra time.Duration) bool {
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

func (r *run) abandoned() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gaveUp
}

func (r *run) snapshot() *tcc.Transaction {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.tx
	t.Attention = t.Attention || r.flagged
	t.UpdatedAt = time.Now().UTC()
	return toAPI(&t)
}

func (r *run) kick() {
	r.mu.Lock()
	close(r.kickCh)
	r.kickCh = make(chan struct{})
	r.mu.Unlock()
}

func (r *run) kickChan() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.kickCh
}

// abandon ends the run without finishing the transaction: recovery will.
func (r *run) abandon(why string) {
	r.mu.Lock()
	r.gaveUp = true
	closeDec := !r.closedDec
	r.closedDec = true
	r.mu.Unlock()
	if closeDec {
		close(r.decided)
	}
	close(r.done)
	if r.flagged {
		r.e.m.Attention.Dec()
	}
	if r.takenOver.Load() {
		why = "taken over by another coordinator (a fenced write was refused)"
	}
	r.log.Warn("stopped driving the transaction; recovery will finish it", "why", why)
	r.stop()
	r.e.unregister(r, true)
}

func (r *run) markDecided(to tcc.TxStatus, refusal *tcc.Refusal) {
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
func (r *run) finish(from tcc.TxStatus) {
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

func (r *run) setBranch(i int, status tcc.BranchStatus, attempts int, lastErr string, persist bool) {
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

func (r *run) branch(i int) store.Branch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tx.Branches[i]
}

// driveNew drives a transaction this instance just began: locks, Tries, decision,
// second phase.
func (r *run) driveNew() {
	if keys := r.tx.LockKeys; len(keys) > 0 {
		lctx, cancel := context.WithDeadline(r.lease, r.tx.Deadline)
		for _, k := range sortedKeys(keys) {
			err := r.e.mem.Lock(lctx, r.ep, k, r.xid)
			if err == nil {
				continue
			}
			cancel()
			if errors.Is(err, cluster.ErrLocked) {
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
func (r *run) driveRecovered() {
	if keys := r.tx.LockKeys; len(keys) > 0 {
		// Hold the keys again for the rest of the transaction's life, best effort: the
		// dead owner's lease freed them.
		for _, k := range sortedKeys(keys) {
			lctx, cancel := context.WithTimeout(r.lease, time.Second)
			if err := r.e.mem.Lock(lctx, r.ep, k, r.xid); err != nil {
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

// tries calls every Try in parallel under the deadline. The first failure cancels the
// outstanding Tries. It reports whether all succeeded, and the first business refusal.
func (r *run) tries() (bool, *tcc.Refusal) {
	tctx, cancel := context.WithDeadline(r.lease, r.tx.Deadline)
	defer cancel()
	n := len(r.tx.Branches)
	type res struct {
		i   int
		ok  bool
		ref *tcc.Refusal
	}
	ch := make(chan res, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			ok, ref := r.try(tctx, i)
			ch <- res{i, ok, ref}
		}(i)
	}
	allOK := true
	var refusal *tcc.Refusal
	for k := 0; k < n; k++ {
		x := <-ch
		if !x.ok {
			if allOK {
				cancel() // the first failure cancels the outstanding Tries
			}
			allOK = false
			if refusal == nil && x.ref != nil {
				refusal = x.ref
			}
		}
	}
	return allOK, refusal
}

func (r *run) try(ctx context.Context, i int) (bool, *tcc.Refusal) {
	b := r.branch(i)
	p, ok := r.e.reg.Get(b.Participant)
	if !ok {
		r.setBranch(i, tcc.BranchFailed, 1, "participant not configured", true)
		return false, nil
	}
	if !p.Breaker.Allow() {
		r.e.m.BranchCalls.WithLabelValues(p.Name, "try", "breaker_open").Inc()
		r.setBranch(i, tcc.BranchFailed, 0, registry.ErrBreakerOpen.Error(), true)
		return false, nil
	}
	t0 := time.Now()
	res := p.Do(ctx, r.call(b, tcc.PhaseTry, r.tx.Deadline))
	r.observe(p, tcc.PhaseTry, res, t0)
	switch res.Class {
	case tcc.ClassDone:
		p.Breaker.Success()
		r.setBranch(i, tcc.BranchTried, 1, "", true)
		return true, nil
	case tcc.ClassRefused:
		p.Breaker.Success()
		r.setBranch(i, tcc.BranchRefused, 1, res.Error(), true)
		code := res.Code
		if code == "" {
			code = tcc.CodeRejected
		}
		return false, &tcc.Refusal{BranchID: b.BranchID, Participant: b.Participant, Action: b.Action, Code: code, Message: res.Message}
	case tcc.ClassBadCall:
		p.Breaker.Success()
		r.log.Error("participant answered a Try as a malformed call: a bug", "branch", b.BranchID, "participant", p.Name, "status", res.Status, "code", res.Code)
		r.setBranch(i, tcc.BranchFailed, 1, res.Error(), true)
		return false, nil
	default:
		// Cancelled by us because another branch failed: not the participant's fault.
		if !(errors.Is(ctx.Err(), context.Canceled) && r.lease.Err() == nil) {
			p.Breaker.Failure()
		}
		r.setBranch(i, tcc.BranchFailed, 1, res.Error(), true)
		return false, nil
	}
}

func (r *run) call(b store.Branch, phase tcc.Phase, deadline time.Time) registry.Call {
	return registry.Call{
		XID: r.xid, BranchID: b.BranchID, Action: b.Action, Phase: phase, Payload: b.Payload,
		Deadline: deadline, RequestID: r.meta.RequestID, TraceParent: r.meta.TraceParent, TraceState: r.meta.TraceState,
	}
}

func (r *run) observe(p *registry.Participant, phase tcc.Phase, res registry.Result, t0 time.Time) {
	outcome := "unknown"
	switch res.Class {
	case tcc.ClassDone:
		outcome = "done"
	case tcc.ClassRefused:
		outcome = "refused"
	case tcc.ClassBadCall:
		outcome = "bad_call"
	}
	r.e.m.BranchCalls.WithLabelValues(p.Name, string(phase), outcome).Inc()
	r.e.m.BranchCallSeconds.WithLabelValues(p.Name, string(phase)).Observe(time.Since(t0).Seconds())
}

// decide records the decision with a compare-and-set, retrying while the outcome is
// unknown (e.g. for as long as the database is unreachable). It returns true when this
// run holds the decision (and marks it); false when the run must stop (lease lost, or
// another coordinator decided or took the row). When the lease ends after an attempt
// whose outcome is unknown, the row is read once more: a decision of ours that did
// commit is followed (its second phase needs no lease), otherwise recovery decides.
func (r *run) decide(to tcc.TxStatus, refusal *tcc.Refusal) bool {
	d := store.Decision{XID: r.xid, Owner: r.owner, To: to, Refusal: refusal}
	leaseLost := func(attempt int) bool {
		if attempt > 1 && r.decidedByUs(to) {
			r.markDecided(to, refusal)
			r.log.Warn("lease lost after the decision was recorded; driving it on", "decision", string(to))
			return true
		}
		r.abandon("lease lost or shutting down before the decision")
		return false
	}
	for attempt := 1; ; attempt++ {
		if r.lease.Err() != nil {
			return leaseLost(attempt)
		}
		res := r.e.decides.do(d)
		if res.Err == nil && res.Won {
			r.markDecided(to, refusal)
			r.log.Debug("decided", "decision", string(to))
			return true
		}
		if res.Err == nil {
			// Lost: either an earlier attempt of ours won with an unknown answer, or the
			// row was decided or taken over by another coordinator.
			t, err := r.e.st.Get(context.Background(), r.xid)
			if err == nil {
				if t.Owner == r.owner && t.Status == to {
					r.markDecided(to, refusal)
					return true
				}
				r.abandon("decision lost: status " + string(t.Status) + ", owner " + t.Owner)
				return false
			}
			res.Err = err
		}
		r.e.m.StoreErrors.WithLabelValues("decide").Inc()
		r.log.Warn("recording the decision failed; retrying", "err", res.Err, "attempt", attempt)
		if !r.sleepOn(r.lease, r.e.backoff(attempt)) {
			return leaseLost(attempt + 1)
		}
	}
}

// decidedByUs reads whether the row holds this run's decision to (under its owner).
func (r *run) decidedByUs(to tcc.TxStatus) bool {
	ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
	defer cancel()
	t, err := r.e.st.Get(ctx, r.xid)
	return err == nil && t.Owner == r.owner && t.Status == to
}

// secondPhase drives Confirm (CONFIRMING) or Cancel (CANCELLING) on every branch not yet
// finished, in parallel, until all have answered.
func (r *run) secondPhase(from tcc.TxStatus) {
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
// AttentionAfter attempts the transaction is flagged for attention.
//
// A 409 TCC_NOT_TRIED or TCC_PHASE_CONFLICT is the participant's barrier saying that
// nothing was applied there and nothing will be: the branch becomes NOT_APPLIED (final,
// with the participant's answer as last_error), the transaction is flagged at once, and
// the branch is not called again. Any other answer, including other 409 codes, is
// retried.
func (r *run) finishBranch(i int, phase tcc.Phase, final tcc.BranchStatus) bool {
	b := r.branch(i)
	attempts := 0
	if b.Status != tcc.BranchTried && b.Status != tcc.BranchRegistered && b.Status != tcc.BranchRefused && b.Status != tcc.BranchFailed {
		attempts = b.Attempts
	}
	for n := 1; ; n++ {
		if r.ctx.Err() != nil {
			return false
		}
		attempts++
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
		r.setBranch(i, pending, attempts, res.Error(), n == 1 || n%4 == 0)
		if n == r.e.cfg.AttentionAfter {
			r.flagNow(b, phase, "a branch keeps failing; still retrying", res.Error())
		}
		if !r.sleep(r.e.backoff(n)) {
			return false
		}
	}
}

// flagNow marks the transaction for attention (metric, Error log, and the stored flag);
// the metric and the stored flag once per run, the log every time it is called.
func (r *run) flagNow(b store.Branch, phase tcc.Phase, why, lastErr string) {
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

// sleep waits d, or less if kicked; false if the run's context ended.
func (r *run) sleep(d time.Duration) bool { return r.sleepOn(r.ctx, d) }

// sleepOn waits d, or less if kicked; false if ctx ended.
func (r *run) sleepOn(ctx context.Context, d time.Duration) bool {
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
func (r *run) releaseLocks() {
	keys := r.tx.LockKeys
	if len(keys) == 0 {
		return
	}
	ectx := r.ep.Context()
	for _, k := range keys {
		for attempt := 1; attempt <= 5 && ectx.Err() == nil; attempt++ {
			ctx, cancel := context.WithTimeout(ectx, 5*time.Second)
			err := r.e.mem.Unlock(ctx, r.ep, k, r.xid)
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
