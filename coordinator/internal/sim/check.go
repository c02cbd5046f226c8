package sim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/tccsuite/tccsuite/coordinator/internal/store"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// The invariants a run checks once faults stopped and every instance recovered.
const (
	InvTxFinal        = "tx-final"              // every transaction CONFIRMED or CANCELLED
	InvOneDecision    = "one-decision"          // exactly one decision per transaction in the store's CAS history, and the final status follows it
	InvPhase2Decided  = "phase2-after-decision" // a Confirm (Cancel) is sent only once CONFIRMING (CANCELLING) is durable
	InvOppositePhase  = "no-opposite-phase"     // no Confirm applied on a cancelled transaction, no Cancel on a confirmed one, never both on a branch
	InvLateTry        = "late-try-compensated"  // a Try applied after the decision: only under CANCELLING, and compensated by its Cancel
	InvBranchFinished = "branch-finished"       // every branch's second phase applied at its participant, as the stored branch says
	InvNotApplied     = "no-not-applied"        // no branch NOT_APPLIED, no final transaction flagged for attention
	InvBranchRecorded = "branch-recorded"       // every stored branch of a CONFIRMED (CANCELLED) transaction is CONFIRMED (CANCELLED)
	InvFencedWrites   = "fenced-writes"         // no write by a coordinator that did not own the row was accepted
	InvPoolConserved  = "pool-conserved"        // available+reserved+used = initial, reserved = 0, used = the confirmed amounts
	InvAnswerHonoured = "answer-honoured"       // a begin answered with a decision ends with that decision
)

func (w *world) check() []Violation {
	var out []Violation
	add := func(inv, format string, a ...any) { out = append(out, Violation{inv, fmt.Sprintf(format, a...)}) }
	ctx := context.Background()
	txs, err := w.raw.List(ctx, store.ListFilter{Limit: 1 << 30})
	if err != nil {
		add(InvTxFinal, "cannot list: %v", err)
		return out
	}
	byXID := map[string]*store.Transaction{}
	for i := range txs {
		byXID[txs[i].XID] = &txs[i]
	}

	// One decision per transaction; the final status follows it.
	decided := map[string]tcc.TxStatus{}
	count := map[string]int{}
	for _, d := range w.raw.Decisions() {
		count[d.XID]++
		if count[d.XID] > 1 {
			add(InvOneDecision, "%s decided twice: %s then %s (by %s)", d.XID, decided[d.XID], d.To, d.Owner)
			continue
		}
		decided[d.XID] = d.To
	}
	for _, t := range txs {
		if !t.Status.Final() {
			add(InvTxFinal, "%s still %s (owner %s) after faults stopped and every instance recovered", t.XID, t.Status, t.Owner)
			continue
		}
		want := tcc.TxConfirmed
		if decided[t.XID] == tcc.TxCancelling {
			want = tcc.TxCancelled
		}
		if count[t.XID] != 1 {
			add(InvOneDecision, "%s is %s with %d decisions recorded", t.XID, t.Status, count[t.XID])
		} else if t.Status != want {
			add(InvOneDecision, "%s decided %s but ended %s", t.XID, decided[t.XID], t.Status)
		}
		if t.Attention {
			add(InvNotApplied, "%s ended %s flagged for attention", t.XID, t.Status)
		}
	}

	// Every second-phase call left after its decision was durable.
	w.net.mu.Lock()
	sent := append([]sentCall(nil), w.net.sent...)
	w.net.mu.Unlock()
	for _, c := range sent {
		switch {
		case c.phase == tcc.PhaseConfirm && c.statusAt != tcc.TxConfirming && c.statusAt != tcc.TxConfirmed:
			add(InvPhase2Decided, "%s sent Confirm of %s/%s while the stored status was %q", c.from, c.xid, c.branch, c.statusAt)
		case c.phase == tcc.PhaseCancel && c.statusAt != tcc.TxCancelling && c.statusAt != tcc.TxCancelled:
			add(InvPhase2Decided, "%s sent Cancel of %s/%s while the stored status was %q", c.from, c.xid, c.branch, c.statusAt)
		}
	}

	// Participants: barrier rows against the decisions, and the pools.
	for _, p := range w.parts {
		avail, reserved, used, keys, rows, _ := p.snapshot()
		if avail+reserved+used != p.initial {
			add(InvPoolConserved, "%s: available %d + reserved %d + used %d != initial %d", p.name, avail, reserved, used, p.initial)
		}
		if reserved != 0 {
			add(InvPoolConserved, "%s: %d units still reserved at rest", p.name, reserved)
		}
		var want int64
		for _, t := range txs {
			if t.Status != tcc.TxConfirmed {
				continue
			}
			for _, b := range t.Branches {
				if b.Participant == p.name {
					want += amountOf(b.Payload)
				}
			}
		}
		if used != want {
			add(InvPoolConserved, "%s: %d units used, but the confirmed transactions hold %d", p.name, used, want)
		}
		for _, k := range keys {
			r := rows[k]
			d := decided[k.xid]
			if r.confirm && r.cancel {
				add(InvOppositePhase, "%s: branch %s/%s both confirmed and cancelled", p.name, k.xid, k.branch)
			}
			if r.confirm && d != tcc.TxConfirming {
				add(InvOppositePhase, "%s: Confirm applied on %s/%s, decided %q", p.name, k.xid, k.branch, d)
			}
			if r.cancel && d != tcc.TxCancelling {
				add(InvOppositePhase, "%s: Cancel applied on %s/%s, decided %q", p.name, k.xid, k.branch, d)
			}
			if r.lateTry && (d != tcc.TxCancelling || !r.cancelled) {
				add(InvLateTry, "%s: Try of %s/%s applied after the decision %q and not compensated (cancel row %v)", p.name, k.xid, k.branch, d, r.cancel)
			}
		}
		// Every branch of a final transaction finished at its participant.
		for _, t := range txs {
			for _, b := range t.Branches {
				if b.Participant != p.name {
					continue
				}
				r, ok := rows[branchKey{t.XID, b.BranchID}]
				switch t.Status {
				case tcc.TxConfirmed:
					if b.Status != tcc.BranchConfirmed {
						add(branchInv(b.Status), "branch %s/%s at %s is stored %s (%s) in a CONFIRMED transaction", t.XID, b.BranchID, p.name, b.Status, b.LastError)
					}
					if !ok || !r.confirm {
						add(InvBranchFinished, "%s/%s at %s: transaction CONFIRMED but no Confirm applied", t.XID, b.BranchID, p.name)
					}
				case tcc.TxCancelled:
					if b.Status != tcc.BranchCancelled {
						add(branchInv(b.Status), "branch %s/%s at %s is stored %s (%s) in a CANCELLED transaction", t.XID, b.BranchID, p.name, b.Status, b.LastError)
					}
					if ok && r.try && r.origin == tcc.PhaseTry && !r.cancelled {
						add(InvBranchFinished, "%s/%s at %s: transaction CANCELLED but its applied Try was not compensated", t.XID, b.BranchID, p.name)
					}
				}
			}
		}
	}

	for _, line := range w.audit.unfencedWrites() {
		add(InvFencedWrites, "%s", line)
	}

	w.mu.Lock()
	answers := append([]clientAnswer(nil), w.answers...)
	w.mu.Unlock()
	for _, a := range answers {
		t := byXID[a.xid]
		if t == nil {
			add(InvAnswerHonoured, "%s answered %s %s, which is not stored", a.key, a.xid, a.status)
			continue
		}
		switch {
		case !a.reached:
		case (a.status == tcc.TxConfirming || a.status == tcc.TxConfirmed) && t.Status != tcc.TxConfirmed,
			(a.status == tcc.TxCancelling || a.status == tcc.TxCancelled) && t.Status != tcc.TxCancelled:
			add(InvAnswerHonoured, "%s was answered %s for %s, which ended %s", a.key, a.status, a.xid, t.Status)
		}
	}
	return out
}

func branchInv(s tcc.BranchStatus) string {
	if s == tcc.BranchNotApplied {
		return InvNotApplied
	}
	return InvBranchRecorded
}

func amountOf(payload []byte) int64 {
	var pl struct {
		Amount int64 `json:"amount"`
	}
	_ = json.Unmarshal(payload, &pl)
	return pl.Amount
}

// digest hashes the end state: every transaction's key, status and branch statuses, the
// decisions, and every participant's counters.
func (w *world) digest() string {
	h := sha256.New()
	txs, _ := w.raw.List(context.Background(), store.ListFilter{Limit: 1 << 30})
	for _, t := range txs {
		_, _ = fmt.Fprintf(h, "%s %s %s|", t.XID, t.IdempotencyKey, t.Status)
		for _, b := range t.Branches {
			_, _ = fmt.Fprintf(h, "%s=%s,", b.BranchID, b.Status)
		}
	}
	for _, d := range w.raw.Decisions() {
		_, _ = fmt.Fprintf(h, "%s>%s;", d.XID, d.To)
	}
	for _, p := range w.parts {
		a, r, u, _, _, _ := p.snapshot()
		_, _ = fmt.Fprintf(h, "%s %d %d %d;", p.name, a, r, u)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
