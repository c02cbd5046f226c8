package app

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// scripted answers Begin from a script of outcomes, recording the keys it was called with.
type scripted struct {
	mu      sync.Mutex
	answers []func(key string) (*tcc.Transaction, error)
	keys    []string
	inner   *driver
}

func (s *scripted) Begin(ctx context.Context, req tcc.BeginRequest, key string) (*tcc.Transaction, error) {
	s.mu.Lock()
	s.keys = append(s.keys, key)
	var next func(string) (*tcc.Transaction, error)
	if len(s.answers) > 0 {
		next, s.answers = s.answers[0], s.answers[1:]
	}
	s.mu.Unlock()
	if next == nil {
		return s.inner.Begin(ctx, req, key)
	}
	return next(key)
}

// TestUnavailable: the coordinator unreachable, undecided, or a transaction cancelled by
// a technical failure answer 503 with Retry-After and change nothing; a retry with the
// same Idempotency-Key then places the order once.
func TestUnavailable(t *testing.T) {
	var sc *scripted
	s := newSuite(t, onSQLite, nil, func(s *suite) interface {
		Begin(context.Context, tcc.BeginRequest, string) (*tcc.Transaction, error)
	} {
		sc = &scripted{inner: newDriver(map[string]string{"order": s.orderURL, "inventory": s.inventoryURL, "payment": s.paymentURL})}
		return sc
	})
	s.putStock("WIDGET", 250, 10)
	s.putAccount("alice", 10_000)
	sc.answers = []func(string) (*tcc.Transaction, error){
		func(string) (*tcc.Transaction, error) { return nil, errors.New("connection refused") },
		func(string) (*tcc.Transaction, error) {
			return nil, &tcc.APIError{Status: 503, Code: "UNDECIDED", XID: "x-undecided"}
		},
		func(string) (*tcc.Transaction, error) {
			return &tcc.Transaction{XID: "x-failed", Status: tcc.TxCancelled}, nil
		},
	}
	body := `{"user_id":"alice","sku":"WIDGET","quantity":1}`
	for _, want := range []string{"UNAVAILABLE", "UNDECIDED", "TRANSACTION_FAILED"} {
		st, m, h := s.order(body, "retry-me")
		if st != 503 || m["code"] != want || h.Get("Retry-After") == "" {
			t.Fatalf("want 503 %s: %d %v %v", want, st, m, h)
		}
	}
	expect(t, "stock", s.stock("WIDGET"), map[string]int64{"available": 10, "reserved": 0, "sold": 0})
	st, m, _ := s.order(body, "retry-me")
	if st != 201 {
		t.Fatalf("retry: %d %v", st, m)
	}
	again, m2, _ := s.order(body, "retry-me")
	if again != 201 || m2["order_id"] != m["order_id"] {
		t.Fatalf("replay: %d %v vs %v", again, m2, m)
	}
	expect(t, "stock", s.stock("WIDGET"), map[string]int64{"available": 9, "reserved": 0, "sold": 1})
	// Unreachable and undecided keep the claimed order (and so the coordinator key); a
	// technical cancellation releases it, so the successful retry used a fresh one.
	if len(sc.keys) != 4 || sc.keys[0] != sc.keys[1] || sc.keys[1] != sc.keys[2] || sc.keys[3] == sc.keys[2] {
		t.Fatalf("coordinator keys: %v", sc.keys)
	}
}
