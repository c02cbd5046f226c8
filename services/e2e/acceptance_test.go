package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// Acceptance 1: confirmed, out of stock, insufficient funds, each moving (or not) every
// counter as docs/design.md §6 says.
func TestOrderLifecycle(t *testing.T) {
	s := newSuite(t)
	s.putStock("WIDGET", 250, 10)
	s.putAccount("alice", 10_000)
	s.putAccount("poor", 300)

	st, m := s.order("alice", "WIDGET", 4, "")
	if st != 201 || m["status"] != "CONFIRMED" || num(m, "amount") != 1000 {
		t.Fatalf("order: %d %v", st, m)
	}
	expect(t, "stock", s.get(s.inventoryURL+"/api/v1/stock/WIDGET"), map[string]int64{"available": 6, "reserved": 0, "sold": 4})
	expect(t, "alice", s.get(s.paymentURL+"/api/v1/accounts/alice"), map[string]int64{"balance": 9000, "frozen": 0, "captured": 1000})
	if st, o := s.do("GET", s.orderURL+"/api/v1/orders/"+m["order_id"].(string), "", nil); st != 200 || o["status"] != "CONFIRMED" || o["xid"] != m["xid"] {
		_, tx := s.do("GET", s.coordURL+"/v1/transactions/"+m["xid"].(string), "", nil)
		t.Fatalf("order row: %d %v; the order's answer %v; its transaction %v", st, o, m, tx)
	}
	tx := s.get(s.coordURL + "/v1/transactions/" + m["xid"].(string))
	if tx["status"] != "CONFIRMED" {
		t.Fatalf("transaction: %v", tx)
	}

	st, m = s.order("alice", "WIDGET", 7, "")
	if st != 409 || m["code"] != "OUT_OF_STOCK" {
		t.Fatalf("out of stock: %d %v", st, m)
	}
	expect(t, "stock", s.get(s.inventoryURL+"/api/v1/stock/WIDGET"), map[string]int64{"available": 6, "reserved": 0, "sold": 4})
	expect(t, "alice", s.get(s.paymentURL+"/api/v1/accounts/alice"), map[string]int64{"balance": 9000, "frozen": 0, "captured": 1000})
	if o := s.get(s.orderURL + "/api/v1/orders/" + m["order_id"].(string)); o["status"] != "CANCELLED" {
		t.Fatalf("refused order: %v", o)
	}

	st, m = s.order("poor", "WIDGET", 2, "")
	if st != 409 || m["code"] != "INSUFFICIENT_FUNDS" {
		t.Fatalf("insufficient funds: %d %v", st, m)
	}
	expect(t, "stock back", s.get(s.inventoryURL+"/api/v1/stock/WIDGET"), map[string]int64{"available": 6, "reserved": 0, "sold": 4})
	expect(t, "poor", s.get(s.paymentURL+"/api/v1/accounts/poor"), map[string]int64{"balance": 300, "frozen": 0, "captured": 0})

	// The price changes: an order priced from the (briefly cached) old price is refused
	// by the inventory's Try with PRICE_CHANGED and holds nothing; the next one is priced
	// anew.
	s.putStock("WIDGET", 260, 6)
	st, m = s.order("alice", "WIDGET", 1, "")
	if st == 409 && m["code"] == "PRICE_CHANGED" {
		expect(t, "alice", s.get(s.paymentURL+"/api/v1/accounts/alice"), map[string]int64{"balance": 9000, "frozen": 0})
		st, m = s.order("alice", "WIDGET", 1, "")
	}
	if st != 201 || num(m, "amount") != 260 {
		t.Fatalf("after a price change: %d %v", st, m)
	}
	s.invariants(map[string]int64{"WIDGET": 6 + 4}, map[string]int64{"alice": 10_000, "poor": 300})
}

// Acceptance 2: 200 concurrent orders for 50 in stock: exactly 50 confirmed.
func TestNoOversell(t *testing.T) {
	s := newSuite(t)
	s.putStock("HOT", 100, 50)
	users := map[string]int64{}
	for i := 0; i < 20; i++ {
		u := fmt.Sprintf("u%02d", i)
		users[u] = 1_000_000
		s.putAccount(u, 1_000_000)
	}
	const n = 200
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		codes = map[string]int{}
	)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			// A well-behaved client: a 503 (undecided, or cancelled by a technical
			// failure such as the shared test server running out of connections) is
			// retried with the same Idempotency-Key until the order is decided.
			var st int
			var m map[string]any
			for attempt := 0; attempt < 20; attempt++ {
				if st, m = s.order(fmt.Sprintf("u%02d", i%20), "HOT", 1, fmt.Sprintf("hot-%d", i)); st != 503 {
					break
				}
			}
			mu.Lock()
			defer mu.Unlock()
			codes[fmt.Sprintf("%d %v", st, m["code"])]++
		}(i)
	}
	close(start)
	wg.Wait()
	if codes["201 <nil>"] != 50 || codes["409 OUT_OF_STOCK"] != 150 {
		t.Fatalf("answers: %v", codes)
	}
	expect(t, "stock", s.get(s.inventoryURL+"/api/v1/stock/HOT"), map[string]int64{"available": 0, "reserved": 0, "sold": 50})
	if c := s.invariants(map[string]int64{"HOT": 50}, users); c != 50 {
		t.Fatalf("%d confirmed orders", c)
	}
}

// Acceptance 3: one Idempotency-Key sent 20 times at once: one order, one capture, the
// same answer each time; the key with another body: 422.
func TestIdempotency(t *testing.T) {
	s := newSuite(t)
	s.putStock("GADGET", 500, 100)
	s.putAccount("bob", 100_000)
	var wg sync.WaitGroup
	answers := make([]string, 20)
	start := make(chan struct{})
	for i := range answers {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			st, m := s.order("bob", "GADGET", 3, "idem-1")
			answers[i] = fmt.Sprint(st, m)
		}(i)
	}
	close(start)
	wg.Wait()
	for i, a := range answers {
		if a != answers[0] || a[:3] != "201" {
			t.Fatalf("answer %d: %s; first %s", i, a, answers[0])
		}
	}
	expect(t, "stock", s.get(s.inventoryURL+"/api/v1/stock/GADGET"), map[string]int64{"available": 97, "reserved": 0, "sold": 3})
	expect(t, "bob", s.get(s.paymentURL+"/api/v1/accounts/bob"), map[string]int64{"balance": 98_500, "frozen": 0, "captured": 1500})
	if st, m := s.order("bob", "GADGET", 3, "idem-1"); fmt.Sprint(st, m) != answers[0] {
		t.Fatalf("later replay: %d %v", st, m)
	}
	if st, m := s.order("bob", "GADGET", 4, "idem-1"); st != 422 || m["code"] != "IDEMPOTENCY_KEY_REUSED" {
		t.Fatalf("other body: %d %v", st, m)
	}
	if c := s.invariants(map[string]int64{"GADGET": 100}, map[string]int64{"bob": 100_000}); c != 1 {
		t.Fatalf("%d confirmed orders", c)
	}
}

// Acceptance 5: the payment service stops while orders are placed: they fail cleanly
// (409 or 503, never 201 without a capture); once it is back and recovery ran, nothing
// stays reserved or frozen and no order stays PENDING.
func TestPaymentOutage(t *testing.T) {
	s := newSuite(t)
	s.putStock("ITEM", 100, 1000)
	users := map[string]int64{"carol": 1_000_000, "dave": 1_000_000}
	for u, b := range users {
		s.putAccount(u, b)
	}
	// Warm the order service's account cache, as a running shop would have.
	for u := range users {
		if st, m := s.order(u, "ITEM", 1, ""); st != 201 {
			t.Fatalf("warm-up: %d %v", st, m)
		}
	}
	// Eight clients place orders; the payment service is stopped once ten answers came
	// back, so it goes away while orders are in flight. Every answer must be 201 (those
	// are checked for their capture below), 409 or 503.
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		codes   = map[int]int{}
		answers int
		stopped = make(chan struct{})
	)
	next := make(chan int)
	go func() {
		for i := 0; i < 30; i++ {
			next <- i
		}
		close(next)
	}()
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				st, _ := s.order([]string{"carol", "dave"}[i%2], "ITEM", 1, fmt.Sprintf("outage-%d", i))
				mu.Lock()
				codes[st]++
				answers++
				if answers == 10 {
					go func() { s.stopPayment(); close(stopped) }()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	<-stopped
	for st := range codes {
		if st != 201 && st != 409 && st != 503 {
			t.Fatalf("answers around the outage: %v", codes)
		}
	}
	if codes[503]+codes[409] == 0 {
		t.Fatalf("no order met the outage: %v", codes)
	}
	t.Logf("answers around the outage: %v", codes)
	// Payment comes back on the same address; the coordinator's retries and recovery
	// finish every cancellation.
	s.startPayment(listen(t, s.paymentAddr))
	s.waitReady(s.paymentURL)
	s.eventually(60*time.Second, "recovery", func() bool {
		it := s.get(s.inventoryURL + "/api/v1/stock/ITEM")
		if num(it, "reserved") != 0 {
			return false
		}
		for u := range users {
			if num(s.get(s.paymentURL+"/api/v1/accounts/"+u), "frozen") != 0 {
				return false
			}
			for _, o := range s.get(s.orderURL + "/api/v1/orders?user_id=" + u + "&limit=1000")["orders"].([]any) {
				if o.(map[string]any)["status"] == "PENDING" {
					return false
				}
			}
		}
		return true
	})
	s.invariants(map[string]int64{"ITEM": 1000}, users)
	// And the shop works again.
	if st, m := s.order("carol", "ITEM", 1, ""); st != 201 {
		t.Fatalf("after recovery: %d %v", st, m)
	}
}
