package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/tccsuite/tccsuite/internal/testenv"
	"github.com/tccsuite/tccsuite/pkg/tcc"
	"github.com/tccsuite/tccsuite/services/order/internal/domain"
	"github.com/tccsuite/tccsuite/services/order/internal/history"
	"github.com/tccsuite/tccsuite/services/order/internal/store"
)

// heldCoordinator confirms every transaction, idempotently by key (the same key: the same
// transaction), and holds the first begin until open: the first request is then in
// flight, its key claimed, for as long as the test needs.
type heldCoordinator struct {
	held    chan struct{}
	release chan struct{}
	once    sync.Once

	mu  sync.Mutex
	txs map[string]*tcc.Transaction
}

func newHeldCoordinator() *heldCoordinator {
	return &heldCoordinator{held: make(chan struct{}), release: make(chan struct{}), txs: map[string]*tcc.Transaction{}}
}

func (c *heldCoordinator) open() { c.once.Do(func() { close(c.release) }) }

func (c *heldCoordinator) Begin(ctx context.Context, _ tcc.BeginRequest, key string) (*tcc.Transaction, error) {
	c.mu.Lock()
	tx, ok := c.txs[key]
	first := len(c.txs) == 0
	if !ok {
		tx = &tcc.Transaction{XID: fmt.Sprintf("x-%d", len(c.txs)+1), Status: tcc.TxConfirmed}
		c.txs[key] = tx
	}
	c.mu.Unlock()
	if first {
		close(c.held)
		select {
		case <-c.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return tx, nil
}

type fixedCatalogue struct{}

func (fixedCatalogue) Price(context.Context, string) (int64, error) { return 100, nil }
func (fixedCatalogue) Forget(string)                                {}

// historyOutput is the answer POST /api/v1/orders would give for Place's result.
func historyOutput(p Placed, err error) (history.Output, error) {
	var refused *domain.RefusedError
	var unavailable *domain.UnavailableError
	switch {
	case err == nil:
		return history.Output{Kind: history.Placed, OrderID: p.OrderID}, nil
	case errors.Is(err, domain.ErrKeyReused):
		return history.Output{Kind: history.KeyReused}, nil
	case errors.As(err, &refused):
		return history.Output{Kind: history.Refused, Code: refused.Code, OrderID: refused.OrderID}, nil
	case errors.As(err, &unavailable):
		return history.Output{Kind: history.Unknown, Code: unavailable.Code}, nil
	}
	return history.Output{}, err
}

// TestHistoryCheckerCatchesKeyOnlyJoin is the evidence that the history checker
// (services/order/app's TestPlacementHistory) bites: it records the history of the old
// bug's interleaving, forced with channels as services/order/app's TestConcurrentKeyReuse
// does — a keyed order is in flight (held in the coordinator, its key claimed), a request
// with the same key and another body arrives, then the first completes, then each body
// is replayed — on the service as it is and on a variant whose single flight joins by
// key only (joinAnyBody). The first history is linearizable (the second body gets 422);
// the second is not (the second body got the first's 201), and the checker says so. The
// visualization is written to ORDER_HISTORY_DIR if set, else to the test's temporary
// directory, and its path and the shortest offending pair of operations are logged (go
// test -v -run TestHistoryCheckerCatchesKeyOnlyJoin ./services/order/internal/service).
func TestHistoryCheckerCatchesKeyOnlyJoin(t *testing.T) {
	db := testenv.MySQL(t, 8)
	if err := store.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		joinAnyBody bool
		want        porcupine.CheckResult
	}{
		{"single flight by key and body", false, porcupine.Ok},
		{"single flight by key only (the old bug)", true, porcupine.Illegal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			coord := newHeldCoordinator()
			defer coord.open()
			s := New(Config{TxTimeout: time.Second, Wait: tcc.WaitCompletion}, store.New(db), coord, fixedCatalogue{}, NoAccountCheck{},
				slog.New(slog.DiscardHandler))
			s.joinAnyBody = tc.joinAnyBody
			joined := make(chan struct{}, 1)
			s.onJoin = func() {
				select {
				case joined <- struct{}{}:
				default:
				}
			}
			key := fmt.Sprintf("k-%t", tc.joinAnyBody)
			bodyA := domain.PlaceRequest{UserID: "alice", SKU: "WIDGET", Quantity: 1}
			bodyB := domain.PlaceRequest{UserID: "alice", SKU: "WIDGET", Quantity: 2}
			rec := history.NewRecorder()
			var failed []error
			var mu sync.Mutex
			place := func(client int, req domain.PlaceRequest, meta string) {
				done := rec.Call(client, history.Input{Key: key, Body: fmt.Sprintf("%s/%s/%d", req.UserID, req.SKU, req.Quantity)}, meta)
				out, err := historyOutput(s.Place(context.Background(), req, key))
				if err != nil {
					mu.Lock()
					failed = append(failed, err)
					mu.Unlock()
				}
				done(out, false)
			}
			var wg sync.WaitGroup
			wg.Go(func() { place(0, bodyA, "first, held in the coordinator") })
			<-coord.held // the first claimed the key and is in the coordinator
			second := make(chan struct{})
			wg.Go(func() { defer close(second); place(1, bodyB, "same key, another body, while the first is in flight") })
			if tc.joinAnyBody {
				<-joined // it joined the first: it will answer the first's answer
			} else {
				<-second // it answered while the first is still held
			}
			coord.open()
			wg.Wait()
			place(2, bodyB, "replay of the second body")
			place(3, bodyA, "replay of the first body")
			if len(failed) > 0 {
				t.Fatalf("unexpected errors: %v", failed)
			}

			ops := rec.Operations()
			dir := os.Getenv("ORDER_HISTORY_DIR")
			if dir == "" {
				dir = t.TempDir()
			}
			rep, err := history.Check(ops, 10*time.Second, dir, "key-only-join")
			if err != nil {
				t.Fatal(err)
			}
			for _, op := range ops {
				t.Logf("  %s", history.Describe(op))
			}
			if rep.Result != tc.want {
				t.Fatalf("the checker says %s, want %s", rep.Result, tc.want)
			}
			if rep.Result == porcupine.Illegal {
				t.Logf("not linearizable, as expected; visualization: %s", rep.Visualization)
				concurrent := false // the old bug itself: both bodies answered the same 201
				for _, p := range rep.Pairs {
					a, b := p[0].Output.(history.Output), p[1].Output.(history.Output)
					concurrent = concurrent || a.Kind == history.Placed && b == a && p[0].Input != p[1].Input && p[1].Call < p[0].Return
				}
				if !concurrent {
					t.Errorf("the offending pairs do not include the concurrent requests that answered the same 201: %v", rep.Pairs)
				}
				for i, p := range rep.Pairs {
					what := "offending pair"
					if i == 0 {
						what = "shortest offending pair"
					}
					t.Logf("%s:\n  %s\n  %s", what, history.Describe(p[0]), history.Describe(p[1]))
				}
			}
		})
	}
}
