package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/internal/testenv"
	"github.com/tccsuite/tccsuite/services/inventory/internal/domain"
	"github.com/tccsuite/tccsuite/services/inventory/internal/store"
)

// The contract every database must honour, run on MariaDB and SQLite alike.
func TestStoreContract(t *testing.T) {
	for name, open := range testenv.Databases(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("put get list", func(t *testing.T) { testPutGetList(t, newStore(t, open(t))) })
			t.Run("reserve sell release", func(t *testing.T) { testReserveSellRelease(t, open(t)) })
			t.Run("refusals change nothing", func(t *testing.T) { testRefusals(t, open(t)) })
			t.Run("no oversell under concurrency", func(t *testing.T) { testNoOversell(t, open(t)) })
		})
	}
}

func newStore(t *testing.T, db *gorm.DB) *store.Store {
	t.Helper()
	if err := store.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(context.Background(), db); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	return store.New(db)
}

func inTx(db *gorm.DB, fn func(tx *gorm.DB) error) error {
	return db.Transaction(fn)
}

func mustGet(t *testing.T, s *store.Store, sku string) domain.Item {
	t.Helper()
	it, err := s.Get(context.Background(), sku)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

func testPutGetList(t *testing.T, s *store.Store) {
	ctx := context.Background()
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	for i := 0; i < 5; i++ {
		if _, err := s.Put(ctx, fmt.Sprintf("sku-%d", i), domain.Restock{Price: int64(100 + i), Available: 10}); err != nil {
			t.Fatal(err)
		}
	}
	it, err := s.Put(ctx, "sku-0", domain.Restock{Price: 150, Available: 7})
	if err != nil {
		t.Fatal(err)
	}
	if it.Price != 150 || it.Available != 7 || it.Reserved != 0 || it.Sold != 0 {
		t.Fatalf("reset: %+v", it)
	}
	page, err := s.List(ctx, "", 3)
	if err != nil || len(page) != 3 || page[0].SKU != "sku-0" {
		t.Fatalf("list: %v %+v", err, page)
	}
	page, err = s.List(ctx, "sku-2", 10)
	if err != nil || len(page) != 2 || page[0].SKU != "sku-3" {
		t.Fatalf("list after: %v %+v", err, page)
	}
}

func testReserveSellRelease(t *testing.T, db *gorm.DB) {
	ctx := context.Background()
	s := newStore(t, db)
	if _, err := s.Put(ctx, "A", domain.Restock{Price: 250, Available: 10}); err != nil {
		t.Fatal(err)
	}
	r := domain.Reservation{OrderID: "o1", SKU: "A", Quantity: 3, UnitPrice: 250}
	if err := inTx(db, func(tx *gorm.DB) error { return s.Reserve(ctx, tx, r) }); err != nil {
		t.Fatal(err)
	}
	if it := mustGet(t, s, "A"); it.Available != 7 || it.Reserved != 3 || it.Sold != 0 {
		t.Fatalf("after reserve: %+v", it)
	}
	if err := inTx(db, func(tx *gorm.DB) error { return s.Sell(ctx, tx, r) }); err != nil {
		t.Fatal(err)
	}
	if it := mustGet(t, s, "A"); it.Available != 7 || it.Reserved != 0 || it.Sold != 3 {
		t.Fatalf("after sell: %+v", it)
	}
	r2 := domain.Reservation{OrderID: "o2", SKU: "A", Quantity: 2, UnitPrice: 250}
	if err := inTx(db, func(tx *gorm.DB) error { return s.Reserve(ctx, tx, r2) }); err != nil {
		t.Fatal(err)
	}
	// An admin reset keeps the reservation, so its cancel still balances.
	if _, err := s.Put(ctx, "A", domain.Restock{Price: 250, Available: 20}); err != nil {
		t.Fatal(err)
	}
	if err := inTx(db, func(tx *gorm.DB) error { return s.Release(ctx, tx, r2) }); err != nil {
		t.Fatal(err)
	}
	if it := mustGet(t, s, "A"); it.Available != 22 || it.Reserved != 0 || it.Sold != 3 {
		t.Fatalf("after release: %+v", it)
	}
	// Selling or releasing what is not reserved is refused and changes nothing.
	err := inTx(db, func(tx *gorm.DB) error { return s.Sell(ctx, tx, r2) })
	if !errors.Is(err, domain.ErrInconsistent) {
		t.Fatalf("sell unreserved: %v", err)
	}
	err = inTx(db, func(tx *gorm.DB) error { return s.Release(ctx, tx, r2) })
	if !errors.Is(err, domain.ErrInconsistent) {
		t.Fatalf("release unreserved: %v", err)
	}
	if it := mustGet(t, s, "A"); it.Available != 22 || it.Reserved != 0 || it.Sold != 3 {
		t.Fatalf("after refused moves: %+v", it)
	}
}

func testRefusals(t *testing.T, db *gorm.DB) {
	ctx := context.Background()
	s := newStore(t, db)
	if _, err := s.Put(ctx, "B", domain.Restock{Price: 100, Available: 2}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		r    domain.Reservation
		want error
	}{
		{"out of stock", domain.Reservation{OrderID: "o", SKU: "B", Quantity: 3, UnitPrice: 100}, domain.ErrOutOfStock},
		{"price changed", domain.Reservation{OrderID: "o", SKU: "B", Quantity: 1, UnitPrice: 99}, domain.ErrPriceChanged},
		{"unknown sku", domain.Reservation{OrderID: "o", SKU: "C", Quantity: 1, UnitPrice: 100}, domain.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := inTx(db, func(tx *gorm.DB) error { return s.Reserve(ctx, tx, tc.r) })
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if it := mustGet(t, s, "B"); it.Available != 2 || it.Reserved != 0 {
				t.Fatalf("changed: %+v", it)
			}
		})
	}
}

// testNoOversell races many reservations against little stock: exactly the stock is
// reserved, never more, and no update is lost.
func testNoOversell(t *testing.T, db *gorm.DB) {
	ctx := context.Background()
	s := newStore(t, db)
	const stock, buyers = 25, 60
	if _, err := s.Put(ctx, "HOT", domain.Restock{Price: 10, Available: stock}); err != nil {
		t.Fatal(err)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ok, oos  int
		failures []error
	)
	start := make(chan struct{})
	for i := 0; i < buyers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			r := domain.Reservation{OrderID: fmt.Sprint(i), SKU: "HOT", Quantity: 1, UnitPrice: 10}
			err := inTx(db, func(tx *gorm.DB) error { return s.Reserve(ctx, tx, r) })
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, domain.ErrOutOfStock):
				oos++
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
	if ok != stock || oos != buyers-stock {
		t.Fatalf("reserved %d, refused %d; want %d and %d", ok, oos, stock, buyers-stock)
	}
	it := mustGet(t, s, "HOT")
	if it.Available != 0 || it.Reserved != stock {
		t.Fatalf("final: %+v", it)
	}
}
