package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tccsuite/tccsuite/coordinator/internal/engine"
	"github.com/tccsuite/tccsuite/coordinator/internal/engine/enginetest"
	"github.com/tccsuite/tccsuite/coordinator/internal/metrics"
	"github.com/tccsuite/tccsuite/coordinator/internal/registry"
	"github.com/tccsuite/tccsuite/coordinator/internal/store"
	"github.com/tccsuite/tccsuite/coordinator/internal/testpart"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// rig is an engine on an in-memory store and membership, calling two fake participants
// (a and b) over loopback HTTP. No database, no etcd.
type rig struct {
	eng    *engine.Engine
	mem    *enginetest.Membership
	mstore *enginetest.Store
	parts  map[string]*testpart.Participant
}

// newRig builds a rig; wrap, if set, wraps the in-memory store to inject faults.
func newRig(t *testing.T, wrap func(*enginetest.Store) store.Store) *rig {
	t.Helper()
	r := &rig{mem: enginetest.NewMembership("me", nil), mstore: enginetest.NewStore(), parts: map[string]*testpart.Participant{}}
	urls := map[string]string{}
	for _, n := range []string{"a", "b"} {
		r.parts[n] = testpart.New(t, n)
		urls[n] = r.parts[n].URL()
	}
	signer, err := tcc.NewSigner([]byte(testpart.Key))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(urls, registry.Options{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	var st store.Store = r.mstore
	if wrap != nil {
		st = wrap(r.mstore)
	}
	cfg := engine.DefaultConfig()
	cfg.RetryBase, cfg.RetryCap, cfg.ScanInterval, cfg.CompletionWait = time.Millisecond, 5*time.Millisecond, time.Hour, 5*time.Second
	r.eng, err = engine.New(cfg, engine.Deps{
		Store: st, Registry: reg, Membership: r.mem, Metrics: metrics.New(), Log: slog.New(slog.DiscardHandler),
		Jitter: func(time.Duration) time.Duration { return 0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// close stops the engine, flushing its asynchronous writes into the store.
func (r *rig) close() { r.eng.Close(5 * time.Second) }

func beginInput(wait string, lockKeys ...string) engine.BeginInput {
	return engine.BeginInput{
		Req: tcc.BeginRequest{Branches: []tcc.BranchSpec{
			{Participant: "a", Action: "x", Payload: json.RawMessage(`{}`)},
			{Participant: "b", Action: "y", Payload: json.RawMessage(`{}`)},
		}, Wait: wait, LockKeys: lockKeys},
		Timeout: 5 * time.Second,
	}
}

// stored reads xid from the in-memory store.
func (r *rig) stored(t *testing.T, xid string) *store.Transaction {
	t.Helper()
	tx, err := r.mstore.Get(context.Background(), xid)
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

// phases counts the 2xx-answered calls of phase for xid over both participants.
func (r *rig) phases(xid string, phase tcc.Phase) int {
	return r.parts["a"].Count(xid, phase) + r.parts["b"].Count(xid, phase)
}

func TestBeginConfirms(t *testing.T) {
	r := newRig(t, nil)
	out, err := r.eng.Begin(context.Background(), beginInput(tcc.WaitCompletion))
	if err != nil || !out.Reached || out.Tx.Status != tcc.TxConfirmed {
		t.Fatalf("begin: %+v %v", out, err)
	}
	r.close()
	if got := r.stored(t, out.Tx.XID); got.Status != tcc.TxConfirmed || got.Owner != "me#1" {
		t.Fatalf("stored %s owned by %s, want CONFIRMED by me#1", got.Status, got.Owner)
	}
	if n := r.phases(out.Tx.XID, tcc.PhaseConfirm); n != 2 {
		t.Fatalf("%d confirms, want 2", n)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	zero := engine.Config{}
	if _, err := engine.New(zero, engine.Deps{}); err == nil {
		t.Fatal("New accepted a zero Config (a zero scan interval would panic, a zero backoff spin)")
	}
	if _, err := engine.New(engine.DefaultConfig(), engine.Deps{}); err == nil {
		t.Fatal("New accepted missing dependencies")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := engine.DefaultConfig().Validate(); err != nil {
		t.Fatalf("the defaults are refused: %v", err)
	}
	cases := []struct {
		name   string
		change func(*engine.Config)
		field  string
	}{
		{"zero call timeout", func(c *engine.Config) { c.CallTimeout = 0 }, "CallTimeout"},
		{"zero retry base", func(c *engine.Config) { c.RetryBase = 0 }, "RetryBase"},
		{"cap below base", func(c *engine.Config) { c.RetryCap = c.RetryBase / 2 }, "RetryCap"},
		{"zero attention", func(c *engine.Config) { c.AttentionAfter = 0 }, "AttentionAfter"},
		{"zero scan interval", func(c *engine.Config) { c.ScanInterval = 0 }, "ScanInterval"},
		{"zero scan page", func(c *engine.Config) { c.ScanPage = 0 }, "ScanPage"},
		{"negative completion wait", func(c *engine.Config) { c.CompletionWait = -time.Second }, "CompletionWait"},
		{"zero workers", func(c *engine.Config) { c.BatchWorkers = 0 }, "BatchWorkers"},
		{"zero batch", func(c *engine.Config) { c.BatchMax = 0 }, "BatchMax"},
		{"huge batch", func(c *engine.Config) { c.BatchMax = 1 << 20 }, "BatchMax"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := engine.DefaultConfig()
			tc.change(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Validate = %v, want an error naming %s", err, tc.field)
			}
		})
	}
}

// decideHook wraps the store's Decide: the hook runs around each call with the
// in-memory store and the call number, and answers instead of it.
type decideHook struct {
	*enginetest.Store
	mu   sync.Mutex
	n    int
	hook func(n int, ds []store.Decision) []store.DecideResult
}

func (d *decideHook) Decide(_ context.Context, ds []store.Decision) []store.DecideResult {
	d.mu.Lock()
	d.n++
	n := d.n
	d.mu.Unlock()
	return d.hook(n, ds)
}

// unknown answers every decision of ds as of unknown outcome.
func unknown(ds []store.Decision) []store.DecideResult {
	out := make([]store.DecideResult, len(ds))
	for i := range out {
		out[i].Err = enginetest.ErrUnreachable
	}
	return out
}

// TestLostDecision: the first decision attempt commits but its answer is lost; the
// retry loses the compare-and-set, and the row tells whose decision it was.
func TestLostDecision(t *testing.T) {
	cases := []struct {
		name string
		// before runs in the first attempt, before the decision is applied.
		before     func(ms *enginetest.Store, ds []store.Decision)
		wantStatus tcc.TxStatus
		wantOwner  string
		confirms   int
	}{
		{"found ours: it is followed", func(*enginetest.Store, []store.Decision) {}, tcc.TxConfirmed, "me#1", 2},
		{"found someone else's: the run stops", func(ms *enginetest.Store, ds []store.Decision) {
			ctx := context.Background()
			if ok, err := ms.Claim(ctx, ds[0].XID, ds[0].Owner, "other#1"); !ok || err != nil {
				t.Errorf("claim: %v %v", ok, err)
			}
			ms.Decide(ctx, []store.Decision{{XID: ds[0].XID, Owner: "other#1", To: tcc.TxCancelling}})
		}, tcc.TxCancelling, "other#1", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, func(ms *enginetest.Store) store.Store {
				return &decideHook{Store: ms, hook: func(n int, ds []store.Decision) []store.DecideResult {
					if n > 1 {
						return ms.Decide(context.Background(), ds)
					}
					tc.before(ms, ds)
					ms.Decide(context.Background(), ds)
					return unknown(ds)
				}}
			})
			out, err := r.eng.Begin(context.Background(), beginInput(tcc.WaitCompletion))
			if err != nil {
				t.Fatal(err)
			}
			r.close()
			got := r.stored(t, out.Tx.XID)
			if got.Status != tc.wantStatus || got.Owner != tc.wantOwner {
				t.Fatalf("stored %s owned by %s, want %s owned by %s", got.Status, got.Owner, tc.wantStatus, tc.wantOwner)
			}
			if n := r.phases(out.Tx.XID, tcc.PhaseConfirm); n != tc.confirms {
				t.Fatalf("%d confirms, want %d", n, tc.confirms)
			}
			if r.phases(out.Tx.XID, tcc.PhaseCancel) != 0 {
				t.Fatal("this instance sent a Cancel of a transaction it did not decide to cancel")
			}
		})
	}
}

// TestLeaseLostBeforeDecision: a run whose lease ends during its Tries never decides;
// the transaction stays TRYING for recovery and no second phase goes out.
func TestLeaseLostBeforeDecision(t *testing.T) {
	r := newRig(t, nil)
	inTry := make(chan struct{})
	release := make(chan struct{})
	r.parts["a"].SetBehave(func(c testpart.Call) testpart.Answer {
		if c.Phase == tcc.PhaseTry {
			close(inTry)
			<-release
		}
		return testpart.Answer{}
	})
	type result struct {
		out engine.BeginOutcome
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := r.eng.Begin(context.Background(), beginInput(tcc.WaitCompletion))
		done <- result{out, err}
	}()
	<-inTry
	r.mem.LoseLease()
	close(release)
	res := <-done
	if res.err != nil || res.out.Reached || res.out.Tx.Status != tcc.TxTrying {
		t.Fatalf("begin answered %+v %v, want TRYING, not reached", res.out, res.err)
	}
	r.close()
	if r.mstore.Calls("Decide") != 0 {
		t.Fatal("a run without a lease recorded a decision")
	}
	if got := r.stored(t, res.out.Tx.XID); got.Status != tcc.TxTrying {
		t.Fatalf("stored %s, want TRYING (left to recovery)", got.Status)
	}
	if r.phases(res.out.Tx.XID, tcc.PhaseConfirm)+r.phases(res.out.Tx.XID, tcc.PhaseCancel) != 0 {
		t.Fatal("a second phase went out without a decision")
	}
}

// TestLeaseLostAfterDecision: the decision commits, its answer is lost, and the lease
// ends before the retry: the run reads the row, finds its own decision, and drives the
// second phase to the end without a lease.
func TestLeaseLostAfterDecision(t *testing.T) {
	var r *rig
	r = newRig(t, func(ms *enginetest.Store) store.Store {
		return &decideHook{Store: ms, hook: func(n int, ds []store.Decision) []store.DecideResult {
			res := ms.Decide(context.Background(), ds)
			if n > 1 {
				return res
			}
			r.mem.LoseLease()
			return unknown(ds)
		}}
	})
	out, err := r.eng.Begin(context.Background(), beginInput(tcc.WaitCompletion))
	if err != nil || out.Tx.Status != tcc.TxConfirmed {
		t.Fatalf("begin answered %+v %v, want CONFIRMED", out, err)
	}
	r.close()
	if got := r.stored(t, out.Tx.XID); got.Status != tcc.TxConfirmed {
		t.Fatalf("stored %s, want CONFIRMED", got.Status)
	}
	if n := r.mstore.Calls("Decide"); n != 1 {
		t.Fatalf("%d decision attempts, want 1 (no retry without a lease)", n)
	}
}

// TestTakeover: the recovery scan takes over a dead owner's unfinished transactions
// (CONFIRMING is confirmed, TRYING cancelled) and leaves a live owner's alone.
func TestTakeover(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	tx := func(xid, owner string, status tcc.TxStatus) *store.Transaction {
		t := &store.Transaction{XID: xid, Owner: owner, Status: status, Deadline: time.Now().Add(time.Minute), TimeoutMS: 60000}
		for i, p := range []string{"a", "b"} {
			t.Branches = append(t.Branches, store.Branch{BranchID: string(rune('1' + i)), Participant: p, Action: "x", Payload: []byte(`{}`), Status: tcc.BranchTried, Attempts: 1})
		}
		return t
	}
	for _, err := range r.mstore.Begin(ctx, []*store.Transaction{
		tx("d1", "dead#1", tcc.TxConfirming), tx("d2", "dead#1", tcc.TxTrying), tx("l1", "live#1", tcc.TxConfirming),
	}) {
		if err != nil {
			t.Fatal(err)
		}
	}
	r.mem.SetLive("live#1", true)
	if err := r.eng.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	r.close() // lets the adopted runs finish, then flushes their writes
	cases := []struct {
		xid    string
		status tcc.TxStatus
		owner  string
	}{
		{"d1", tcc.TxConfirmed, "me#1"},
		{"d2", tcc.TxCancelled, "me#1"},
		{"l1", tcc.TxConfirming, "live#1"},
	}
	for _, c := range cases {
		if got := r.stored(t, c.xid); got.Status != c.status || got.Owner != c.owner {
			t.Errorf("%s: %s owned by %s, want %s owned by %s", c.xid, got.Status, got.Owner, c.status, c.owner)
		}
	}
}

// TestLocked: a lock key held by another transaction until the deadline cancels the
// transaction with refusal LOCKED, and no Try goes out.
func TestLocked(t *testing.T) {
	r := newRig(t, nil)
	if err := r.mem.Current().Lock(context.Background(), "k", "someone-else"); err != nil {
		t.Fatal(err)
	}
	in := beginInput(tcc.WaitCompletion, "k")
	in.Timeout = 50 * time.Millisecond
	out, err := r.eng.Begin(context.Background(), in)
	if err != nil || out.Tx.Status != tcc.TxCancelled || out.Tx.Refusal == nil || out.Tx.Refusal.Code != engine.CodeLocked {
		t.Fatalf("begin answered %+v %v, want CANCELLED with refusal LOCKED", out, err)
	}
	if r.phases(out.Tx.XID, tcc.PhaseTry) != 0 {
		t.Fatal("a Try went out of a transaction refused LOCKED")
	}
	r.close()
}

// TestNotReadyWithoutLease: without a live epoch a begin is refused and nothing stored.
func TestNotReadyWithoutLease(t *testing.T) {
	r := newRig(t, nil)
	r.mem.LoseLease()
	if _, err := r.eng.Begin(context.Background(), beginInput(tcc.WaitCompletion)); !errors.Is(err, engine.ErrNotReady) {
		t.Fatalf("begin without a lease answered %v, want ErrNotReady", err)
	}
	r.close()
	if r.mstore.Calls("Begin") != 0 {
		t.Fatal("a begin without a lease was stored")
	}
}
