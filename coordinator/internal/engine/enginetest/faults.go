package enginetest

import (
	"context"

	"github.com/tccsuite/tccsuite/coordinator/internal/store"
)

// Fault is what a crash point does to one store call.
type Fault int

// Faults.
const (
	// NoFault: the call goes through.
	NoFault Fault = iota
	// FailBefore: the call fails with ErrUnreachable and writes nothing (the database
	// was unreachable, or the transaction rolled back).
	FailBefore
	// LoseAnswer: the call is applied, then answered ErrUnreachable (the commit
	// happened, its answer was lost). On a read it is the same as FailBefore.
	LoseAnswer
)

// FaultyStore wraps a store.Store with crash points: Inject, if set, is asked before each
// call with the method's name ("Begin", "Decide", "Apply", "Claim", "Get",
// "GetByIdempotencyKey", "List", "Unfinished") and answers the call's fault. It is safe
// for concurrent use if Inject is.
type FaultyStore struct {
	store.Store
	Inject func(method string) Fault
}

var _ store.Store = (*FaultyStore)(nil)

func (f *FaultyStore) fault(method string) Fault {
	if f.Inject == nil {
		return NoFault
	}
	return f.Inject(method)
}

// Begin writes txs unless a fault says otherwise.
func (f *FaultyStore) Begin(ctx context.Context, txs []*store.Transaction) []error {
	ft := f.fault("Begin")
	if ft == NoFault {
		return f.Store.Begin(ctx, txs)
	}
	if ft == LoseAnswer {
		f.Store.Begin(ctx, txs)
	}
	errs := make([]error, len(txs))
	for i := range errs {
		errs[i] = ErrUnreachable
	}
	return errs
}

// Decide applies ds unless a fault says otherwise.
func (f *FaultyStore) Decide(ctx context.Context, ds []store.Decision) []store.DecideResult {
	ft := f.fault("Decide")
	if ft == NoFault {
		return f.Store.Decide(ctx, ds)
	}
	if ft == LoseAnswer {
		f.Store.Decide(ctx, ds)
	}
	out := make([]store.DecideResult, len(ds))
	for i := range out {
		out[i].Err = ErrUnreachable
	}
	return out
}

// Apply writes r unless a fault says otherwise.
func (f *FaultyStore) Apply(ctx context.Context, r store.Results) ([]string, error) {
	switch f.fault("Apply") {
	case FailBefore:
		return nil, ErrUnreachable
	case LoseAnswer:
		_, _ = f.Store.Apply(ctx, r)
		return nil, ErrUnreachable
	}
	return f.Store.Apply(ctx, r)
}

// Claim claims xid unless a fault says otherwise.
func (f *FaultyStore) Claim(ctx context.Context, xid, from, to string) (bool, error) {
	switch f.fault("Claim") {
	case FailBefore:
		return false, ErrUnreachable
	case LoseAnswer:
		_, _ = f.Store.Claim(ctx, xid, from, to)
		return false, ErrUnreachable
	}
	return f.Store.Claim(ctx, xid, from, to)
}

// Get reads xid unless a fault says otherwise.
func (f *FaultyStore) Get(ctx context.Context, xid string) (*store.Transaction, error) {
	if f.fault("Get") != NoFault {
		return nil, ErrUnreachable
	}
	return f.Store.Get(ctx, xid)
}

// GetByIdempotencyKey reads key unless a fault says otherwise.
func (f *FaultyStore) GetByIdempotencyKey(ctx context.Context, key string) (*store.Transaction, error) {
	if f.fault("GetByIdempotencyKey") != NoFault {
		return nil, ErrUnreachable
	}
	return f.Store.GetByIdempotencyKey(ctx, key)
}

// List reads a page unless a fault says otherwise.
func (f *FaultyStore) List(ctx context.Context, lf store.ListFilter) ([]store.Transaction, error) {
	if f.fault("List") != NoFault {
		return nil, ErrUnreachable
	}
	return f.Store.List(ctx, lf)
}

// Unfinished reads a page of headers unless a fault says otherwise.
func (f *FaultyStore) Unfinished(ctx context.Context, after string, limit int) ([]store.Header, error) {
	if f.fault("Unfinished") != NoFault {
		return nil, ErrUnreachable
	}
	return f.Store.Unfinished(ctx, after, limit)
}
