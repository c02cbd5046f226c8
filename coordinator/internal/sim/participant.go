package sim

import (
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// branchKey names one branch at one participant.
type branchKey struct{ xid, branch string }

// barrierRow is the model of a branch's tcc_barrier rows (docs/design.md §3): the try
// row (with its origin), the confirm row, the cancel row.
type barrierRow struct {
	try       bool      // a try row exists
	origin    tcc.Phase // its origin: try (the Try ran) or cancel (the Cancel came first)
	confirm   bool
	cancel    bool
	amount    int64     // reserved by the Try
	triedAt   time.Time // when the Try's business step ran
	lateTry   bool      // the Try's business step ran after the transaction was decided
	cancelled bool      // the Cancel's business step ran (a compensation, not empty)
}

// participant is an in-memory participant: one pooled resource (a counter of units)
// behind a barrier that follows pkg/tcc's algorithm (docs/design.md §3) exactly. Its
// phases apply atomically (one mutex stands for the local database transaction).
type participant struct {
	name    string
	initial int64
	// status reads the transaction's stored status when an effect applies, to tell a Try
	// applied after the decision from one applied before.
	status func(xid string) tcc.TxStatus

	mu        sync.Mutex
	available int64
	reserved  int64
	used      int64
	rows      map[branchKey]*barrierRow
	stats     partStats
}

type partStats struct {
	tries, refused, expired, suspended, duplicates, empty, lateTries int
}

func newParticipant(name string, initial int64, status func(string) tcc.TxStatus) *participant {
	return &participant{name: name, initial: initial, available: initial, status: status, rows: map[branchKey]*barrierRow{}}
}

// answer is a participant's reply: an HTTP status and, for non-2xx, a code.
type answer struct {
	status  int
	code    string
	outcome tcc.Outcome
}

// handle applies one delivered call, as pkg/tcc's barrier and a reserve/sell action would.
func (p *participant) handle(phase tcc.Phase, xid, branch string, deadline time.Time, amount int64) answer {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := branchKey{xid, branch}
	row := p.rows[k]
	switch phase {
	case tcc.PhaseTry:
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			p.stats.expired++
			return answer{status: http.StatusConflict, code: tcc.CodeExpired}
		}
		if row != nil && row.try {
			if row.origin == tcc.PhaseCancel {
				p.stats.suspended++
				return answer{status: http.StatusConflict, code: tcc.CodeSuspended}
			}
			p.stats.duplicates++
			return answer{status: http.StatusOK, outcome: tcc.OutcomeDuplicate}
		}
		if amount > p.available {
			p.stats.refused++
			return answer{status: http.StatusConflict, code: "OUT_OF_STOCK"} // rolled back: no row
		}
		if row == nil {
			row = &barrierRow{}
			p.rows[k] = row
		}
		p.available -= amount
		p.reserved += amount
		row.try, row.origin, row.amount, row.triedAt = true, tcc.PhaseTry, amount, time.Now()
		if s := p.status(xid); s != tcc.TxTrying {
			row.lateTry = true
			p.stats.lateTries++
		}
		p.stats.tries++
		return answer{status: http.StatusOK, outcome: tcc.OutcomeApplied}
	case tcc.PhaseConfirm:
		if row == nil || !row.try {
			return answer{status: http.StatusConflict, code: tcc.CodeNotTried}
		}
		if row.origin == tcc.PhaseCancel || row.cancel {
			return answer{status: http.StatusConflict, code: tcc.CodePhaseConflict}
		}
		if row.confirm {
			p.stats.duplicates++
			return answer{status: http.StatusOK, outcome: tcc.OutcomeDuplicate}
		}
		row.confirm = true
		p.reserved -= row.amount
		p.used += row.amount
		return answer{status: http.StatusOK, outcome: tcc.OutcomeApplied}
	default: // cancel
		if row == nil {
			row = &barrierRow{}
			p.rows[k] = row
		}
		if row.cancel {
			p.stats.duplicates++
			return answer{status: http.StatusOK, outcome: tcc.OutcomeDuplicate}
		}
		if !row.try {
			row.try, row.origin, row.cancel = true, tcc.PhaseCancel, true
			p.stats.empty++
			return answer{status: http.StatusOK, outcome: tcc.OutcomeEmptyCompensation}
		}
		if row.confirm {
			return answer{status: http.StatusConflict, code: tcc.CodePhaseConflict} // rolled back
		}
		row.cancel, row.cancelled = true, true
		p.reserved -= row.amount
		p.available += row.amount
		return answer{status: http.StatusOK, outcome: tcc.OutcomeApplied}
	}
}

// snapshot copies the participant's counters and rows (sorted by key), for the checks.
func (p *participant) snapshot() (available, reserved, used int64, keys []branchKey, rows map[branchKey]barrierRow, st partStats) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rows = make(map[branchKey]barrierRow, len(p.rows))
	for k, r := range p.rows {
		rows[k] = *r
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].xid != keys[j].xid {
			return keys[i].xid < keys[j].xid
		}
		return keys[i].branch < keys[j].branch
	})
	return p.available, p.reserved, p.used, keys, rows, p.stats
}
