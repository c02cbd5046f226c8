package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/internal/testenv"
	"github.com/tccsuite/tccsuite/services/payment/internal/domain"
	"github.com/tccsuite/tccsuite/services/payment/internal/store"
)

// The contract every database must honour, run on MariaDB and SQLite alike.
func TestStoreContract(t *testing.T) {
	for name, open := range testenv.Databases(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("put get list", func(t *testing.T) { testPutGetList(t, newStore(t, open(t))) })
			t.Run("freeze capture release", func(t *testing.T) { testFreezeCaptureRelease(t, open(t)) })
			t.Run("refusals change nothing", func(t *testing.T) { testRefusals(t, open(t)) })
			t.Run("no overdraft under concurrency", func(t *testing.T) { testNoOverdraft(t, open(t)) })
		})
	}
}

func newStore(t *testing.T, db *gorm.DB) *store.Store {
	t.Helper()
	for i := 0; i < 2; i++ { // migrations are idempotent
		if err := store.Migrate(context.Background(), db); err != nil {
			t.Fatal(err)
		}
	}
	return store.New(db)
}

func mustGet(t *testing.T, s *store.Store, id string) domain.Account {
	t.Helper()
	a, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func testPutGetList(t *testing.T, s *store.Store) {
	ctx := context.Background()
	if _, err := s.Get(ctx, "nobody"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	for i := 0; i < 4; i++ {
		if _, err := s.Put(ctx, fmt.Sprintf("u%d", i), 1000); err != nil {
			t.Fatal(err)
		}
	}
	a, err := s.Put(ctx, "u0", 5)
	if err != nil || a.Balance != 5 || a.Frozen != 0 || a.Captured != 0 {
		t.Fatalf("reset: %v %+v", err, a)
	}
	page, err := s.List(ctx, "", 3)
	if err != nil || len(page) != 3 || page[0].ID != "u0" {
		t.Fatalf("list: %v %+v", err, page)
	}
	page, err = s.List(ctx, "u2", 10)
	if err != nil || len(page) != 1 || page[0].ID != "u3" {
		t.Fatalf("list after: %v %+v", err, page)
	}
}

func testFreezeCaptureRelease(t *testing.T, db *gorm.DB) {
	ctx := context.Background()
	s := newStore(t, db)
	if _, err := s.Put(ctx, "alice", 1000); err != nil {
		t.Fatal(err)
	}
	h := domain.Hold{OrderID: "o1", AccountID: "alice", Amount: 300}
	if err := db.Transaction(func(tx *gorm.DB) error { return s.Freeze(ctx, tx, h) }); err != nil {
		t.Fatal(err)
	}
	if a := mustGet(t, s, "alice"); a.Balance != 700 || a.Frozen != 300 || a.Captured != 0 {
		t.Fatalf("after freeze: %+v", a)
	}
	if err := db.Transaction(func(tx *gorm.DB) error { return s.Capture(ctx, tx, "x1", h) }); err != nil {
		t.Fatal(err)
	}
	if a := mustGet(t, s, "alice"); a.Balance != 700 || a.Frozen != 0 || a.Captured != 300 {
		t.Fatalf("after capture: %+v", a)
	}
	ps, err := s.Payments(ctx, "o1")
	if err != nil || len(ps) != 1 || ps[0].Amount != 300 || ps[0].XID != "x1" {
		t.Fatalf("payments: %v %+v", err, ps)
	}
	// A second capture of the same order is refused even with frozen funds to take.
	h2 := domain.Hold{OrderID: "o2", AccountID: "alice", Amount: 200}
	if err := db.Transaction(func(tx *gorm.DB) error { return s.Freeze(ctx, tx, h2) }); err != nil {
		t.Fatal(err)
	}
	dup := domain.Hold{OrderID: "o1", AccountID: "alice", Amount: 200}
	if err := db.Transaction(func(tx *gorm.DB) error { return s.Capture(ctx, tx, "x1", dup) }); !errors.Is(err, domain.ErrInconsistent) {
		t.Fatalf("double capture: %v", err)
	}
	if err := db.Transaction(func(tx *gorm.DB) error { return s.Release(ctx, tx, h2) }); err != nil {
		t.Fatal(err)
	}
	if a := mustGet(t, s, "alice"); a.Balance != 700 || a.Frozen != 0 || a.Captured != 300 {
		t.Fatalf("after release: %+v", a)
	}
	if err := db.Transaction(func(tx *gorm.DB) error { return s.Release(ctx, tx, h2) }); !errors.Is(err, domain.ErrInconsistent) {
		t.Fatalf("release unfrozen: %v", err)
	}
	n, total, err := s.CountPayments(ctx)
	if err != nil || n != 1 || total != 300 {
		t.Fatalf("count: %d %d %v", n, total, err)
	}
}

func testRefusals(t *testing.T, db *gorm.DB) {
	ctx := context.Background()
	s := newStore(t, db)
	if _, err := s.Put(ctx, "bob", 100); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		h    domain.Hold
		want error
	}{
		{"insufficient", domain.Hold{OrderID: "o", AccountID: "bob", Amount: 101}, domain.ErrInsufficientFunds},
		{"unknown account", domain.Hold{OrderID: "o", AccountID: "carol", Amount: 1}, domain.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := db.Transaction(func(tx *gorm.DB) error { return s.Freeze(ctx, tx, tc.h) })
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if a := mustGet(t, s, "bob"); a.Balance != 100 || a.Frozen != 0 {
				t.Fatalf("changed: %+v", a)
			}
		})
	}
}

func testNoOverdraft(t *testing.T, db *gorm.DB) {
	ctx := context.Background()
	s := newStore(t, db)
	const funds, amount, payers = 1000, 70, 40 // 14 holds fit
	if _, err := s.Put(ctx, "pool", funds); err != nil {
		t.Fatal(err)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ok, nsf  int
		failures []error
	)
	start := make(chan struct{})
	for i := 0; i < payers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			h := domain.Hold{OrderID: fmt.Sprint(i), AccountID: "pool", Amount: amount}
			err := db.Transaction(func(tx *gorm.DB) error { return s.Freeze(ctx, tx, h) })
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, domain.ErrInsufficientFunds):
				nsf++
			default:
				failures = append(failures, err)
			}
		}(i)
	}
	close(start)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("unexpected errors: %v", failures)
	}
	if ok != funds/amount || nsf != payers-funds/amount {
		t.Fatalf("froze %d, refused %d", ok, nsf)
	}
	if a := mustGet(t, s, "pool"); a.Balance != funds%amount || a.Frozen != int64(ok*amount) {
		t.Fatalf("final: %+v", a)
	}
}
