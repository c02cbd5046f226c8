package store_test

import (
	"context"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/internal/migrate/migratetest"
	"github.com/tccsuite/tccsuite/internal/testenv"
	"github.com/tccsuite/tccsuite/pkg/tcc"
	"github.com/tccsuite/tccsuite/services/order/internal/domain"
	"github.com/tccsuite/tccsuite/services/order/internal/store"
)

// TestUpgradeFromUnversioned upgrades the databases the code before versioned migrations
// made, holding data: one made before the placement columns (version 1's tables; the
// barrier's by tcc.Migrate, as that code did), and one made after (versions 1 and 2's
// tables), whose columns version 2 must not add again. Migrate adopts each, the data is
// intact, the schema is at the newest version, and the store works on it.
func TestUpgradeFromUnversioned(t *testing.T) {
	for name, open := range testenv.Databases(t) {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				name   string
				upTo   int64
				priced bool // the old key holds its placement
			}{
				{"before the placement columns", 1, false},
				{"with the placement columns", 2, true},
			} {
				t.Run(tc.name, func(t *testing.T) { testUpgradeFrom(t, open(t), tc.upTo, tc.priced) })
			}
		})
	}
}

func testUpgradeFrom(t *testing.T, db *gorm.DB, upTo int64, priced bool) {
	ctx := context.Background()
	if err := tcc.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	migratetest.Legacy(t, db, store.Schema, upTo)
	now := time.Now().UTC()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"INSERT INTO orders (id, xid, user_id, sku, quantity, unit_price, amount, status, created_at, updated_at) VALUES ('o-old', 'x-old', 'u', 'S', 2, 5, 10, 'CONFIRMED', ?, ?)", []any{now, now}},
		{"INSERT INTO idempotency_keys (idem_key, fingerprint, order_id, xid, amount, outcome, created_at) VALUES ('k-old', 'fp', 'o-old', 'x-old', 10, 'CONFIRMED', ?)", []any{now}},
		{"INSERT INTO tcc_barrier (xid, branch_id, phase, origin_phase, created_at) VALUES ('x-old', 'b1', 'try', 'try', ?)", []any{now}},
	} {
		if err := db.Exec(q.sql, q.args...).Error; err != nil {
			t.Fatal(err)
		}
	}
	if priced {
		if err := db.Exec("UPDATE idempotency_keys SET unit_price = 5, timeout_ms = 1000 WHERE idem_key = 'k-old'").Error; err != nil {
			t.Fatal(err)
		}
	}

	if err := store.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	migratetest.AtLatest(t, db, store.Schema)

	s := store.New(db)
	o, err := s.Get(ctx, "o-old")
	if err != nil || o.XID != "x-old" || o.Amount != 10 || o.Status != domain.StatusConfirmed {
		t.Fatalf("old order: %+v %v", o, err)
	}
	rec, found, err := s.Lookup(ctx, "k-old")
	if err != nil || !found || rec.OrderID != "o-old" || rec.Amount != 10 || rec.Outcome != "CONFIRMED" || rec.Priced() != priced {
		t.Fatalf("old key: %+v %v %v", rec, found, err)
	}
	var barrier int64
	if err := db.Raw("SELECT COUNT(*) FROM tcc_barrier WHERE xid = 'x-old'").Scan(&barrier).Error; err != nil || barrier != 1 {
		t.Fatalf("barrier rows: %d %v", barrier, err)
	}
	if _, err := claim(ctx, s, "k-new", "o-new"); err != nil {
		t.Fatal(err)
	}
	if rec, _, err := s.Lookup(ctx, "k-new"); err != nil || !rec.Priced() || rec.UnitPrice != 5 {
		t.Fatalf("new key: %+v %v", rec, err)
	}
}

// TestBarrierTableAsTheSDKMakesIt: the barrier table of the order migrations is the one
// the SDK's tcc.Migrate makes.
func TestBarrierTableAsTheSDKMakesIt(t *testing.T) {
	migratetest.SameTable(t, store.Schema, "tcc_barrier", tcc.Migrate)
}
