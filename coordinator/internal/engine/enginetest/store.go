package enginetest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/tccsuite/tccsuite/coordinator/internal/store"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// Store is an in-memory store.Store. It is safe for concurrent use; every method copies
// what it takes and what it returns. Calls counts the calls of each method.
type Store struct {
	mu    sync.Mutex
	txs   map[string]*store.Transaction
	idem  map[string]string // idempotency key -> XID
	calls map[string]int
	decs  []DecisionRecord // every decision won, in order
}

// DecisionRecord is one compare-and-set that left TRYING: the store's decision history.
type DecisionRecord struct {
	XID   string
	Owner string
	To    tcc.TxStatus
	At    time.Time
}

// Decisions returns every decision the store accepted, in order (a correct coordinator
// records exactly one per transaction).
func (s *Store) Decisions() []DecisionRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]DecisionRecord(nil), s.decs...)
}

var _ store.Store = (*Store)(nil)

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{txs: map[string]*store.Transaction{}, idem: map[string]string{}, calls: map[string]int{}}
}

// Calls returns how many times method (e.g. "Decide") was called.
func (s *Store) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

func (s *Store) enter(method string) func() {
	s.mu.Lock()
	s.calls[method]++
	return s.mu.Unlock
}

// Migrate does nothing.
func (s *Store) Migrate(context.Context) error { return nil }

// Ping answers nil.
func (s *Store) Ping(context.Context) error { return nil }

// Begin stores each transaction unless its XID or idempotency key is taken.
func (s *Store) Begin(_ context.Context, txs []*store.Transaction) []error {
	defer s.enter("Begin")()
	errs := make([]error, len(txs))
	for i, t := range txs {
		switch {
		case s.txs[t.XID] != nil:
			errs[i] = store.ErrDuplicateXID
		case t.IdempotencyKey != "" && s.idem[t.IdempotencyKey] != "":
			errs[i] = store.ErrDuplicateIdempotencyKey
		default:
			c := clone(t)
			now := time.Now().UTC()
			c.CreatedAt, c.UpdatedAt = now, now
			s.txs[t.XID] = c
			if t.IdempotencyKey != "" {
				s.idem[t.IdempotencyKey] = t.XID
			}
		}
	}
	return errs
}

// Decide applies each compare-and-set: it wins only on a TRYING row still owned by Owner.
func (s *Store) Decide(_ context.Context, ds []store.Decision) []store.DecideResult {
	defer s.enter("Decide")()
	out := make([]store.DecideResult, len(ds))
	for i, d := range ds {
		if d.To != tcc.TxConfirming && d.To != tcc.TxCancelling {
			out[i].Err = fmt.Errorf("enginetest: bad decision %q", d.To)
			continue
		}
		t := s.txs[d.XID]
		if t == nil || t.Status != tcc.TxTrying || t.Owner != d.Owner {
			continue
		}
		t.Status, t.Refusal, t.UpdatedAt = d.To, d.Refusal, time.Now().UTC()
		out[i].Won = true
		s.decs = append(s.decs, DecisionRecord{XID: d.XID, Owner: d.Owner, To: d.To, At: t.UpdatedAt})
	}
	return out
}

// Apply writes r, skipping the writes fenced by an owner that no longer owns the row.
func (s *Store) Apply(_ context.Context, r store.Results) ([]string, error) {
	defer s.enter("Apply")()
	fenced := map[string]bool{}
	ok := func(xid, owner string) bool {
		t := s.txs[xid]
		if t == nil {
			return false
		}
		if owner != "" && t.Owner != owner {
			fenced[xid] = true
			return false
		}
		return true
	}
	for _, b := range r.Branches {
		if !ok(b.XID, b.Owner) {
			continue
		}
		for i := range s.txs[b.XID].Branches {
			br := &s.txs[b.XID].Branches[i]
			if br.BranchID == b.BranchID {
				br.Status, br.Attempts, br.LastError = b.Status, b.Attempts, b.LastError
			}
		}
	}
	for _, x := range r.Attention {
		if t := s.txs[x]; t != nil && !t.Status.Final() {
			t.Attention = true
		}
	}
	for _, f := range r.Finishes {
		if !ok(f.XID, f.Owner) {
			continue
		}
		if t := s.txs[f.XID]; t.Status == f.From {
			t.Status, t.Attention = f.To, f.Attention
		}
	}
	var out []string
	for x := range fenced {
		out = append(out, x)
	}
	sort.Strings(out)
	return out, nil
}

// Claim moves an unfinished xid from from to to.
func (s *Store) Claim(_ context.Context, xid, from, to string) (bool, error) {
	defer s.enter("Claim")()
	t := s.txs[xid]
	if t == nil || t.Owner != from || t.Status.Final() {
		return false, nil
	}
	t.Owner = to
	return true, nil
}

// Get returns a copy of xid, or store.ErrNotFound.
func (s *Store) Get(_ context.Context, xid string) (*store.Transaction, error) {
	defer s.enter("Get")()
	t := s.txs[xid]
	if t == nil {
		return nil, store.ErrNotFound
	}
	return clone(t), nil
}

// GetByIdempotencyKey returns a copy of the transaction begun with key.
func (s *Store) GetByIdempotencyKey(_ context.Context, key string) (*store.Transaction, error) {
	defer s.enter("GetByIdempotencyKey")()
	t := s.txs[s.idem[key]]
	if key == "" || t == nil {
		return nil, store.ErrNotFound
	}
	return clone(t), nil
}

// List returns a page in XID order.
func (s *Store) List(_ context.Context, f store.ListFilter) ([]store.Transaction, error) {
	defer s.enter("List")()
	var out []store.Transaction
	for _, x := range s.sortedXIDs() {
		t := s.txs[x]
		if x <= f.After || (f.Status != "" && t.Status != f.Status) || (f.Attention != nil && t.Attention != *f.Attention) {
			continue
		}
		out = append(out, *clone(t))
		if len(out) == f.Limit {
			break
		}
	}
	return out, nil
}

// Unfinished returns up to limit unfinished headers with XID > after, in XID order.
func (s *Store) Unfinished(_ context.Context, after string, limit int) ([]store.Header, error) {
	defer s.enter("Unfinished")()
	var out []store.Header
	for _, x := range s.sortedXIDs() {
		t := s.txs[x]
		if x <= after || t.Status.Final() {
			continue
		}
		out = append(out, store.Header{XID: t.XID, Status: t.Status, Owner: t.Owner, Deadline: t.Deadline})
		if len(out) == limit {
			break
		}
	}
	return out, nil
}

// sortedXIDs lists every XID in order; s.mu is held.
func (s *Store) sortedXIDs() []string {
	xs := make([]string, 0, len(s.txs))
	for x := range s.txs {
		xs = append(xs, x)
	}
	sort.Strings(xs)
	return xs
}

func clone(t *store.Transaction) *store.Transaction {
	c := *t
	c.LockKeys = append([]string(nil), t.LockKeys...)
	c.Branches = append([]store.Branch(nil), t.Branches...)
	if t.Refusal != nil {
		r := *t.Refusal
		c.Refusal = &r
	}
	return &c
}

// ErrUnreachable is a transient store error for fault injection: the engine treats it
// as the database being unreachable (it wraps context.DeadlineExceeded).
var ErrUnreachable = fmt.Errorf("enginetest: database unreachable: %w", context.DeadlineExceeded)
