package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tccsuite/tccsuite/coordinator/internal/store"
	"github.com/tccsuite/tccsuite/internal/testenv"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// TestContract runs the one contract suite against every supported database.
func TestContract(t *testing.T) {
	for name, open := range testenv.Databases(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			newStore := func(t *testing.T) store.Store {
				s, err := store.New(open(t))
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Migrate(context.Background()); err != nil {
					t.Fatal(err)
				}
				if err := s.Migrate(context.Background()); err != nil {
					t.Fatalf("second migrate: %v", err)
				}
				return s
			}
			runContract(t, newStore(t))
		})
	}
}

func newTx(xid, owner, idem string, n int) *store.Transaction {
	t := &store.Transaction{
		XID: xid, Status: tcc.TxTrying, Owner: owner, Deadline: time.Now().Add(time.Minute).Truncate(time.Millisecond),
		TimeoutMS: 60000, IdempotencyKey: idem, RequestHash: "h-" + idem, RequestID: "rq", LockKeys: []string{"k1"},
	}
	for i := 0; i < n; i++ {
		t.Branches = append(t.Branches, store.Branch{
			BranchID: fmt.Sprint(i + 1), Participant: "inventory", Action: "reserve",
			Payload: []byte(`{"sku":"A","qty":1}`), Status: tcc.BranchRegistered,
		})
	}
	return t
}

func runContract(t *testing.T, s store.Store) {
	ctx := context.Background()

	t.Run("begin and get", func(t *testing.T) {
		tx := newTx("c-begin-1", "o1", "", 3)
		if errs := s.Begin(ctx, []*store.Transaction{tx}); errs[0] != nil {
			t.Fatal(errs[0])
		}
		got, err := s.Get(ctx, "c-begin-1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != tcc.TxTrying || got.Owner != "o1" || len(got.Branches) != 3 || got.Branches[2].BranchID != "3" ||
			string(got.Branches[0].Payload) != `{"sku":"A","qty":1}` || len(got.LockKeys) != 1 || !got.Deadline.Equal(tx.Deadline) {
			t.Fatalf("got %+v", got)
		}
		if _, err := s.Get(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing: %v", err)
		}
	})

	t.Run("batch with duplicates", func(t *testing.T) {
		a := newTx("c-dup-a", "o1", "key-a", 2)
		if errs := s.Begin(ctx, []*store.Transaction{a}); errs[0] != nil {
			t.Fatal(errs[0])
		}
		b := newTx("c-dup-b", "o1", "", 2)
		sameXID := newTx("c-dup-a", "o1", "", 1)
		sameKey := newTx("c-dup-c", "o1", "key-a", 1)
		errs := s.Begin(ctx, []*store.Transaction{b, sameXID, sameKey})
		if errs[0] != nil || !errors.Is(errs[1], store.ErrDuplicateXID) || !errors.Is(errs[2], store.ErrDuplicateIdempotencyKey) {
			t.Fatalf("errs %v", errs)
		}
		if _, err := s.Get(ctx, "c-dup-c"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("refused begin stored something: %v", err)
		}
		got, err := s.GetByIdempotencyKey(ctx, "key-a")
		if err != nil || got.XID != "c-dup-a" || len(got.Branches) != 2 {
			t.Fatalf("by key: %+v %v", got, err)
		}
	})

	t.Run("decide is a compare-and-set with fencing", func(t *testing.T) {
		var txs []*store.Transaction
		for i := 0; i < 20; i++ {
			txs = append(txs, newTx(fmt.Sprintf("c-dec-%02d", i), "o1", "", 1))
		}
		for _, err := range s.Begin(ctx, txs) {
			if err != nil {
				t.Fatal(err)
			}
		}
		// A stranger cannot decide.
		if r := s.Decide(ctx, []store.Decision{{XID: "c-dec-00", Owner: "o2", To: tcc.TxConfirming}}); r[0].Err != nil || r[0].Won {
			t.Fatalf("stranger decided: %+v", r)
		}
		// Racing deciders: each XID gets exactly one winner.
		var mu sync.Mutex
		wins := map[string][]tcc.TxStatus{}
		var wg sync.WaitGroup
		for g := 0; g < 6; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				to := tcc.TxConfirming
				if g%2 == 1 {
					to = tcc.TxCancelling
				}
				var ds []store.Decision
				for _, tx := range txs {
					ds = append(ds, store.Decision{XID: tx.XID, Owner: "o1", To: to, Refusal: &tcc.Refusal{Code: "X"}})
				}
				for i, r := range s.Decide(ctx, ds) {
					if r.Err != nil {
						t.Error(r.Err)
						continue
					}
					if r.Won {
						mu.Lock()
						wins[ds[i].XID] = append(wins[ds[i].XID], to)
						mu.Unlock()
					}
				}
			}(g)
		}
		wg.Wait()
		for _, tx := range txs {
			w := wins[tx.XID]
			if len(w) != 1 {
				t.Fatalf("%s: %d winners", tx.XID, len(w))
			}
			got, err := s.Get(ctx, tx.XID)
			if err != nil || got.Status != w[0] || got.Refusal == nil || got.Refusal.Code != "X" {
				t.Fatalf("%s: stored %+v, winner %s, %v", tx.XID, got, w[0], err)
			}
		}
	})

	t.Run("results claim list unfinished", func(t *testing.T) {
		a, b := newTx("c-res-a", "o1", "", 2), newTx("c-res-b", "o1", "", 1)
		for _, err := range s.Begin(ctx, []*store.Transaction{a, b}) {
			if err != nil {
				t.Fatal(err)
			}
		}
		if r := s.Decide(ctx, []store.Decision{{XID: "c-res-a", Owner: "o1", To: tcc.TxConfirming}}); !r[0].Won {
			t.Fatalf("decide: %+v", r)
		}
		_, err := s.Apply(ctx, store.Results{
			Branches: []store.BranchUpdate{
				{XID: "c-res-a", BranchID: "1", Participant: "inventory", Action: "reserve", Status: tcc.BranchConfirmed, Attempts: 2, LastError: "boom"},
				{XID: "c-res-a", BranchID: "2", Participant: "inventory", Action: "reserve", Status: tcc.BranchConfirmed, Attempts: 1},
			},
			Attention: []string{"c-res-b"},
			Finishes: []store.Finish{
				{XID: "c-res-a", From: tcc.TxConfirming, To: tcc.TxConfirmed},
				{XID: "c-res-b", From: tcc.TxCancelling, To: tcc.TxCancelled}, // not CANCELLING: no-op
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := s.Get(ctx, "c-res-a")
		if got.Status != tcc.TxConfirmed || got.Branches[0].Status != tcc.BranchConfirmed || got.Branches[0].Attempts != 2 ||
			got.Branches[0].LastError != "boom" || string(got.Branches[0].Payload) == "" {
			t.Fatalf("a: %+v", got)
		}
		gotB, _ := s.Get(ctx, "c-res-b")
		if gotB.Status != tcc.TxTrying || !gotB.Attention {
			t.Fatalf("b: %+v", gotB)
		}
		yes := true
		page, err := s.List(ctx, store.ListFilter{Attention: &yes, Limit: 10})
		if err != nil || len(page) != 1 || page[0].XID != "c-res-b" || len(page[0].Branches) != 1 {
			t.Fatalf("attention list: %+v %v", page, err)
		}
		page, err = s.List(ctx, store.ListFilter{Status: tcc.TxConfirmed, Limit: 10})
		if err != nil || len(page) != 1 || page[0].XID != "c-res-a" {
			t.Fatalf("status list: %+v %v", page, err)
		}
		// Paging in XID order.
		var all []string
		after := ""
		for {
			page, err := s.List(ctx, store.ListFilter{After: after, Limit: 7})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, p := range page {
				all = append(all, p.XID)
			}
			after = page[len(page)-1].XID
		}
		for i := 1; i < len(all); i++ {
			if all[i-1] >= all[i] {
				t.Fatalf("paging out of order: %v", all)
			}
		}
		// Claim: compare-and-set on the owner; finished rows cannot be claimed.
		if ok, err := s.Claim(ctx, "c-res-b", "o9", "o2"); err != nil || ok {
			t.Fatalf("claim from wrong owner: %v %v", ok, err)
		}
		if ok, err := s.Claim(ctx, "c-res-b", "o1", "o2"); err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
		if ok, _ := s.Claim(ctx, "c-res-b", "o1", "o3"); ok {
			t.Fatal("second claim won")
		}
		if ok, _ := s.Claim(ctx, "c-res-a", "o1", "o3"); ok {
			t.Fatal("claimed a finished transaction")
		}
		hs, err := s.Unfinished(ctx, "c-res-", 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(hs) != 1 || hs[0].XID != "c-res-b" || hs[0].Owner != "o2" || hs[0].Status != tcc.TxTrying {
			t.Fatalf("unfinished: %+v", hs)
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("results are fenced by owner", func(t *testing.T) {
		a, b := newTx("c-fence-a", "o1", "", 2), newTx("c-fence-b", "o1", "", 1)
		for _, err := range s.Begin(ctx, []*store.Transaction{a, b}) {
			if err != nil {
				t.Fatal(err)
			}
		}
		for _, x := range []string{"c-fence-a", "c-fence-b"} {
			if r := s.Decide(ctx, []store.Decision{{XID: x, Owner: "o1", To: tcc.TxConfirming}}); !r[0].Won {
				t.Fatalf("decide %s: %+v", x, r)
			}
		}
		// a is taken over by o2; o1's late writes on it must not land, b's must.
		if ok, err := s.Claim(ctx, "c-fence-a", "o1", "o2"); err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
		fenced, err := s.Apply(ctx, store.Results{
			Branches: []store.BranchUpdate{
				{XID: "c-fence-a", Owner: "o1", BranchID: "1", Participant: "inventory", Action: "reserve", Status: tcc.BranchConfirmed, Attempts: 1},
				{XID: "c-fence-b", Owner: "o1", BranchID: "1", Participant: "inventory", Action: "reserve", Status: tcc.BranchNotApplied, Attempts: 1, LastError: "HTTP 409 TCC_NOT_TRIED"},
			},
			Finishes: []store.Finish{
				{XID: "c-fence-a", Owner: "o1", From: tcc.TxConfirming, To: tcc.TxConfirmed},
				{XID: "c-fence-b", Owner: "o1", From: tcc.TxConfirming, To: tcc.TxConfirmed, Attention: true},
			},
		})
		if err != nil || len(fenced) != 1 || fenced[0] != "c-fence-a" {
			t.Fatalf("fenced %v, %v", fenced, err)
		}
		gotA, _ := s.Get(ctx, "c-fence-a")
		if gotA.Status != tcc.TxConfirming || gotA.Owner != "o2" || gotA.Branches[0].Status != tcc.BranchRegistered {
			t.Fatalf("a written through the fence: %+v", gotA)
		}
		gotB, _ := s.Get(ctx, "c-fence-b")
		if gotB.Status != tcc.TxConfirmed || !gotB.Attention || gotB.Branches[0].Status != tcc.BranchNotApplied ||
			gotB.Branches[0].LastError != "HTTP 409 TCC_NOT_TRIED" {
			t.Fatalf("b: %+v", gotB)
		}
		// The new owner's writes land.
		fenced, err = s.Apply(ctx, store.Results{Finishes: []store.Finish{{XID: "c-fence-a", Owner: "o2", From: tcc.TxConfirming, To: tcc.TxConfirmed}}})
		if err != nil || len(fenced) != 0 {
			t.Fatalf("new owner fenced %v, %v", fenced, err)
		}
		if gotA, _ = s.Get(ctx, "c-fence-a"); gotA.Status != tcc.TxConfirmed || gotA.Attention {
			t.Fatalf("a: %+v", gotA)
		}
	})
}
