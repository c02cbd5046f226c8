package sim

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tccsuite/tccsuite/coordinator/internal/engine/enginetest"
	"github.com/tccsuite/tccsuite/coordinator/internal/store"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// auditStore is the one database every instance shares. It serialises the writes and
// compares the row before and after each: a write that took effect although the writer
// did not own the row (decision, branch result, final status) is recorded. The real
// store fences those writes on owner, so a correct run records none; the test's broken
// variants (a store that ignores the owner) sit between it and raw.
type auditStore struct {
	store.Store                   // what the writes go to (raw, or a broken wrapper of it)
	raw         *enginetest.Store // the rows, read around each write

	mu       sync.Mutex
	unfenced []string // one line per write accepted from a non-owner
	claims   int      // claims won (takeovers)
	stale    int      // writes attempted by a non-owner (a correct store refuses them)
}

func (a *auditStore) counts() (claims, stale int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.claims, a.stale
}

func (a *auditStore) get(xid string) *store.Transaction {
	t, err := a.raw.Get(context.Background(), xid)
	if err != nil {
		return nil
	}
	return t
}

func (a *auditStore) Begin(ctx context.Context, txs []*store.Transaction) []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.Store.Begin(ctx, txs)
}

func (a *auditStore) Decide(ctx context.Context, ds []store.Decision) []store.DecideResult {
	a.mu.Lock()
	defer a.mu.Unlock()
	pre := make([]*store.Transaction, len(ds))
	for i, d := range ds {
		pre[i] = a.get(d.XID)
	}
	out := a.Store.Decide(ctx, append([]store.Decision(nil), ds...)) // a copy: what goes down may be changed there
	for i, d := range ds {
		post := a.get(d.XID)
		if pre[i] != nil && pre[i].Owner != d.Owner {
			a.stale++
		}
		if pre[i] != nil && post != nil && pre[i].Status == tcc.TxTrying && post.Status == d.To && pre[i].Owner != d.Owner {
			a.unfenced = append(a.unfenced, fmt.Sprintf("decision %s of %s by %s accepted while %s owned the row", d.To, d.XID, d.Owner, pre[i].Owner))
		}
	}
	return out
}

func (a *auditStore) Apply(ctx context.Context, r store.Results) ([]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	pre := map[string]*store.Transaction{}
	for _, b := range r.Branches {
		pre[b.XID] = a.get(b.XID)
	}
	for _, f := range r.Finishes {
		pre[f.XID] = a.get(f.XID)
	}
	down := store.Results{Branches: append([]store.BranchUpdate(nil), r.Branches...), Attention: r.Attention,
		Finishes: append([]store.Finish(nil), r.Finishes...)} // a copy: what goes down may be changed there
	fenced, err := a.Store.Apply(ctx, down)
	for _, b := range r.Branches {
		before, after := pre[b.XID], a.get(b.XID)
		if before != nil && b.Owner != "" && before.Owner != b.Owner {
			a.stale++
		}
		if b.Owner == "" || before == nil || after == nil || before.Owner == b.Owner {
			continue
		}
		old, cur := findBranch(before, b.BranchID), findBranch(after, b.BranchID)
		if old != nil && cur != nil && (old.Status != cur.Status || old.Attempts != cur.Attempts || old.LastError != cur.LastError) && cur.Status == b.Status && cur.Attempts == b.Attempts && cur.LastError == b.LastError {
			a.unfenced = append(a.unfenced, fmt.Sprintf("branch %s/%s := %s by %s accepted while %s owned the row", b.XID, b.BranchID, b.Status, b.Owner, before.Owner))
		}
	}
	for _, f := range r.Finishes {
		before, after := pre[f.XID], a.get(f.XID)
		if f.Owner != "" && before != nil && after != nil && before.Status == f.From && after.Status == f.To && before.Owner != f.Owner {
			a.unfenced = append(a.unfenced, fmt.Sprintf("final status %s of %s by %s accepted while %s owned the row", f.To, f.XID, f.Owner, before.Owner))
		}
	}
	return fenced, err
}

func (a *auditStore) Claim(ctx context.Context, xid, from, to string) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	pre := a.get(xid)
	ok, err := a.Store.Claim(ctx, xid, from, to)
	if post := a.get(xid); pre != nil && post != nil && pre.Owner != post.Owner {
		a.claims++
	}
	return ok, err
}

func (a *auditStore) unfencedWrites() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.unfenced...)
}

// findBranch returns a copy of t's branch id, without its timestamp.
func findBranch(t *store.Transaction, id string) *store.Branch {
	for _, b := range t.Branches {
		if b.BranchID == id {
			c := b
			c.UpdatedAt = time.Time{}
			c.Payload = nil
			return &c
		}
	}
	return nil
}

// storeStats counts the store faults injected.
type storeStats struct{ failBefore, loseAnswer int }

// storeFaults draws the crash point and latencies of each store call of one instance
// incarnation from a generator seeded by (its seed, method, the call's first XID, n-th
// such call), not from one shared stream, so that the draws do not depend on the order
// of concurrent calls.
type storeFaults struct {
	seed   uint64
	faulty *atomic.Bool
	stats  *storeStats
	smu    *sync.Mutex // guards stats (shared by every instance)

	mu  sync.Mutex
	nth map[string]int
}

// call is what one store call meets: its crash point and the latency of both legs.
type call struct {
	fault   enginetest.Fault
	in, out time.Duration
}

func (f *storeFaults) draw(method, key string) call {
	k := method + "/" + key
	f.mu.Lock()
	f.nth[k]++
	n := f.nth[k]
	f.mu.Unlock()
	rng := rand.New(rand.NewPCG(f.seed, hashKey(k)^uint64(n)*0x9e3779b97f4a7c15)) //nolint:gosec // a simulation's seeded choices
	faulty := f.faulty.Load()
	c := call{in: f.latency(rng, faulty), out: f.latency(rng, faulty)}
	if !faulty {
		return c
	}
	write := method == "Begin" || method == "Decide" || method == "Apply" || method == "Claim"
	switch x := rng.Float64(); {
	case x < 0.04:
		c.fault = enginetest.FailBefore
	case x < 0.08 && write:
		c.fault = enginetest.LoseAnswer
	}
	f.smu.Lock()
	switch c.fault {
	case enginetest.FailBefore:
		f.stats.failBefore++
	case enginetest.LoseAnswer:
		f.stats.loseAnswer++
	}
	f.smu.Unlock()
	return c
}

// latency is one leg of a store call's round trip: 1–10 ms, and while faults are on,
// sometimes up to 150 ms (a slow database: the window in which a lease can be lost and a
// takeover happen while a write is on its way). Nanosecond resolution keeps two calls
// from landing at the same simulated instant, where only the scheduler orders them.
func (f *storeFaults) latency(rng *rand.Rand, faulty bool) time.Duration {
	if faulty && rng.IntN(10) == 0 {
		return time.Duration(rng.Int64N(int64(150 * time.Millisecond)))
	}
	return time.Millisecond + time.Duration(rng.Int64N(int64(9*time.Millisecond)))
}

// procStore is one coordinator process's connection to the database: each call travels
// (latency) to the crash points, then to the shared database. Once the process has
// crashed, nothing more reaches the database.
type procStore struct {
	db      store.Store // the shared database (the audit)
	f       *storeFaults
	crashed *atomic.Bool
}

var _ store.Store = (*procStore)(nil)

// via runs do (on a crash point set to the call's fault) after the request's trip,
// unless the process crashed meanwhile.
func via[T any](s *procStore, method, key string, do func(fs *enginetest.FaultyStore) T, dead T) T {
	c := s.f.draw(method, key)
	time.Sleep(c.in)
	if s.crashed.Load() {
		return dead
	}
	out := do(&enginetest.FaultyStore{Store: s.db, Inject: func(string) enginetest.Fault { return c.fault }})
	time.Sleep(c.out)
	return out
}

func (s *procStore) Migrate(context.Context) error { return nil }
func (s *procStore) Ping(context.Context) error    { return nil }

func (s *procStore) Begin(ctx context.Context, txs []*store.Transaction) []error {
	dead := make([]error, len(txs))
	for i := range dead {
		dead[i] = enginetest.ErrUnreachable
	}
	key := ""
	if len(txs) > 0 {
		key = txs[0].XID
	}
	return via(s, "Begin", key, func(fs *enginetest.FaultyStore) []error { return fs.Begin(ctx, txs) }, dead)
}

func (s *procStore) Decide(ctx context.Context, ds []store.Decision) []store.DecideResult {
	dead := make([]store.DecideResult, len(ds))
	for i := range dead {
		dead[i].Err = enginetest.ErrUnreachable
	}
	key := ""
	if len(ds) > 0 {
		key = ds[0].XID
	}
	return via(s, "Decide", key, func(fs *enginetest.FaultyStore) []store.DecideResult { return fs.Decide(ctx, ds) }, dead)
}

type pair[A any] struct {
	v   A
	err error
}

func (s *procStore) Apply(ctx context.Context, r store.Results) ([]string, error) {
	key := ""
	switch {
	case len(r.Branches) > 0:
		key = r.Branches[0].XID + "/" + r.Branches[0].BranchID + "/" + string(r.Branches[0].Status)
	case len(r.Finishes) > 0:
		key = r.Finishes[0].XID
	case len(r.Attention) > 0:
		key = r.Attention[0]
	}
	o := via(s, "Apply", key, func(fs *enginetest.FaultyStore) pair[[]string] {
		f, err := fs.Apply(ctx, r)
		return pair[[]string]{f, err}
	},
		pair[[]string]{nil, enginetest.ErrUnreachable})
	return o.v, o.err
}

func (s *procStore) Claim(ctx context.Context, xid, from, to string) (bool, error) {
	o := via(s, "Claim", xid, func(fs *enginetest.FaultyStore) pair[bool] {
		ok, err := fs.Claim(ctx, xid, from, to)
		return pair[bool]{ok, err}
	},
		pair[bool]{false, enginetest.ErrUnreachable})
	return o.v, o.err
}

func (s *procStore) Get(ctx context.Context, xid string) (*store.Transaction, error) {
	o := via(s, "Get", xid, func(fs *enginetest.FaultyStore) pair[*store.Transaction] {
		t, err := fs.Get(ctx, xid)
		return pair[*store.Transaction]{t, err}
	}, pair[*store.Transaction]{nil, enginetest.ErrUnreachable})
	return o.v, o.err
}

func (s *procStore) GetByIdempotencyKey(ctx context.Context, key string) (*store.Transaction, error) {
	o := via(s, "GetByIdempotencyKey", key, func(fs *enginetest.FaultyStore) pair[*store.Transaction] {
		t, err := fs.GetByIdempotencyKey(ctx, key)
		return pair[*store.Transaction]{t, err}
	}, pair[*store.Transaction]{nil, enginetest.ErrUnreachable})
	return o.v, o.err
}

func (s *procStore) List(ctx context.Context, f store.ListFilter) ([]store.Transaction, error) {
	o := via(s, "List", f.After, func(fs *enginetest.FaultyStore) pair[[]store.Transaction] {
		ts, err := fs.List(ctx, f)
		return pair[[]store.Transaction]{ts, err}
	}, pair[[]store.Transaction]{nil, enginetest.ErrUnreachable})
	return o.v, o.err
}

func (s *procStore) Unfinished(ctx context.Context, after string, limit int) ([]store.Header, error) {
	o := via(s, "Unfinished", after, func(fs *enginetest.FaultyStore) pair[[]store.Header] {
		hs, err := fs.Unfinished(ctx, after, limit)
		return pair[[]store.Header]{hs, err}
	}, pair[[]store.Header]{nil, enginetest.ErrUnreachable})
	return o.v, o.err
}

func hashKey(k string) uint64 {
	h := fnv.New64a()
	_, _ = io.WriteString(h, k)
	return h.Sum64()
}
