package engine

import (
	"context"
	"time"

	"github.com/tccsuite/tccsuite/coordinator/internal/store"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// decide records the decision with a compare-and-set, retrying while the outcome is
// unknown (e.g. for as long as the database is unreachable). It returns true when this
// run holds the decision (and marks it); false when the run must stop (lease lost, or
// another coordinator decided or took the row). When the lease ends after an attempt
// whose outcome is unknown, the row is read once more: a decision of ours that did
// commit is followed (its second phase needs no lease), otherwise recovery decides.
func (r *txRun) decide(to tcc.TxStatus, refusal *tcc.Refusal) bool {
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
			t, err := r.readRow()
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
func (r *txRun) decidedByUs(to tcc.TxStatus) bool {
	t, err := r.readRow()
	return err == nil && t.Owner == r.owner && t.Status == to
}

// readRow reads the transaction's row, bounded in time so that a hung database cannot
// hold the decision loop past the end of the lease.
func (r *txRun) readRow() (*store.Transaction, error) {
	ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
	defer cancel()
	return r.e.st.Get(ctx, r.xid)
}
