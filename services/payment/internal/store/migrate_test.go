package store_test

import (
	"context"
	"testing"

	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/internal/migrate/migratetest"
	"github.com/tccsuite/tccsuite/internal/testenv"
	"github.com/tccsuite/tccsuite/pkg/tcc"
	"github.com/tccsuite/tccsuite/services/payment/internal/domain"
	"github.com/tccsuite/tccsuite/services/payment/internal/store"
)

// TestUpgradeFromUnversioned upgrades a database made before versioned migrations (the
// barrier's table by tcc.Migrate, the accounts and payments tables, as that code did; no
// history) holding an account and a payment: Migrate adopts it, the data is intact, the
// schema is at the newest version, and the store works on it.
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
			if _, err := s.Put(ctx, "acc-old", 1000); err != nil {
				t.Fatal(err)
			}
			h := domain.Hold{OrderID: "o-1", AccountID: "acc-old", Amount: 300}
			if err := db.Transaction(func(tx *gorm.DB) error {
				if err := s.Freeze(ctx, tx, h); err != nil {
					return err
				}
				return s.Capture(ctx, tx, "x-1", h)
			}); err != nil {
				t.Fatal(err)
			}

			if err := store.Migrate(ctx, db); err != nil {
				t.Fatal(err)
			}
			migratetest.AtLatest(t, db, store.Schema)

			if a := mustGet(t, s, "acc-old"); a.Balance != 700 || a.Frozen != 0 || a.Captured != 300 {
				t.Fatalf("after the upgrade: %+v", a)
			}
			if ps, err := s.Payments(ctx, "o-1"); err != nil || len(ps) != 1 || ps[0].XID != "x-1" || ps[0].Amount != 300 {
				t.Fatalf("payments after the upgrade: %+v %v", ps, err)
			}
			h2 := domain.Hold{OrderID: "o-2", AccountID: "acc-old", Amount: 100}
			if err := db.Transaction(func(tx *gorm.DB) error { return s.Freeze(ctx, tx, h2) }); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestBarrierTableAsTheSDKMakesIt: the barrier table of the payment migrations is the
// one the SDK's tcc.Migrate makes.
func TestBarrierTableAsTheSDKMakesIt(t *testing.T) {
	migratetest.SameTable(t, store.Schema, "tcc_barrier", tcc.Migrate)
}
