package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/tccsuite/tccsuite/internal/testenv"
)

func startMember(t *testing.T, endpoint, name string) *Member {
	t.Helper()
	m, err := New(testConfig(endpoint, name, 2*time.Second))
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

// waitFor polls cond until it holds or the bounded deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMillionIDsFromTwoInstances(t *testing.T) {
	ep := testenv.Etcd(t)
	a, b := startMember(t, ep, "a"), startMember(t, ep, "b")
	ea, _ := a.Epoch()
	eb, _ := b.Epoch()
	if ea.Worker == eb.Worker {
		t.Fatalf("same worker %d", ea.Worker)
	}
	const n = 500_000
	ids := make([][]string, 2)
	var wg sync.WaitGroup
	for i, m := range []*Member{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := make([]string, 0, n)
			for len(out) < n {
				id, err := m.NextID()
				if err != nil {
					t.Error(err)
					return
				}
				out = append(out, id)
			}
			ids[i] = out
		}()
	}
	wg.Wait()
	all := append(append([]string(nil), ids[0]...), ids[1]...)
	if len(all) != 2*n {
		t.Fatalf("got %d IDs", len(all))
	}
	for _, s := range ids {
		if !sort.StringsAreSorted(s) {
			t.Fatal("IDs of one instance not time-ordered")
		}
	}
	sort.Strings(all)
	for i := 1; i < len(all); i++ {
		if all[i] == all[i-1] {
			t.Fatalf("duplicate ID %s", all[i])
		}
	}
}

func TestNoIDsAfterRevocationUntilRejoin(t *testing.T) {
	ep := testenv.Etcd(t)
	m := startMember(t, ep, "r")
	e1, err := m.Epoch()
	if err != nil {
		t.Fatal(err)
	}
	changed := m.Changed()
	if _, err := m.Client().Revoke(context.Background(), e1.Lease()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("lease loss not noticed")
	}
	if e1.Context().Err() == nil {
		t.Fatal("old epoch's context still live")
	}
	// Until the new epoch, no IDs: check every ID issued from now on comes from a new
	// lease with a worker number claimed under it.
	var e2 *Epoch
	waitFor(t, 15*time.Second, "re-join", func() bool {
		id, err := m.NextID()
		if err != nil {
			if !errors.Is(err, ErrNoLease) {
				t.Fatalf("NextID: %v", err)
			}
			return false
		}
		e, eerr := m.Epoch()
		if eerr != nil || e == e1 || e.Lease() == e1.Lease() {
			t.Fatalf("ID %s issued without a new lease", id)
		}
		e2 = e
		return true
	})
	if e2.Owner == e1.Owner {
		t.Fatal("owner tag reused across epochs")
	}
	live, err := m.LiveOwners(context.Background())
	if err != nil || !live[e2.Owner] || live[e1.Owner] {
		t.Fatalf("live owners %v %v", live, err)
	}
}

func TestCloseRevokes(t *testing.T) {
	ep := testenv.Etcd(t)
	a, b := startMember(t, ep, "a"), startMember(t, ep, "b")
	ea, _ := a.Epoch()
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.NextID(); !errors.Is(err, ErrNoLease) {
		t.Fatalf("closed member issued an ID: %v", err)
	}
	live, err := b.LiveOwners(context.Background())
	if err != nil || live[ea.Owner] {
		t.Fatalf("closed member still live right after Close: %v %v", live, err)
	}
}

func TestLocks(t *testing.T) {
	ep := testenv.Etcd(t)
	a, b := startMember(t, ep, "a"), startMember(t, ep, "b")
	ea, _ := a.Epoch()
	eb, _ := b.Epoch()
	ctx := context.Background()
	if err := a.Lock(ctx, ea, "sku-1", "x1"); err != nil {
		t.Fatal(err)
	}
	if err := a.Lock(ctx, ea, "sku-1", "x1"); err != nil {
		t.Fatalf("re-entrant lock: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err := b.Lock(short, eb, "sku-1", "x2")
	cancel()
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second holder: %v", err)
	}
	// A waiter gets the lock as soon as it is released.
	got := make(chan error, 1)
	go func() { got <- b.Lock(ctx, eb, "sku-1", "x2") }()
	if err := a.Unlock(ctx, ea, "sku-1", "x2"); err != nil { // not the holder: no effect
		t.Fatal(err)
	}
	select {
	case err := <-got:
		t.Fatalf("lock taken while held: %v", err)
	default:
	}
	if err := a.Unlock(ctx, ea, "sku-1", "x1"); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	// A lease that ends frees the key: a's waiter gets it when b closes.
	go func() { got <- a.Lock(ctx, ea, "sku-1", "x3") }()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("lock not freed by lease end")
	}
	resp, err := a.Client().Get(ctx, LocksPrefix+"sku-1")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "x3" {
		t.Fatalf("holder: %v %v", resp, err)
	}
	_ = fmt.Sprint()
}
