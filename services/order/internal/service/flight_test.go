package service

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tccsuite/tccsuite/internal/testenv"
	"github.com/tccsuite/tccsuite/pkg/tcc"
	"github.com/tccsuite/tccsuite/services/order/internal/domain"
	"github.com/tccsuite/tccsuite/services/order/internal/store"
)

// blockingCatalogue prices every SKU at 100, but its first call waits until its context
// ends (the leading request's client hanging up) and fails with that.
// (The first call hands over on entered however late the test receives: a select with
// a default let a leader that came first price at once, and the test then waited
// forever.)
type blockingCatalogue struct {
	entered chan struct{}
	first   atomic.Bool
}

func (k *blockingCatalogue) Price(ctx context.Context, _ string) (int64, error) {
	if k.first.CompareAndSwap(false, true) {
		k.entered <- struct{}{}
		<-ctx.Done()
		return 0, ctx.Err()
	}
	return 100, nil
}
func (*blockingCatalogue) Forget(string) {}

// confirmingCoordinator confirms every transaction.
type confirmingCoordinator struct{}

func (confirmingCoordinator) Begin(_ context.Context, _ tcc.BeginRequest, key string) (*tcc.Transaction, error) {
	return &tcc.Transaction{XID: "x-" + key, Status: tcc.TxConfirmed}, nil
}

// TestJoinerOutlivesAHungUpLeader: a keyed request that joined an in-flight duplicate
// whose client hung up before its outcome was known does not inherit that hang-up (it
// would answer 503 or worse to a client that is still there): it places the order itself.
func TestJoinerOutlivesAHungUpLeader(t *testing.T) {
	db := testenv.SQLite(t)
	if err := store.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	cat := &blockingCatalogue{entered: make(chan struct{})}
	s := New(Config{TxTimeout: time.Second, Wait: tcc.WaitCompletion}, store.New(db), confirmingCoordinator{}, cat, NoAccountCheck{}, slog.New(slog.DiscardHandler))
	joined := make(chan struct{})
	s.onJoin = func() { close(joined) }
	req := domain.PlaceRequest{UserID: "u-1", SKU: "SKU-1", Quantity: 2}

	leaderCtx, hangUp := context.WithCancel(context.Background())
	leader := make(chan error, 1)
	go func() { _, err := s.Place(leaderCtx, req, "k-1"); leader <- err }()
	<-cat.entered // the leader is pricing
	joiner := make(chan error, 1)
	var placed Placed
	go func() {
		var err error
		placed, err = s.Place(context.Background(), req, "k-1")
		joiner <- err
	}()
	<-joined
	hangUp()
	if err := <-leader; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader: %v, want its own cancellation", err)
	}
	if err := <-joiner; err != nil {
		t.Fatalf("joiner: %v, want the order placed", err)
	}
	if placed.Amount != 200 || placed.OrderID == "" {
		t.Fatalf("joiner placed %+v", placed)
	}
}
