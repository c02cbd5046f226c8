package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/tccsuite/tccsuite/internal/testenv"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

type beginner = interface {
	Begin(context.Context, tcc.BeginRequest, string) (*tcc.Transaction, error)
}

// gate is a coordinator in front of the test driver that is idempotent like the real one
// (a key's later begins must carry the same request, else 422 IDEMPOTENCY_KEY_REUSED,
// which names no transaction) and holds the first begin it gets: before the driver runs
// it, or, with after, once the driver decided and completed it (its answer delayed).
type gate struct {
	inner   *driver
	after   bool
	held    chan struct{} // closed once the first begin is held
	release chan struct{} // closed by open: the first begin goes on
	once    sync.Once

	mu     sync.Mutex
	bodies map[string]string
}

func newGate(s *suite, after bool) *gate {
	return &gate{inner: newDriver(map[string]string{"order": s.orderURL, "inventory": s.inventoryURL, "payment": s.paymentURL}),
		after: after, held: make(chan struct{}), release: make(chan struct{}), bodies: map[string]string{}}
}

// open lets the held begin go on; idempotent.
func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

func (g *gate) Begin(ctx context.Context, req tcc.BeginRequest, key string) (*tcc.Transaction, error) {
	raw, err := json.Marshal(struct {
		B []tcc.BranchSpec
		T int64
	}{req.Branches, req.TimeoutMS})
	if err != nil {
		return nil, err
	}
	body := string(raw)
	g.mu.Lock()
	first := len(g.bodies) == 0
	prev, seen := g.bodies[key]
	if !seen {
		g.bodies[key] = body
	}
	g.mu.Unlock()
	if seen && prev != body {
		return nil, &tcc.APIError{Status: http.StatusUnprocessableEntity, Code: "IDEMPOTENCY_KEY_REUSED", Message: "this Idempotency-Key was used with a different request"}
	}
	if !first {
		return g.inner.Begin(ctx, req, key)
	}
	hold := func() error {
		close(g.held)
		select {
		case <-g.release:
			return nil
		case <-ctx.Done(): // the caller gave up on the call
			return fmt.Errorf("coordinator call: %w", ctx.Err())
		}
	}
	if !g.after {
		if err := hold(); err != nil {
			return nil, err
		}
	}
	tx, err := g.inner.Begin(ctx, req, key)
	if err == nil && g.after {
		if err := hold(); err != nil {
			return nil, err
		}
	}
	return tx, err
}

type answer struct {
	status int
	body   map[string]any
	err    error
}

// post sends an order from any goroutine (no t.Fatal): the answer, or the error.
func (s *suite) post(ctx context.Context, url, body, key string) answer {
	req, err := http.NewRequestWithContext(ctx, "POST", url+"/api/v1/orders", strings.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := s.client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer func() { _ = resp.Body.Close() }()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return answer{status: resp.StatusCode, err: err}
	}
	return answer{status: resp.StatusCode, body: m}
}

// TestKeyedRetryAfterPriceChange: the client hangs up while the coordinator's answer is
// delayed (the order was placed and charged meanwhile), the price changes, and the
// client retries with the same Idempotency-Key on another instance: the retry begins the
// first request's stored placement again (not a re-priced one, which the coordinator
// would refuse as a reuse of its key), so it answers 201 with the same order; there is
// one order, charged once at the first price.
func TestKeyedRetryAfterPriceChange(t *testing.T) {
	var g *gate
	s := newSuite(t, onMySQL, func(c *Config) { c.PriceCacheTTL = 0 }, func(s *suite) beginner { g = newGate(s, true); return g })
	s.putStock("WIDGET", 250, 10)
	s.putAccount("alice", 10_000)
	body := `{"user_id":"alice","sku":"WIDGET","quantity":2}`

	ctx, hangUp := context.WithCancel(context.Background())
	defer hangUp()
	first := make(chan answer, 1)
	go func() { first <- s.post(ctx, s.orderURL, body, "k-price") }()
	defer g.open()
	<-g.held // the transaction ran and confirmed; its answer is held
	hangUp()
	if a := <-first; !errors.Is(a.err, context.Canceled) {
		t.Fatalf("the first request was answered: %+v", a)
	}
	s.putStock("WIDGET", 300, 8)

	other := s.instance()
	st, m, _ := s.do("POST", other+"/api/v1/orders", body, map[string]string{"Idempotency-Key": "k-price"})
	if st != 201 || m["status"] != "CONFIRMED" || m["amount"] != float64(500) {
		t.Fatalf("retry after the price change: %d %v", st, m)
	}
	var ids []string
	if err := s.orderDB.Raw("SELECT id FROM orders").Scan(&ids).Error; err != nil || len(ids) != 1 || m["order_id"] != ids[0] {
		t.Fatalf("orders %v (%v); the retry answered %v", ids, err, m["order_id"])
	}
	expect(t, "account", s.account("alice"), map[string]int64{"balance": 9_500, "frozen": 0, "captured": 500})
	_, stats, _ := s.do("GET", s.paymentURL+"/api/v1/payments/stats", "", nil)
	expect(t, "payments", stats, map[string]int64{"count": 1, "total": 500})

	// Once the first request's call ends, both instances replay the same order.
	g.open()
	for _, url := range []string{s.orderURL, other} {
		st, again, _ := s.do("POST", url+"/api/v1/orders", body, map[string]string{"Idempotency-Key": "k-price"})
		if st != 201 || again["order_id"] != m["order_id"] || again["xid"] != m["xid"] {
			t.Fatalf("replay on %s: %d %v, want %v", url, st, again, m)
		}
	}
}

// TestConcurrentKeyReuse: while a keyed order is in flight (held in the coordinator), a
// request with the same key and another body gets 422 IDEMPOTENCY_KEY_REUSED, as a
// sequential reuse does, instead of the first request's answer; one order is placed.
func TestConcurrentKeyReuse(t *testing.T) {
	var g *gate
	s := newSuite(t, onSQLite, nil, func(s *suite) beginner { g = newGate(s, false); return g })
	s.putStock("WIDGET", 250, 10)
	s.putAccount("alice", 10_000)
	first := make(chan answer, 1)
	go func() {
		first <- s.post(context.Background(), s.orderURL, `{"user_id":"alice","sku":"WIDGET","quantity":1}`, "k-same")
	}()
	defer g.open()
	<-g.held // the first claimed the key and is in the coordinator
	second := make(chan answer, 1)
	go func() {
		second <- s.post(context.Background(), s.orderURL, `{"user_id":"alice","sku":"WIDGET","quantity":2}`, "k-same")
	}()
	var a2 answer
	select {
	case a2 = <-second:
	case <-time.After(10 * time.Second):
		// Only when failing: a second request that joined the first waits for it.
	}
	g.open()
	a1 := <-first
	if a2.status == 0 && a2.err == nil {
		a2 = <-second
	}
	if a1.err != nil || a1.status != 201 {
		t.Fatalf("first: %+v", a1)
	}
	if a2.err != nil || a2.status != 422 || a2.body["code"] != "IDEMPOTENCY_KEY_REUSED" {
		t.Fatalf("second, same key, another body: %+v (first: %+v)", a2, a1)
	}
	var n int64
	if err := s.orderDB.Raw("SELECT COUNT(*) FROM orders").Scan(&n).Error; err != nil || n != 1 {
		t.Fatalf("%d orders, %v", n, err)
	}
	expect(t, "stock", s.stock("WIDGET"), map[string]int64{"available": 9, "reserved": 0, "sold": 1})
}

// TestCoordinatorBudget runs the order service (app.Run, so with its real coordinator
// client and timeouts) against a coordinator that waits as the real one does: until the
// transaction's deadline plus its completion wait (10s, TCC_COMPLETION_WAIT's default,
// far beyond ORDER_TX_TIMEOUT = 200ms), capped by the wait budget the begin call
// announces, and then answers the state it has. Answering at that bound is in time: 201
// for a transaction confirming then; 503 UNDECIDED with Retry-After, the order ID, the
// XID and the hint to retry with the same Idempotency-Key for one still undecided. A
// coordinator that ignores the budget makes the order stop waiting first: 503 with the
// same hint, never 500.
func TestCoordinatorBudget(t *testing.T) {
	const txTimeout = 200 * time.Millisecond
	const completionWait = 10 * time.Second
	var mu sync.Mutex
	var budgets []string
	coord := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req tcc.BeginRequest
		if r.URL.Path != "/v1/transactions" || json.NewDecoder(r.Body).Decode(&req) != nil || len(req.Branches) == 0 {
			http.Error(w, "bad begin", http.StatusBadRequest)
			return
		}
		var p struct {
			OrderID  string `json:"order_id"`
			Quantity int64  `json:"quantity"`
		}
		_ = json.Unmarshal(req.Branches[0].Payload, &p)
		mu.Lock()
		budgets = append(budgets, r.Header.Get(tcc.HeaderWaitBudget))
		mu.Unlock()
		bound := time.Duration(req.TimeoutMS)*time.Millisecond + completionWait
		if ms, err := strconv.ParseInt(r.Header.Get(tcc.HeaderWaitBudget), 10, 64); err == nil && p.Quantity != 3 {
			bound = min(bound, time.Duration(ms)*time.Millisecond)
		}
		// The coordinator's wait: it answers at its bound (plus the moment it takes to
		// read the state and write the answer), or not at all if the caller left.
		timer := time.NewTimer(bound + 20*time.Millisecond)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-r.Context().Done():
			return
		}
		xid := "x-" + p.OrderID
		w.Header().Set(tcc.HeaderXID, xid)
		w.Header().Set("Content-Type", "application/json")
		if p.Quantity == 2 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(tcc.ErrorBody{Code: "UNDECIDED", Message: "not decided yet"})
			return
		}
		w.WriteHeader(http.StatusAccepted) // decided, not yet complete
		_ = json.NewEncoder(w).Encode(tcc.Transaction{XID: xid, Status: tcc.TxConfirming})
	}))
	defer coord.Close()

	s := newSuite(t, onSQLite, nil, nil)
	s.putStock("WIDGET", 250, 10)
	s.putAccount("alice", 10_000)
	orderURL := startService(t, func(ctx context.Context, ln net.Listener) error {
		return Run(ctx, Config{Common: dbCommon(t, onSQLite, "order-budget"), Listener: ln, CoordinatorURL: coord.URL,
			InventoryURL: s.inventoryURL, PaymentURL: s.paymentURL, AccountCheck: true, TxTimeout: txTimeout, Wait: tcc.WaitCompletion,
			PriceCacheTTL: time.Second}, testLogger(t))
	})
	cases := []struct {
		name     string
		quantity int
		status   int
		code     string
	}{
		{"confirming at the coordinator's bound", 1, 201, ""},
		{"undecided at the coordinator's bound", 2, 503, "UNDECIDED"},
		{"coordinator outwaiting the budget", 3, 503, "UNAVAILABLE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprintf("budget-%d", tc.quantity)
			st, m, h := s.do("POST", orderURL+"/api/v1/orders", fmt.Sprintf(`{"user_id":"alice","sku":"WIDGET","quantity":%d}`, tc.quantity),
				map[string]string{"Idempotency-Key": key})
			if st != tc.status {
				t.Fatalf("got %d %v, want %d", st, m, tc.status)
			}
			if st == 201 {
				if m["status"] != "CONFIRMED" || m["amount"] != float64(250*tc.quantity) {
					t.Fatalf("got %v", m)
				}
				return
			}
			id, _ := m["order_id"].(string)
			msg, _ := m["message"].(string)
			if m["code"] != tc.code || h.Get("Retry-After") == "" || id == "" || !strings.Contains(msg, "same Idempotency-Key") {
				t.Fatalf("got %d %v %v", st, m, h)
			}
			if tc.code == "UNDECIDED" && m["xid"] != "x-"+id {
				t.Fatalf("xid: %v", m)
			}
		})
	}
	// The begins announced a budget within the order's own wait for the coordinator
	// (2·200ms + 1s), short of it by a margin.
	mu.Lock()
	defer mu.Unlock()
	for _, b := range budgets {
		ms, err := strconv.Atoi(b)
		if err != nil || ms < 1000 || ms > 1400-20 {
			t.Errorf("wait budgets announced: %v", budgets)
		}
	}
}

// dbProxy forwards TCP connections to a database server. Down, it cuts every connection
// and closes new ones at once (the server gone away, unreachable); up, it forwards again.
type dbProxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
}

func newDBProxy(t *testing.T, target string) *dbProxy {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dbProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.setDown(true)
		p.wg.Wait()
	})
	return p
}

func (p *dbProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.pipe(c)
	}
}

// track registers conns unless the proxy is down (then it closes them).
func (p *dbProxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		if p.down {
			_ = c.Close()
			continue
		}
		p.conns[c] = struct{}{}
	}
	return !p.down
}

func (p *dbProxy) pipe(c net.Conn) {
	defer p.wg.Done()
	if !p.track(c) {
		return
	}
	u, err := (&net.Dialer{}).DialContext(context.Background(), "tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	if !p.track(u) {
		_ = c.Close()
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(u, c); _ = u.Close(); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, u); _ = c.Close(); done <- struct{}{} }()
	<-done
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, u)
	p.mu.Unlock()
}

func (p *dbProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			_ = c.Close()
		}
	}
}

// TestOrderDatabaseDown: with the order database unreachable (connections cut, new ones
// closed at once), every order endpoint answers 503 with Retry-After, never 500, and
// changes nothing; once it is back, the same requests succeed without a restart.
func TestOrderDatabaseDown(t *testing.T) {
	server, err := mysqldrv.ParseDSN(testenv.MySQLServerDSN())
	if err != nil {
		t.Fatal(err)
	}
	proxy := newDBProxy(t, server.Addr)
	s := newSuite(t, onMySQL, func(c *Config) {
		dsn, err := mysqldrv.ParseDSN(c.MySQLDSN)
		if err != nil {
			t.Fatal(err)
		}
		dsn.Addr = proxy.ln.Addr().String()
		c.MySQLDSN = dsn.FormatDSN()
	}, nil)
	s.putStock("WIDGET", 250, 10)
	s.putAccount("alice", 10_000)
	body := `{"user_id":"alice","sku":"WIDGET","quantity":1}`
	st, placed, _ := s.order(body, "k-before")
	if st != 201 {
		t.Fatalf("before: %d %v", st, placed)
	}
	id := placed["order_id"].(string)

	proxy.setDown(true)
	requests := []struct{ name, method, path, body, key string }{
		{"new keyed order", "POST", "/api/v1/orders", body, "k-during"},
		{"replay of a decided key", "POST", "/api/v1/orders", body, "k-before"},
		{"order without a key", "POST", "/api/v1/orders", body, ""},
		{"get", "GET", "/api/v1/orders/" + id, "", ""},
		{"list", "GET", "/api/v1/orders?user_id=alice", "", ""},
	}
	for _, r := range requests {
		t.Run("down/"+r.name, func(t *testing.T) {
			st, m, h := s.do(r.method, s.orderURL+r.path, r.body, map[string]string{"Idempotency-Key": r.key})
			if st != 503 || h.Get("Retry-After") == "" || m["code"] == nil || m["message"] == "" {
				t.Fatalf("got %d %v %v, want 503 with Retry-After", st, m, h)
			}
		})
	}
	expect(t, "stock", s.stock("WIDGET"), map[string]int64{"available": 9, "reserved": 0, "sold": 1})

	proxy.setDown(false)
	st, m, _ := s.order(body, "k-during")
	if st != 201 || m["order_id"] == id {
		t.Fatalf("after: %d %v", st, m)
	}
	if st, m, _ := s.order(body, "k-before"); st != 201 || m["order_id"] != id {
		t.Fatalf("replay after: %d %v", st, m)
	}
	if st, m, _ := s.do("GET", s.orderURL+"/api/v1/orders/"+id, "", nil); st != 200 || m["status"] != "CONFIRMED" {
		t.Fatalf("get after: %d %v", st, m)
	}
	expect(t, "stock", s.stock("WIDGET"), map[string]int64{"available": 8, "reserved": 0, "sold": 2})
}
