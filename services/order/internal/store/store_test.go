package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/internal/testenv"
	"github.com/tccsuite/tccsuite/services/order/internal/domain"
	"github.com/tccsuite/tccsuite/services/order/internal/store"
)

func TestStoreContract(t *testing.T) {
	for name, open := range testenv.Databases(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("order life", func(t *testing.T) { testOrderLife(t, open(t)) })
			t.Run("claim race", func(t *testing.T) { testClaimRace(t, open(t)) })
			t.Run("purge keys", func(t *testing.T) { testPurgeKeys(t, open(t)) })
		})
	}
}

// TestClaimWithClientFoundRows: a MySQL DSN asking for clientFoundRows (the server then
// counts matched rows, and an insert-ignore of an existing key reports 1 affected row)
// is normalised by dbx.Open, so a second claim of a key still finds the first one's
// record and never claims anew: one order per key. Without the normalisation the second
// claimant would take the key over with its own order ID.
func TestClaimWithClientFoundRows(t *testing.T) {
	cfg, err := mysqldrv.ParseDSN(testenv.NewMySQLDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ClientFoundRows = true
	dsn := cfg.FormatDSN()
	if !strings.Contains(dsn, "clientFoundRows=true") {
		t.Fatalf("DSN without clientFoundRows: %s", dsn)
	}
	db, err := dbx.Open(context.Background(), dbx.Config{MySQLDSN: dsn, MaxOpenConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dbx.Close(db) })
	ctx := context.Background()
	s := newStore(t, db)
	first, err := claim(ctx, s, "k", "o-first")
	if err != nil || first.OrderID != "o-first" {
		t.Fatalf("first claim: %+v %v", first, err)
	}
	for _, id := range []string{"o-second", "o-third"} {
		again, err := s.Claim(ctx, store.IdemRecord{Key: "k", Fingerprint: "fp", OrderID: id, UnitPrice: 7, Amount: 7, TimeoutMS: 2000})
		if err != nil || again.OrderID != "o-first" || again.UnitPrice != 5 || again.TimeoutMS != 1000 {
			t.Fatalf("claim %s took the key over: %+v %v", id, again, err)
		}
	}
	var n int64
	if err := db.Raw("SELECT COUNT(*) FROM idempotency_keys WHERE order_id = 'o-first'").Scan(&n).Error; err != nil || n != 1 {
		t.Fatalf("the key's record: %d, %v", n, err)
	}
}

// claim claims key with fingerprint "fp" for orderID (unit price 5, amount 5, 1s).
func claim(ctx context.Context, s *store.Store, key, orderID string) (store.IdemRecord, error) {
	return s.Claim(ctx, store.IdemRecord{Key: key, Fingerprint: "fp", OrderID: orderID, UnitPrice: 5, Amount: 5, TimeoutMS: 1000})
}

func newStore(t *testing.T, db *gorm.DB) *store.Store {
	t.Helper()
	for i := 0; i < 2; i++ {
		if err := store.Migrate(context.Background(), db); err != nil {
			t.Fatal(err)
		}
	}
	return store.New(db)
}

func testOrderLife(t *testing.T, db *gorm.DB) {
	ctx := context.Background()
	s := newStore(t, db)
	p := domain.Placement{OrderID: "o-1", UserID: "u", SKU: "S", Quantity: 2, UnitPrice: 5, Amount: 10}
	if err := db.Transaction(func(tx *gorm.DB) error { return s.Insert(ctx, tx, "x1", p) }); err != nil {
		t.Fatal(err)
	}
	o, err := s.Get(ctx, "o-1")
	if err != nil || o.Status != domain.StatusPending || o.XID != "x1" || o.Amount != 10 {
		t.Fatalf("%v %+v", err, o)
	}
	if err := db.Transaction(func(tx *gorm.DB) error { return s.Finish(ctx, tx, "o-1", domain.StatusConfirmed) }); err != nil {
		t.Fatal(err)
	}
	// Finishing again the same way is harmless; the other way is an inconsistency.
	if err := db.Transaction(func(tx *gorm.DB) error { return s.Finish(ctx, tx, "o-1", domain.StatusConfirmed) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Transaction(func(tx *gorm.DB) error { return s.Finish(ctx, tx, "o-1", domain.StatusCancelled) }); !errors.Is(err, domain.ErrInconsistent) {
		t.Fatalf("confirmed then cancelled: %v", err)
	}
	if err := db.Transaction(func(tx *gorm.DB) error { return s.Finish(ctx, tx, "o-404", domain.StatusCancelled) }); !errors.Is(err, domain.ErrInconsistent) {
		t.Fatalf("missing order: %v", err)
	}
	if _, err := s.Get(ctx, "o-404"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatal(err)
	}
	list, err := s.ListByUser(ctx, "u", "", 10)
	if err != nil || len(list) != 1 {
		t.Fatalf("%v %+v", err, list)
	}
	// A refused order whose Try never committed is recorded CANCELLED; a late Try then
	// fails and changes nothing, and recording again (or over a PENDING row) is a no-op.
	q := domain.Placement{OrderID: "o-2", UserID: "u", SKU: "S", Quantity: 1, UnitPrice: 5, Amount: 5}
	for i := 0; i < 2; i++ {
		if err := s.RecordCancelled(ctx, "x2", q); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Transaction(func(tx *gorm.DB) error { return s.Insert(ctx, tx, "x2", q) }); err == nil {
		t.Fatal("a late Try inserted over a recorded cancellation")
	}
	if o, err := s.Get(ctx, "o-2"); err != nil || o.Status != domain.StatusCancelled {
		t.Fatalf("%v %+v", err, o)
	}
	if err := s.RecordCancelled(ctx, "x1", p); err != nil {
		t.Fatal(err)
	}
	if o, _ := s.Get(ctx, "o-1"); o.Status != domain.StatusConfirmed {
		t.Fatalf("recording over an existing order changed it: %+v", o)
	}
	counts, err := s.CountByStatus(ctx)
	if err != nil || counts[domain.StatusConfirmed] != 1 {
		t.Fatalf("%v %v", err, counts)
	}
}

// testClaimRace: many claimants of one key, concurrently: exactly one order ID wins and
// every claimant sees it.
func testClaimRace(t *testing.T, db *gorm.DB) {
	ctx := context.Background()
	s := newStore(t, db)
	var wg sync.WaitGroup
	got := make([]string, 20)
	errs := make([]error, 20)
	start := make(chan struct{})
	for i := range got {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			rec, err := s.Claim(ctx, store.IdemRecord{Key: "k", Fingerprint: "fp", OrderID: fmt.Sprintf("o-%d", i),
				UnitPrice: int64(i + 1), Amount: 2 * int64(i+1), TimeoutMS: 1000 + int64(i)})
			if err == nil && (rec.Amount != 2*rec.UnitPrice || rec.OrderID != fmt.Sprintf("o-%d", rec.UnitPrice-1) || !rec.Priced()) {
				err = fmt.Errorf("placement not the winner's: %+v", rec)
			}
			got[i], errs[i] = fmt.Sprintf("%s/%d/%d", rec.OrderID, rec.UnitPrice, rec.TimeoutMS), err
		}(i)
	}
	close(start)
	wg.Wait()
	for i := range got {
		if errs[i] != nil || got[i] != got[0] {
			t.Fatalf("claimant %d: %q %v; first %q", i, got[i], errs[i], got[0])
		}
	}
	// Every claimant got the winner's order ID and priced placement.
	winner, found, err := s.Lookup(ctx, "k")
	if err != nil || !found || fmt.Sprintf("%s/%d/%d", winner.OrderID, winner.UnitPrice, winner.TimeoutMS) != got[0] {
		t.Fatalf("lookup: %+v %v %v; claimants got %s", winner, found, err, got[0])
	}
	got[0] = winner.OrderID
	if _, found, err := s.Lookup(ctx, "nope"); found || err != nil {
		t.Fatalf("lookup of an unknown key: %v %v", found, err)
	}
	rec := store.IdemRecord{Key: "k", OrderID: got[0], XID: "x", Amount: 5, Outcome: domain.OutcomeConfirmed}
	if err := s.Decide(ctx, rec); err != nil {
		t.Fatal(err)
	}
	again, err := claim(ctx, s, "k", "o-new")
	if err != nil || again.Outcome != domain.OutcomeConfirmed || again.OrderID != got[0] || again.XID != "x" {
		t.Fatalf("%v %+v", err, again)
	}
	// A decided key is never forgotten; an undecided one is.
	if err := s.Forget(ctx, "k", got[0]); err != nil {
		t.Fatal(err)
	}
	if r, _ := claim(ctx, s, "k", "o-new"); r.OrderID != got[0] {
		t.Fatalf("decided key forgotten: %+v", r)
	}
	if r, _ := claim(ctx, s, "k2", "o-a"); r.OrderID != "o-a" {
		t.Fatal(r)
	}
	if err := s.Forget(ctx, "k2", "o-a"); err != nil {
		t.Fatal(err)
	}
	if r, _ := claim(ctx, s, "k2", "o-b"); r.OrderID != "o-b" {
		t.Fatalf("undecided key kept: %+v", r)
	}
}

// testPurgeKeys: keys older than the retention go, in batches; younger ones stay and
// still answer their claim.
func testPurgeKeys(t *testing.T, db *gorm.DB) {
	ctx := context.Background()
	s := newStore(t, db)
	for i := 0; i < 7; i++ {
		if _, err := claim(ctx, s, fmt.Sprintf("old-%d", i), fmt.Sprintf("o-old-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Exec("UPDATE idempotency_keys SET created_at = ?", time.Now().UTC().Add(-10*24*time.Hour)).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := claim(ctx, s, "young", "o-young"); err != nil {
		t.Fatal(err)
	}
	n, err := s.PurgeKeys(ctx, 7*24*time.Hour, 3)
	if err != nil || n != 7 {
		t.Fatalf("purged %d keys, %v; want 7", n, err)
	}
	rec, err := claim(ctx, s, "young", "o-other")
	if err != nil || rec.OrderID != "o-young" {
		t.Fatalf("the young key lost its claim: %+v, %v", rec, err)
	}
	rec, err = claim(ctx, s, "old-1", "o-new")
	if err != nil || rec.OrderID != "o-new" {
		t.Fatalf("a purged key was still claimed: %+v, %v", rec, err)
	}
	if _, err := s.PurgeKeys(ctx, 0, 3); err == nil {
		t.Fatal("a zero retention was accepted")
	}
}
