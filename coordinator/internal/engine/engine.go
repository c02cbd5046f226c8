// Package engine drives global transactions (DESIGN §4): it writes the begin, calls the
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
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/tccsuite/tccsuite/coordinator/internal/cluster"
	"github.com/tccsuite/tccsuite/coordinator/internal/metrics"
	"github.com/tccsuite/tccsuite/coordinator/internal/registry"
	"github.com/tccsuite/tccsuite/coordinator/internal/store"
	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// Errors of the engine, mapped to HTTP answers by the API.
var (
	// ErrNotReady: this instance holds no live etcd session (or is shutting down);
	// nothing was stored. Try again, here or elsewhere.
	ErrNotReady = errors.New("engine: not ready")
	// ErrIdempotencyMismatch: the idempotency key was used with a different request.
	ErrIdempotencyMismatch = errors.New("engine: idempotency key reused with a different request")
	// ErrNotFound: no such transaction.
	ErrNotFound = errors.New("engine: transaction not found")
	// ErrOwnedElsewhere: a live coordinator drives this transaction; ask it.
	ErrOwnedElsewhere = errors.New("engine: transaction driven by another live coordinator")
	// ErrUnavailable: the database could not be reached (or was busy) and the call was
	// not done; try again later. For a begin, the transaction may have been stored
	// anyway if only the commit's answer was lost: it is then cancelled by recovery at
	// its deadline, never run.
	ErrUnavailable = errors.New("engine: database unavailable")
)

// storeErr wraps a store error, marking it ErrUnavailable when the database was
// unreachable, busy, or did not answer in time.
func storeErr(op string, err error) error {
	if dbx.IsTransient(err) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("engine: %s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("engine: %s: %w", op, err)
}

// CodeLocked is the refusal code of a transaction whose lock keys stayed held by another
// transaction until its deadline.
const CodeLocked = "LOCKED"

// Config tunes the engine.
type Config struct {
	CallTimeout    time.Duration // one Confirm/Cancel call
	RetryBase      time.Duration // first backoff of Confirm/Cancel retries
	RetryCap       time.Duration // backoff cap
	AttentionAfter int           // attempts of one branch's Confirm/Cancel before flagging
	ScanInterval   time.Duration // recovery scan period
	CompletionWait time.Duration // how long a begin waits beyond the deadline for completion
	BatchWorkers   int           // parallel group-commit workers (1 for SQLite)
	BatchMax       int           // most transactions per group commit
}

// Engine drives transactions. It is safe for concurrent use.
type Engine struct {
	cfg Config
	st  store.Store
	reg *registry.Registry
	mem *cluster.Member
	m   *metrics.Metrics
	log *slog.Logger

	begins  *batcher[*store.Transaction, error]
	decides *batcher[store.Decision, store.DecideResult]
	results *writer

	stopCtx  context.Context
	stopRuns context.CancelFunc
	scanKick chan struct{}
	scanDone chan struct{}
	stopScan context.CancelFunc

	mu      sync.Mutex
	active  map[string]*run
	closing bool
	runs    sync.WaitGroup
}

// New builds an engine and starts its writers and recovery scanner. Close stops it.
func New(cfg Config, st store.Store, reg *registry.Registry, mem *cluster.Member, m *metrics.Metrics, log *slog.Logger) *Engine {
	if cfg.BatchWorkers <= 0 {
		cfg.BatchWorkers = 1
	}
	if cfg.BatchMax <= 0 {
		cfg.BatchMax = 128
	}
	e := &Engine{cfg: cfg, st: st, reg: reg, mem: mem, m: m, log: log, active: map[string]*run{}, scanKick: make(chan struct{}, 1), scanDone: make(chan struct{})}
	e.begins = newBatcher(cfg.BatchWorkers, cfg.BatchMax, m.BatchSize.WithLabelValues("begin"), st.Begin)
	e.decides = newBatcher(cfg.BatchWorkers, cfg.BatchMax, m.BatchSize.WithLabelValues("decide"), st.Decide)
	e.stopCtx, e.stopRuns = context.WithCancel(context.Background())
	e.results = newWriter(st, log, m.BatchSize.WithLabelValues("results"), m.StoreErrors.WithLabelValues("results"), e.fence, e.stopCtx.Done())
	scanCtx, stopScan := context.WithCancel(context.Background())
	e.stopScan = stopScan
	go e.scanLoop(scanCtx)
	return e
}

// fence stops the run of xid under owner, if any: a write fenced by owner found the row
// taken over.
func (e *Engine) fence(xid, owner string) {
	if r := e.lookup(xid); r != nil && r.owner == owner {
		r.fenced()
	}
}

// KickScan asks the recovery scanner to run now (e.g. on a new etcd epoch).
func (e *Engine) KickScan() {
	select {
	case e.scanKick <- struct{}{}:
	default:
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
		XID: xid, Status: tcc.TxTrying, Owner: ep.Owner, Deadline: now.Add(in.Timeout),
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
func (e *Engine) view(r *run) *tcc.Transaction {
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
	if t.Owner != ep.Owner {
		live, err := e.mem.LiveOwners(ctx)
		if err != nil {
			return nil, ErrNotReady
		}
		if live[t.Owner] {
			return nil, ErrOwnedElsewhere
		}
		ok, err := e.st.Claim(ctx, xid, t.Owner, ep.Owner)
		if err != nil {
			return nil, storeErr("retry: claim", err)
		}
		if !ok {
			return nil, ErrOwnedElsewhere
		}
		e.m.Takeovers.Inc()
		t.Owner = ep.Owner
	}
	if r := e.adopt(ep, t); r != nil {
		return r.snapshot(), nil
	}
	return e.Get(ctx, xid)
}

func (e *Engine) lookup(xid string) *run {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.active[xid]
}

// register adds r to the active map; false if the engine is closing or r's XID is
// already driven here.
func (e *Engine) register(r *run) bool {
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
func (e *Engine) unregister(r *run, ended bool) {
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
func (e *Engine) adopt(ep *cluster.Epoch, t *store.Transaction) *run {
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

// scanLoop runs recovery every ScanInterval, and when kicked.
func (e *Engine) scanLoop(ctx context.Context) {
	defer close(e.scanDone)
	t := time.NewTicker(e.cfg.ScanInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-e.scanKick:
		}
		if err := e.Scan(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("recovery scan failed", "err", err)
		}
	}
}

// Scan takes over the unfinished transactions of dead owners (a conditional update per
// row: of several scanners, one wins each) and resumes this instance's own unfinished
// transactions that nothing drives (e.g. after a lost asynchronous write).
//
// An owner is judged dead on a membership snapshot taken after the page of rows was
// read: an owner registers before it writes any row and a lost owner tag never comes
// back, so every owner of a row on the page that is live when it is claimed appears in
// that snapshot (a snapshot taken before the page could miss an instance that joined
// meanwhile, and its rows would be claimed from under it). A database or etcd error
// ends the scan; the next one (every ScanInterval) starts over.
func (e *Engine) Scan(ctx context.Context) error {
	ep, err := e.mem.Epoch()
	if err != nil {
		return nil
	}
	after := ""
	for {
		hs, err := e.st.Unfinished(ctx, after, 500)
		if err != nil {
			return err
		}
		live, err := e.mem.LiveOwners(ctx)
		if err != nil {
			return err
		}
		if !live[ep.Owner] {
			return nil // our own key is not visible yet (or any more): do not judge others
		}
		for _, h := range hs {
			if ctx.Err() != nil || ep.Context().Err() != nil {
				return nil
			}
			if e.lookup(h.XID) != nil {
				continue
			}
			switch {
			case h.Owner == ep.Owner:
				// Ours but not driven: resume, except a TRYING one still within its
				// deadline, which may be a begin racing with this scan.
				if h.Status == tcc.TxTrying && time.Now().Before(h.Deadline) {
					continue
				}
			case live[h.Owner]:
				continue
			default:
				ok, err := e.st.Claim(ctx, h.XID, h.Owner, ep.Owner)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
				e.m.Takeovers.Inc()
				e.log.Info("took over a transaction of a dead coordinator", "xid", h.XID, "from", h.Owner, "status", string(h.Status))
			}
			t, err := e.st.Get(ctx, h.XID)
			if err != nil {
				return err
			}
			if t.Status.Final() || t.Owner != ep.Owner {
				continue
			}
			e.adopt(ep, t)
		}
		if len(hs) < 500 {
			return nil
		}
		after = hs[len(hs)-1].XID
	}
}

// backoff is the full-jitter delay before retry number attempt (1-based).
func (e *Engine) backoff(attempt int) time.Duration {
	d := e.cfg.RetryBase
	for i := 1; i < attempt && d < e.cfg.RetryCap; i++ {
		d *= 2
	}
	d = min(d, e.cfg.RetryCap)
	if d <= 0 {
		return 0
	}
	return rand.N(d) + time.Millisecond
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
