package cluster

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/tccsuite/tccsuite/internal/testenv"
)

func startMemberTTL(t *testing.T, endpoint, name string, ttl time.Duration) *Member {
	t.Helper()
	m, err := New(testConfig(endpoint, name, ttl))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	return m
}

// TestUnlockLeavesTheSuccessorsLock: a stale epoch's late release must not delete the
// lock that the transaction's new owner took again under its own lease, even though the
// value (the XID) is the same.
func TestUnlockLeavesTheSuccessorsLock(t *testing.T) {
	ep := testenv.Etcd(t)
	a, b := startMember(t, ep, "a"), startMember(t, ep, "b")
	ea, _ := a.Epoch()
	eb, _ := b.Epoch()
	ctx := context.Background()
	if err := a.Lock(ctx, ea, "sku-9", "x1"); err != nil {
		t.Fatal(err)
	}
	// a's lease ends (as after a crash or a partition); b takes x1 over and re-takes its key.
	if _, err := a.Client().Revoke(ctx, ea.Lease()); err != nil {
		t.Fatal(err)
	}
	if err := b.Lock(ctx, eb, "sku-9", "x1"); err != nil {
		t.Fatal(err)
	}
	// The old driver finishes late and releases "its" lock.
	if err := a.Unlock(ctx, ea, "sku-9", "x1"); err != nil {
		t.Fatal(err)
	}
	resp, err := b.Client().Get(ctx, LocksPrefix+"sku-9")
	if err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].Lease != int64(eb.Lease()) {
		t.Fatalf("the successor's lock was deleted by the stale owner: %v %v", resp, err)
	}
	// Its own holder releases it.
	if err := b.Unlock(ctx, eb, "sku-9", "x1"); err != nil {
		t.Fatal(err)
	}
	if resp, err := b.Client().Get(ctx, LocksPrefix+"sku-9"); err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("holder's release: %v %v", resp, err)
	}
}

// TestLockDeadline: a lock wait that ends while etcd answers that another transaction
// holds the key is LOCKED (a refusal); one that ends while etcd is unreachable is not:
// it is ErrUnavailable, and the caller must not answer it as a business refusal.
func TestLockDeadline(t *testing.T) {
	ep := testenv.Etcd(t)
	u, err := url.Parse(ep)
	if err != nil {
		t.Fatal(err)
	}
	px := testenv.NewProxy(t, u.Host)
	holder := startMember(t, ep, "holder")
	// A TTL far longer than the test keeps the waiter's epoch alive through the cut.
	waiter := startMemberTTL(t, "http://"+px.Addr(), "waiter", time.Minute)
	eh, _ := holder.Epoch()
	ew, _ := waiter.Epoch()
	if err := holder.Lock(context.Background(), eh, "sku-1", "x1"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		cut        bool
		want       error
		notWant    error
		waitBudget time.Duration
	}{
		{name: "held by another transaction", want: ErrLocked, waitBudget: 300 * time.Millisecond},
		{name: "etcd unreachable", cut: true, want: ErrUnavailable, notWant: ErrLocked, waitBudget: 500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cut {
				px.Cut()
				defer px.Restore()
			}
			ctx, cancel := context.WithTimeout(context.Background(), tc.waitBudget)
			err := waiter.Lock(ctx, ew, "sku-1", "x2")
			cancel()
			if !errors.Is(err, tc.want) || (tc.notWant != nil && errors.Is(err, tc.notWant)) {
				t.Fatalf("Lock = %v, want %v", err, tc.want)
			}
			if ew.Context().Err() != nil {
				t.Fatal("the waiter's epoch ended: the case tested nothing")
			}
		})
	}
}

// TestRejoinRevokesItsLostLease: when a Member's session ends on its side while etcd
// still holds the lease (as after an etcd restart, which restores leases and re-arms
// their TTL), the Member revokes that lease to free its instance key, instead of waiting
// out the TTL before it can join again.
func TestRejoinRevokesItsLostLease(t *testing.T) {
	ep := testenv.Etcd(t)
	m := startMemberTTL(t, ep, "s", time.Minute)
	e1, _ := m.Epoch()
	e1.Session.Orphan() // stops the keep-alives: the session is over here, not in etcd
	waitFor(t, 10*time.Second, "re-join under a new lease", func() bool {
		e, err := m.Epoch()
		return err == nil && e != e1 && e.Lease() != e1.Lease()
	})
	ttl, err := m.Client().TimeToLive(context.Background(), e1.Lease())
	if err != nil || ttl.TTL != -1 {
		t.Fatalf("the lost lease is still alive: %+v %v", ttl, err)
	}
}
