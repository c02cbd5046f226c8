package engine

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/tccsuite/tccsuite/coordinator/internal/cluster"
	"github.com/tccsuite/tccsuite/coordinator/internal/registry"
	"github.com/tccsuite/tccsuite/coordinator/internal/store"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// run is one transaction driven by this instance during one etcd epoch. Its context
// ends when the epoch's lease is lost or the engine stops: it then stops deciding and
// calling at once, and leaves the transaction to recovery.
type run struct {
	e     *Engine
	ep    *cluster.Epoch
	xid   string
	meta  tcc.Meta
	log   *slog.Logger
	ctx   context.Context
	stop  context.CancelFunc
	start time.Time

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
	ctx, cancel := context.WithCancel(ep.Context())
	stop := context.AfterFunc(e.stopCtx, cancel)
	r := &run{
		e: e, ep: ep, xid: t.XID, meta: meta, start: time.Now(),
		log:     e.log.With("xid", t.XID, "request_id", meta.RequestID),
		ctx:     ctx,
		decided: make(chan struct{}), done: make(chan struct{}), kickCh: make(chan struct{}),
		tx: *t,
	}
	r.tx.Branches = append([]store.Branch(nil), t.Branches...)
	r.stop = func() { stop(); cancel() }
	return r
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

// finish records the final status (asynchronously) and releases the waiters. The run
// leaves the active map once the final status is durable.
func (r *run) finish(from tcc.TxStatus) {
	to := tcc.TxConfirmed
	if from == tcc.TxCancelling {
		to = tcc.TxCancelled
	}
	r.mu.Lock()
	r.tx.Status = to
	r.tx.Attention = false
	flagged := r.flagged
	r.flagged = false
	r.mu.Unlock()
	if flagged {
		r.e.m.Attention.Dec()
		r.log.Info("flagged transaction finished")
	}
	r.e.m.Transactions.WithLabelValues(string(to)).Inc()
	r.e.m.CompletionSeconds.WithLabelValues(string(to)).Observe(time.Since(r.start).Seconds())
	r.releaseLocks()
	close(r.done)
	r.stop()
	r.e.results.add(resultItem{
		finish: &store.Finish{XID: r.xid, From: from, To: to},
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
	u := store.BranchUpdate{XID: r.xid, BranchID: b.BranchID, Participant: b.Participant, Action: b.Action,
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
		lctx, cancel := context.WithDeadline(r.ctx, r.tx.Deadline)
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
	if r.ctx.Err() != nil {
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
			lctx, cancel := context.WithTimeout(r.ctx, time.Second)
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
	tctx, cancel := context.WithDeadline(r.ctx, r.tx.Deadline)
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
		if !(errors.Is(ctx.Err(), context.Canceled) && r.ctx.Err() == nil) {
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
// unknown. It returns true when this run holds the decision (and marks it); false when
// the run must stop (lease lost, or another coordinator decided or took the row).
func (r *run) decide(to tcc.TxStatus, refusal *tcc.Refusal) bool {
	d := store.Decision{XID: r.xid, Owner: r.ep.Owner, To: to, Refusal: refusal}
	for attempt := 1; ; attempt++ {
		if r.ctx.Err() != nil {
			r.abandon("lease lost or shutting down before the decision")
			return false
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
				if t.Owner == r.ep.Owner && t.Status == to {
					r.markDecided(to, refusal)
					return true
				}
				r.abandon("decision lost: status " + string(t.Status) + ", owner " + t.Owner)
				return false
			}
			res.Err = err
		}
		r.log.Warn("recording the decision failed; retrying", "err", res.Err, "attempt", attempt)
		if !r.sleep(r.e.backoff(attempt)) {
			r.abandon("lease lost or shutting down before the decision")
			return false
		}
	}
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
		if r.branch(i).Status == final {
			ok[i] = true
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
			r.flag(b, phase)
		}
		if !r.sleep(r.e.backoff(n)) {
			return false
		}
	}
}

// flag marks the transaction for attention once: metric, log, and the stored flag.
func (r *run) flag(b store.Branch, phase tcc.Phase) {
	r.mu.Lock()
	already := r.flagged
	r.flagged = true
	r.mu.Unlock()
	if already {
		return
	}
	r.e.m.Attention.Inc()
	r.log.Error("transaction needs attention: a branch keeps failing; still retrying", "branch", b.BranchID,
		"participant", b.Participant, "phase", string(phase), "attempts", r.e.cfg.AttentionAfter)
	r.e.results.add(resultItem{attention: r.xid})
}

// sleep waits d, or less if kicked; false if the run's context ended.
func (r *run) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.kickChan():
		return true
	case <-r.ctx.Done():
		return false
	}
}

func (r *run) releaseLocks() {
	keys := r.tx.LockKeys
	if len(keys) == 0 {
		return
	}
	for _, k := range keys {
		for attempt := 1; attempt <= 5; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := r.e.mem.Unlock(ctx, k, r.xid)
			cancel()
			if err == nil {
				break
			}
			if attempt == 5 {
				r.log.Error("could not release a lock key; it stays held until this instance's lease ends", "key", k, "err", err)
			} else if !r.sleep(r.e.backoff(attempt)) {
				break
			}
		}
	}
}
