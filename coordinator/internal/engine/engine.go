// Package engine drives global transactions (docs/design.md §4): it writes the begin, calls the
// Tries in parallel under the deadline, records the decision with a compare-and-set,
// drives Confirm or Cancel until every branch has answered, and takes over what dead
// coordinators left.
//
// Durability and speed: the begin and the decision are synchronous and group-committed
// with those of concurrent transactions; everything after the decision (branch results,
// the final status) is written asynchronously in batches, because recovery can redo it.
// A transaction this instance drives lives in memory (the active map) until its final
// status is durable, so reads on this instance always see its latest state.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/tccsuite/tccsuite/coordinator/internal/metrics"
	"github.com/tccsuite/tccsuite/coordinator/internal/registry"
	"github.com/tccsuite/tccsuite/coordinator/internal/store"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// Deps are what an engine drives transactions with.
type Deps struct {
	Store      store.Store
	Registry   *registry.Registry
	Membership Membership
	Metrics    *metrics.Metrics
	Log        *slog.Logger
	// Jitter, if set, replaces the uniform random jitter of the retry backoffs: it must
	// answer a duration in [0, d). Simulations set it to make runs reproducible.
	Jitter func(d time.Duration) time.Duration
}

// Engine drives transactions. It is safe for concurrent use.
type Engine struct {
	cfg    Config
	st     store.Store
	reg    *registry.Registry
	mem    Membership
	m      *metrics.Metrics
	log    *slog.Logger
	jitter func(time.Duration) time.Duration

	begins  *batcher[*store.Transaction, error]
	decides *batcher[store.Decision, store.DecideResult]
	results *writer

	stopCtx  context.Context
	stopRuns context.CancelFunc
	scanKick chan struct{}
	scanDone chan struct{}
	stopScan context.CancelFunc

	mu      sync.Mutex
	active  map[string]*txRun
	closing bool
	runs    sync.WaitGroup
}

// New validates cfg, builds an engine and starts its writers and recovery scanner.
// Close stops it. Every field of d but Jitter is required.
func New(cfg Config, d Deps) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Store == nil || d.Registry == nil || d.Membership == nil || d.Metrics == nil || d.Log == nil {
		return nil, errors.New("engine: Store, Registry, Membership, Metrics and Log are required")
	}
	if d.Jitter == nil {
		d.Jitter = uniformJitter
	}
	e := &Engine{
		cfg: cfg, st: d.Store, reg: d.Registry, mem: d.Membership, m: d.Metrics, log: d.Log, jitter: d.Jitter,
		active: map[string]*txRun{}, scanKick: make(chan struct{}, 1), scanDone: make(chan struct{}),
	}
	m := d.Metrics
	e.begins = newBatcher(cfg.BatchWorkers, cfg.BatchMax, m.BatchSize.WithLabelValues("begin"), d.Store.Begin)
	e.decides = newBatcher(cfg.BatchWorkers, cfg.BatchMax, m.BatchSize.WithLabelValues("decide"), d.Store.Decide)
	e.stopCtx, e.stopRuns = context.WithCancel(context.Background())
	e.results = newWriter(writerDeps{
		store: d.Store, log: d.Log, size: m.BatchSize.WithLabelValues("results"), failures: m.StoreErrors.WithLabelValues("results"),
		onFenced: e.fence, stop: e.stopCtx.Done(), jitter: d.Jitter,
	})
	scanCtx, stopScan := context.WithCancel(context.Background())
	e.stopScan = stopScan
	go e.scanLoop(scanCtx)
	return e, nil
}

// fence stops the run of xid under owner, if any: a write fenced by owner found the row
// taken over.
func (e *Engine) fence(xid, owner string) {
	if r := e.lookup(xid); r != nil && r.owner == owner {
		r.fenced()
	}
}

// BeginInput is a validated begin request.
type BeginInput struct {
	Req            tcc.BeginRequest
	Timeout        time.Duration
	IdempotencyKey string
	RequestHash    string
	Meta           tcc.Meta
}

// BeginOutcome is what a begin answers.
type BeginOutcome struct {
	Tx *tcc.Transaction
	// Replay: the idempotency key had been used; Tx is that transaction.
	Replay bool
	// Reached: the wait target (decision or completion) was reached before the answer.
	Reached bool
}

// Begin durably writes a new transaction, starts driving it, and waits for its decision
// or completion (in.Req.Wait) or until ctx ends. Nothing is acknowledged before the
// begin is durable. With an idempotency key already used by the same request, it answers
// that transaction instead, and never runs it twice.
func (e *Engine) Begin(ctx context.Context, in BeginInput) (BeginOutcome, error) {
	ep, err := e.mem.Epoch()
	if err != nil {
		return BeginOutcome{}, ErrNotReady
	}
	xid, err := e.mem.NextID()
	if err != nil {
		return BeginOutcome{}, ErrNotReady
	}
	now := time.Now().UTC()
	tx := &store.Transaction{
		XID: xid, Status: tcc.TxTrying, Owner: ep.Owner(), Deadline: now.Add(in.Timeout),
		TimeoutMS: in.Timeout.Milliseconds(), LockKeys: in.Req.LockKeys,
		IdempotencyKey: in.IdempotencyKey, RequestHash: in.RequestHash, RequestID: in.Meta.RequestID,
		CreatedAt: now,
	}
	for i, b := range in.Req.Branches {
		tx.Branches = append(tx.Branches, store.Branch{
			BranchID: strconv.Itoa(i + 1), Participant: b.Participant, Action: b.Action,
			Payload: []byte(b.Payload), Status: tcc.BranchRegistered,
		})
	}
	r := e.newRun(ep, tx, in.Meta)
	if !e.register(r) {
		return BeginOutcome{}, ErrNotReady
	}
	if err := e.begins.do(tx); err != nil {
		e.unregister(r, true)
		if errors.Is(err, store.ErrDuplicateIdempotencyKey) {
			return e.replay(ctx, in)
		}
		if errors.Is(err, store.ErrDuplicateXID) {
			return BeginOutcome{}, fmt.Errorf("engine: begin: XID %s reused: %w", xid, err)
		}
		return BeginOutcome{}, storeErr("begin", err)
	}
	e.m.Transactions.WithLabelValues(string(tcc.TxTrying)).Inc()
	go r.driveNew()
	reached := r.wait(ctx, in.Req.Wait, e.cfg.CompletionWait)
	return BeginOutcome{Tx: e.view(r), Reached: reached}, nil
}

// view answers r's state: from memory while this instance drives it, else the store.
func (e *Engine) view(r *txRun) *tcc.Transaction {
	if r.abandoned() {
		if t, err := e.Get(context.Background(), r.xid); err == nil {
			return t
		}
	}
	return r.snapshot()
}

func (e *Engine) replay(ctx context.Context, in BeginInput) (BeginOutcome, error) {
	t, err := e.st.GetByIdempotencyKey(ctx, in.IdempotencyKey)
	if err != nil {
		return BeginOutcome{}, storeErr("idempotent replay", err)
	}
	if t.RequestHash != in.RequestHash {
		return BeginOutcome{}, ErrIdempotencyMismatch
	}
	reachedFn := func(s tcc.TxStatus) bool {
		if in.Req.Wait == tcc.WaitCompletion {
			return s.Final()
		}
		return s != tcc.TxTrying
	}
	limit := time.Until(t.Deadline) + e.cfg.CompletionWait
	wctx, cancel := context.WithTimeout(ctx, max(limit, 0))
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if r := e.lookup(t.XID); r != nil {
			reached := r.wait(wctx, in.Req.Wait, e.cfg.CompletionWait)
			return BeginOutcome{Tx: e.view(r), Replay: true, Reached: reached}, nil
		}
		cur, err := e.Get(ctx, t.XID)
		if err != nil {
			return BeginOutcome{}, err
		}
		if reachedFn(cur.Status) {
			return BeginOutcome{Tx: cur, Replay: true, Reached: true}, nil
		}
		select {
		case <-wctx.Done():
			return BeginOutcome{Tx: cur, Replay: true}, nil
		case <-tick.C:
		}
	}
}

// Get returns a transaction: this instance's live view if it drives it, else the
// store's (which may lag a live driver elsewhere by one asynchronous batch).
func (e *Engine) Get(ctx context.Context, xid string) (*tcc.Transaction, error) {
	if r := e.lookup(xid); r != nil && !r.abandoned() {
		return r.snapshot(), nil
	}
	t, err := e.st.Get(ctx, xid)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, storeErr("get", err)
	}
	return toAPI(t), nil
}

// List returns a page of transactions, overlaid with the live view of those driven here.
func (e *Engine) List(ctx context.Context, f store.ListFilter) (tcc.TransactionPage, error) {
	ts, err := e.st.List(ctx, f)
	if err != nil {
		return tcc.TransactionPage{}, storeErr("list", err)
	}
	page := tcc.TransactionPage{Transactions: make([]tcc.Transaction, 0, len(ts))}
	for i := range ts {
		if r := e.lookup(ts[i].XID); r != nil && !r.abandoned() {
			page.Transactions = append(page.Transactions, *r.snapshot())
			continue
		}
		page.Transactions = append(page.Transactions, *toAPI(&ts[i]))
	}
	if len(ts) == f.Limit {
		page.Next = ts[len(ts)-1].XID
	}
	return page, nil
}

// Retry drives an unfinished transaction again now: its waiting Confirm/Cancel retries
// fire at once (or, if no live instance drives it, this one takes it over).
func (e *Engine) Retry(ctx context.Context, xid string) (*tcc.Transaction, error) {
	if r := e.lookup(xid); r != nil && !r.abandoned() {
		r.kick()
		return r.snapshot(), nil
	}
	t, err := e.st.Get(ctx, xid)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, storeErr("retry", err)
	}
	if t.Status.Final() {
		return toAPI(t), nil
	}
	ep, err := e.mem.Epoch()
	if err != nil {
		return nil, ErrNotReady
	}
	if t.Owner != ep.Owner() {
		live, err := e.mem.LiveOwners(ctx)
		if err != nil {
			return nil, ErrNotReady
		}
		if live[t.Owner] {
			return nil, ErrOwnedElsewhere
		}
		ok, err := e.st.Claim(ctx, xid, t.Owner, ep.Owner())
		if err != nil {
			return nil, storeErr("retry: claim", err)
		}
		if !ok {
			return nil, ErrOwnedElsewhere
		}
		e.m.Takeovers.Inc()
		t.Owner = ep.Owner()
	}
	if r := e.adopt(ep, t); r != nil {
		return r.snapshot(), nil
	}
	return e.Get(ctx, xid)
}

func (e *Engine) lookup(xid string) *txRun {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.active[xid]
}

// register adds r to the active map; false if the engine is closing or r's XID is
// already driven here.
func (e *Engine) register(r *txRun) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closing {
		return false
	}
	if _, dup := e.active[r.xid]; dup {
		return false
	}
	e.active[r.xid] = r
	e.runs.Add(1)
	e.m.InFlight.Inc()
	return true
}

// unregister removes r (if it is still the active run of its XID). ended reports that
// its goroutine (if any) has returned.
func (e *Engine) unregister(r *txRun, ended bool) {
	e.mu.Lock()
	if e.active[r.xid] == r {
		delete(e.active, r.xid)
		e.m.InFlight.Dec()
	}
	e.mu.Unlock()
	if ended {
		e.runs.Done()
	}
}

// adopt starts driving a recovered transaction, unless it is already driven here.
func (e *Engine) adopt(ep Epoch, t *store.Transaction) *txRun {
	r := e.newRun(ep, t, tcc.Meta{RequestID: t.RequestID})
	if !e.register(r) {
		return nil
	}
	r.log.Info("recovering transaction", "status", string(t.Status))
	go r.driveRecovered()
	return r
}

// Close stops taking work, lets in-flight transactions finish for up to grace, stops
// the rest (they are left to recovery: the caller then revokes the lease so that
// another instance takes them over at once), and flushes the asynchronous writes.
func (e *Engine) Close(grace time.Duration) {
	e.mu.Lock()
	e.closing = true
	e.mu.Unlock()
	e.stopScan()
	<-e.scanDone
	done := make(chan struct{})
	go func() { e.runs.Wait(); close(done) }()
	t := time.NewTimer(grace)
	select {
	case <-done:
	case <-t.C:
		e.log.Warn("shutdown grace over; handing unfinished transactions over to recovery")
		e.stopRuns()
		<-done
	}
	t.Stop()
	e.stopRuns()
	e.begins.close()
	e.decides.close()
	e.results.close()
}

func toAPI(t *store.Transaction) *tcc.Transaction {
	out := &tcc.Transaction{
		XID: t.XID, Status: t.Status, Attention: t.Attention, Refusal: t.Refusal,
		Deadline: t.Deadline, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
		Branches: make([]tcc.BranchInfo, len(t.Branches)),
	}
	for i, b := range t.Branches {
		out.Branches[i] = tcc.BranchInfo{
			BranchID: b.BranchID, Participant: b.Participant, Action: b.Action,
			Status: b.Status, Attempts: b.Attempts, LastError: b.LastError,
		}
	}
	return out
}

func sortedKeys(keys []string) []string {
	out := append([]string(nil), keys...)
	sort.Strings(out)
	return out
}
