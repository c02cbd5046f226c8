package app

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestOrderFlows(t *testing.T) {
	for name, kind := range map[string]dbKind{"mysql": onMySQL, "sqlite": onSQLite} {
		t.Run(name, func(t *testing.T) {
			s := newSuite(t, kind, nil, nil)
			s.putStock("WIDGET", 250, 10)
			s.putAccount("alice", 10_000)
			s.putAccount("poor", 100)

			t.Run("confirmed", func(t *testing.T) {
				st, m, _ := s.order(`{"user_id":"alice","sku":"WIDGET","quantity":3}`, "")
				if st != 201 || m["status"] != "CONFIRMED" || m["amount"] != float64(750) || m["order_id"] == nil || m["xid"] == nil {
					t.Fatalf("got %d %v", st, m)
				}
				expect(t, "stock", s.stock("WIDGET"), map[string]int64{"available": 7, "reserved": 0, "sold": 3})
				expect(t, "account", s.account("alice"), map[string]int64{"balance": 9250, "frozen": 0, "captured": 750})
				st, o, _ := s.do("GET", s.orderURL+"/api/v1/orders/"+m["order_id"].(string), "", nil)
				if st != 200 || o["status"] != "CONFIRMED" || o["user_id"] != "alice" || o["quantity"] != float64(3) {
					t.Fatalf("get order: %d %v", st, o)
				}
			})
			t.Run("out of stock", func(t *testing.T) {
				st, m, _ := s.order(`{"user_id":"alice","sku":"WIDGET","quantity":8}`, "")
				if st != 409 || m["code"] != "OUT_OF_STOCK" {
					t.Fatalf("got %d %v", st, m)
				}
				expect(t, "stock", s.stock("WIDGET"), map[string]int64{"available": 7, "reserved": 0, "sold": 3})
				expect(t, "account", s.account("alice"), map[string]int64{"balance": 9250, "frozen": 0, "captured": 750})
				_, o, _ := s.do("GET", s.orderURL+"/api/v1/orders/"+m["order_id"].(string), "", nil)
				if o["status"] != "CANCELLED" {
					t.Fatalf("order: %v", o)
				}
			})
			t.Run("insufficient funds", func(t *testing.T) {
				st, m, _ := s.order(`{"user_id":"poor","sku":"WIDGET","quantity":1}`, "")
				if st != 409 || m["code"] != "INSUFFICIENT_FUNDS" {
					t.Fatalf("got %d %v", st, m)
				}
				expect(t, "stock", s.stock("WIDGET"), map[string]int64{"available": 7, "reserved": 0, "sold": 3})
				expect(t, "account", s.account("poor"), map[string]int64{"balance": 100, "frozen": 0, "captured": 0})
			})
			t.Run("list by user", func(t *testing.T) {
				st, m, _ := s.do("GET", s.orderURL+"/api/v1/orders?user_id=alice", "", nil)
				if st != 200 || len(m["orders"].([]any)) != 2 {
					t.Fatalf("got %d %v", st, m)
				}
			})
		})
	}
}

// TestIdempotentOrder: one key sent 20 times at once places one order, captures once,
// and answers the same every time; the key with another body is refused with 422.
func TestIdempotentOrder(t *testing.T) {
	s := newSuite(t, onMySQL, nil, nil)
	s.putStock("GADGET", 100, 50)
	s.putAccount("bob", 100_000)
	body := `{"user_id":"bob","sku":"GADGET","quantity":2}`
	const n = 20
	var wg sync.WaitGroup
	answers := make([]string, n)
	codes := make([]int, n)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			st, m, _ := s.order(body, "key-123")
			codes[i], answers[i] = st, fmt.Sprint(m)
		}(i)
	}
	close(start)
	wg.Wait()
	for i := range answers {
		if codes[i] != 201 || answers[i] != answers[0] {
			t.Fatalf("answer %d: %d %s; first: %d %s", i, codes[i], answers[i], codes[0], answers[0])
		}
	}
	expect(t, "stock", s.stock("GADGET"), map[string]int64{"available": 48, "reserved": 0, "sold": 2})
	expect(t, "account", s.account("bob"), map[string]int64{"balance": 99_800, "frozen": 0, "captured": 200})
	_, list, _ := s.do("GET", s.orderURL+"/api/v1/orders?user_id=bob", "", nil)
	if len(list["orders"].([]any)) != 1 {
		t.Fatalf("orders: %v", list)
	}
	st, m, _ := s.order(body, "key-123")
	if st != 201 || fmt.Sprint(m) != answers[0] {
		t.Fatalf("replay: %d %v", st, m)
	}
	st, m, _ = s.order(strings.Replace(body, `"quantity":2`, `"quantity":3`, 1), "key-123")
	if st != 422 || m["code"] != "IDEMPOTENCY_KEY_REUSED" {
		t.Fatalf("other body: %d %v", st, m)
	}
	// A refused order replays its refusal.
	st1, m1, _ := s.order(`{"user_id":"bob","sku":"GADGET","quantity":1000}`, "key-big")
	st2, m2, _ := s.order(`{"user_id":"bob","sku":"GADGET","quantity":1000}`, "key-big")
	if st1 != 409 || st2 != 409 || fmt.Sprint(m1) != fmt.Sprint(m2) {
		t.Fatalf("refusal replay: %d %v / %d %v", st1, m1, st2, m2)
	}
}

// TestWithoutAccountCheck: with ORDER_ACCOUNT_CHECK=false the order service never calls
// the payment service; an unknown user is refused by the payment Try, with the same 422,
// the order recorded CANCELLED and nothing held.
func TestWithoutAccountCheck(t *testing.T) {
	s := newSuite(t, onSQLite, func(c *Config) { c.AccountCheck, c.PaymentURL = false, "" }, nil)
	s.putStock("WIDGET", 250, 10)
	st, m, _ := s.order(`{"user_id":"mallory","sku":"WIDGET","quantity":1}`, "")
	if st != 422 || m["code"] != "UNKNOWN_USER" || m["order_id"] == nil {
		t.Fatalf("got %d %v", st, m)
	}
	expect(t, "stock", s.stock("WIDGET"), map[string]int64{"available": 10, "reserved": 0, "sold": 0})
	_, o, _ := s.do("GET", s.orderURL+"/api/v1/orders/"+m["order_id"].(string), "", nil)
	if o["status"] != "CANCELLED" {
		t.Fatalf("order: %v", o)
	}
}
