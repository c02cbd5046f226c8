package store_test

import (
	"context"
	"testing"

	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/internal/migrate/migratetest"
	"github.com/tccsuite/tccsuite/internal/testenv"
	"github.com/tccsuite/tccsuite/pkg/tcc"
	"github.com/tccsuite/tccsuite/services/inventory/internal/domain"
	"github.com/tccsuite/tccsuite/services/inventory/internal/store"
)

// TestUpgradeFromUnversioned upgrades a database made before versioned migrations (the
// barrier's table by tcc.Migrate and the stock table, as that code did; no history)
// holding stock: Migrate adopts it, the data is intact, the schema is at the newest
// version, and the store works on it.
func TestUpgradeFromUnversioned(t *testing.T) {
	for name, open := range testenv.Databases(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db := open(t)
			if err := tcc.Migrate(ctx, db); err != nil {
				t.Fatal(err)
			}
			migratetest.Legacy(t, db, store.Schema, 1)
			s := store.New(db)
			if _, err := s.Put(ctx, "sku-old", domain.Restock{Price: 100, Available: 10}); err != nil {
				t.Fatal(err)
			}
			r := domain.Reservation{OrderID: "o-1", SKU: "sku-old", Quantity: 3, UnitPrice: 100}
			if err := db.Transaction(func(tx *gorm.DB) error { return s.Reserve(ctx, tx, r) }); err != nil {
				t.Fatal(err)
			}

			if err := store.Migrate(ctx, db); err != nil {
				t.Fatal(err)
			}
			migratetest.AtLatest(t, db, store.Schema)

			if it := mustGet(t, s, "sku-old"); it.Price != 100 || it.Available != 7 || it.Reserved != 3 {
				t.Fatalf("after the upgrade: %+v", it)
			}
			if err := db.Transaction(func(tx *gorm.DB) error { return s.Sell(ctx, tx, r) }); err != nil {
				t.Fatal(err)
			}
			if it := mustGet(t, s, "sku-old"); it.Reserved != 0 || it.Sold != 3 {
				t.Fatalf("after the sale: %+v", it)
			}
		})
	}
}

// TestBarrierTableAsTheSDKMakesIt: the barrier table of the inventory migrations is the
// one the SDK's tcc.Migrate makes.
func TestBarrierTableAsTheSDKMakesIt(t *testing.T) {
	migratetest.SameTable(t, store.Schema, "tcc_barrier", tcc.Migrate)
}
