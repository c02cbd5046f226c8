package store_test

import (
	"context"
	"testing"

	"github.com/tccsuite/tccsuite/coordinator/internal/store"
	"github.com/tccsuite/tccsuite/internal/migrate/migratetest"
	"github.com/tccsuite/tccsuite/internal/testenv"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// TestUpgradeFromUnversioned upgrades a database made before versioned migrations (the
// tables of version 1, no history) holding transactions: Migrate adopts it, the data is
// intact, the schema is at the newest version, and the store works on it.
func TestUpgradeFromUnversioned(t *testing.T) {
	for name, open := range testenv.Databases(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db := open(t)
			migratetest.Legacy(t, db, store.Schema, 1)
			s, err := store.New(db)
			if err != nil {
				t.Fatal(err)
			}
			before := newTx("up-1", "o1", "key-up-1", 2)
			if errs := s.Begin(ctx, []*store.Transaction{before}); errs[0] != nil {
				t.Fatal(errs[0])
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			migratetest.AtLatest(t, db, store.Schema)
			got, err := s.GetByIdempotencyKey(ctx, "key-up-1")
			if err != nil {
				t.Fatal(err)
			}
			if got.XID != "up-1" || got.Status != tcc.TxTrying || len(got.Branches) != 2 || !got.Deadline.Equal(before.Deadline) ||
				string(got.Branches[1].Payload) != string(before.Branches[1].Payload) {
				t.Fatalf("after the upgrade: %+v", got)
			}
			res := s.Decide(ctx, []store.Decision{{XID: "up-1", Owner: "o1", To: tcc.TxConfirming}})
			if res[0].Err != nil || !res[0].Won {
				t.Fatalf("decide after the upgrade: %+v", res[0])
			}
			if errs := s.Begin(ctx, []*store.Transaction{newTx("up-2", "o1", "", 1)}); errs[0] != nil {
				t.Fatal(errs[0])
			}
		})
	}
}
