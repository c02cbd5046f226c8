// Command tccbench measures the suite. In orders mode (the default) it drives
// POST /api/v1/orders of a running suite at a chosen concurrency for a chosen duration,
// prints orders per second, latency percentiles and errors by kind, and then checks the
// invariants of DESIGN §6 through the public GET endpoints. The check counts orders from
// the services (the order service's lists, the inventory's sold units, the payment
// captures), not from its own 201 answers: an order answered 503 may still have been
// placed, and the report says how many ("answered 503 but placed: N").
//
//	go run ./cmd/tccbench -concurrency 50 -duration 30s -setup -admin-token demo-admin-token
//
// With -setup it first creates (or resets) its own SKUs and accounts through the admin
// API, so that a run starts from known figures; without it, it uses what is there.
//
// In coordinator mode it measures the coordinator alone, with no-op participants: it
// starts an embedded etcd, a coordinator on a fresh database of the MySQL server given
// by -mysql, and three no-op participants in its own process, and drives
// POST /v1/transactions:
//
//	go run ./cmd/tccbench -mode coordinator -wait decision -concurrency 50 -duration 20s
//
// -json prints the report as JSON.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

type config struct {
	orderURL, inventoryURL, paymentURL string
	concurrency                        int
	duration, settle                   time.Duration
	skus, users                        []string
	quantity                           int
	setup                              bool
	adminToken                         string
	stock, balance, price              int64
	idempotency                        bool
	mode, wait, mysql                  string
	branches                           int
	json                               bool
}

func main() {
	var c config
	var skus, users string
	flag.StringVar(&c.orderURL, "order", "http://127.0.0.1:8080", "order service base URL")
	flag.StringVar(&c.inventoryURL, "inventory", "http://127.0.0.1:8081", "inventory service base URL")
	flag.StringVar(&c.paymentURL, "payment", "http://127.0.0.1:8082", "payment service base URL")
	flag.IntVar(&c.concurrency, "concurrency", 50, "concurrent clients")
	flag.DurationVar(&c.duration, "duration", 30*time.Second, "how long to place orders")
	flag.DurationVar(&c.settle, "settle", 60*time.Second, "how long to wait for in-flight transactions to finish before checking")
	flag.StringVar(&skus, "skus", "BENCH-1,BENCH-2,BENCH-3,BENCH-4", "SKUs to order (comma-separated)")
	flag.StringVar(&users, "users", "", "users to order as (comma-separated; default bench-u0..bench-u{concurrency-1})")
	flag.IntVar(&c.quantity, "quantity", 1, "quantity per order")
	flag.BoolVar(&c.setup, "setup", false, "create or reset the SKUs and accounts first (needs -admin-token)")
	flag.StringVar(&c.adminToken, "admin-token", os.Getenv("TCC_ADMIN_TOKEN"), "admin token for -setup")
	flag.Int64Var(&c.stock, "stock", 10_000_000, "with -setup: available units per SKU")
	flag.Int64Var(&c.balance, "balance", 1_000_000_000_000, "with -setup: balance per account")
	flag.Int64Var(&c.price, "price", 100, "with -setup: unit price")
	flag.BoolVar(&c.idempotency, "idempotency", true, "send a fresh Idempotency-Key with each order")
	flag.StringVar(&c.mode, "mode", "orders", "orders: the full order path of a running suite; coordinator: the coordinator alone with no-op participants")
	flag.StringVar(&c.wait, "wait", "completion", "coordinator mode: wait for the decision or for completion")
	flag.IntVar(&c.branches, "branches", 3, "coordinator mode: branches per transaction")
	flag.StringVar(&c.mysql, "mysql", envOr("TCC_TEST_MYSQL_DSN", "root@tcp(127.0.0.1:3306)/"), "coordinator mode: the MySQL server (a fresh database is created and dropped)")
	flag.BoolVar(&c.json, "json", false, "print the report as JSON")
	flag.Parse()
	c.skus = split(skus)
	if users == "" {
		for i := 0; i < c.concurrency; i++ {
			c.users = append(c.users, fmt.Sprintf("bench-u%d", i))
		}
	} else {
		c.users = split(users)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Progress goes to stderr when the report is JSON, so stdout stays parseable.
	progress := io.Writer(os.Stdout)
	if c.json {
		progress = os.Stderr
	}
	var rep report
	var err error
	switch c.mode {
	case "orders":
		rep, err = run(ctx, c, progress)
	case "coordinator":
		if c.wait != "decision" && c.wait != "completion" {
			err = errors.New("-wait must be decision or completion")
		} else if c.concurrency < 1 || c.duration <= 0 || c.branches < 1 {
			err = errors.New("need concurrency ≥ 1, a positive duration and branches ≥ 1")
		} else {
			rep, err = coordBench(ctx, c, progress)
		}
	default:
		err = fmt.Errorf("unknown -mode %q", c.mode)
	}
	if rep.Mode != "" {
		rep.print(os.Stdout, c.json)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tccbench:", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

type client struct {
	http *http.Client
}

// newClient returns a client with a keep-alive pool sized for concurrency workers.
func newClient(concurrency int) *client {
	return &client{http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: concurrency * 2, MaxIdleConnsPerHost: concurrency * 2, IdleConnTimeout: 90 * time.Second,
	}}}
}

func (c *client) do(ctx context.Context, method, url string, body []byte, hdr map[string]string, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %d %q", method, url, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, nil
}

type stockJSON struct {
	SKU                       string
	Available, Reserved, Sold int64
}

type accountJSON struct {
	ID                        string
	Balance, Frozen, Captured int64
}

type snapshot struct {
	stock    map[string]stockJSON
	accounts map[string]accountJSON
	payments int64
}

func (c *client) snapshot(ctx context.Context, cfg config) (snapshot, error) {
	s := snapshot{stock: map[string]stockJSON{}, accounts: map[string]accountJSON{}}
	for _, sku := range cfg.skus {
		var it stockJSON
		if st, err := c.do(ctx, "GET", cfg.inventoryURL+"/api/v1/stock/"+sku, nil, nil, &it); err != nil || st != 200 {
			return s, fmt.Errorf("stock %s: %d %v", sku, st, err)
		}
		s.stock[sku] = it
	}
	for _, u := range cfg.users {
		var a accountJSON
		if st, err := c.do(ctx, "GET", cfg.paymentURL+"/api/v1/accounts/"+u, nil, nil, &a); err != nil || st != 200 {
			return s, fmt.Errorf("account %s: %d %v", u, st, err)
		}
		s.accounts[u] = a
	}
	var stats struct{ Count int64 }
	if st, err := c.do(ctx, "GET", cfg.paymentURL+"/api/v1/payments/stats", nil, nil, &stats); err != nil || st != 200 {
		return s, fmt.Errorf("payment stats: %d %v", st, err)
	}
	s.payments = stats.Count
	return s, nil
}

// run drives the order path and checks the invariants; the report holds the figures and
// any violation (also returned as an error).
func run(ctx context.Context, cfg config, out io.Writer) (report, error) {
	rep := report{Mode: "orders", Concurrency: cfg.concurrency}
	if cfg.concurrency < 1 || cfg.duration <= 0 || len(cfg.skus) == 0 || len(cfg.users) == 0 || cfg.quantity < 1 {
		return report{}, errors.New("need concurrency ≥ 1, a positive duration, SKUs, users and quantity ≥ 1")
	}
	c := newClient(cfg.concurrency)
	if cfg.setup {
		admin := map[string]string{"Authorization": "Bearer " + cfg.adminToken}
		for _, sku := range cfg.skus {
			body := fmt.Appendf(nil, `{"price":%d,"available":%d}`, cfg.price, cfg.stock)
			if st, err := c.do(ctx, "PUT", cfg.inventoryURL+"/api/v1/stock/"+sku, body, admin, nil); err != nil || st != 200 {
				return rep, fmt.Errorf("setup stock %s: %d %v", sku, st, err)
			}
		}
		for _, u := range cfg.users {
			body := fmt.Appendf(nil, `{"balance":%d}`, cfg.balance)
			if st, err := c.do(ctx, "PUT", cfg.paymentURL+"/api/v1/accounts/"+u, body, admin, nil); err != nil || st != 200 {
				return rep, fmt.Errorf("setup account %s: %d %v", u, st, err)
			}
		}
	}
	before, err := c.snapshot(ctx, cfg)
	if err != nil {
		return rep, fmt.Errorf("before the run: %w", err)
	}
	ordersBefore, err := c.listOrders(ctx, cfg)
	if err != nil {
		return rep, fmt.Errorf("before the run: %w", err)
	}
	var answers answerLog

	fmt.Fprintf(out, "tccbench: %d clients for %s against %s (%d SKUs, %d users, quantity %d)\n",
		cfg.concurrency, cfg.duration, cfg.orderURL, len(cfg.skus), len(cfg.users), cfg.quantity)
	rctx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	runID := time.Now().UnixNano()
	res := drive(rctx, cfg.concurrency, func(_ context.Context, n int64) (string, error) {
		user := cfg.users[int(n)%len(cfg.users)]
		sku := cfg.skus[int(n/int64(len(cfg.users)))%len(cfg.skus)]
		body := fmt.Appendf(nil, `{"user_id":%q,"sku":%q,"quantity":%d}`, user, sku, cfg.quantity)
		hdr := map[string]string{}
		if cfg.idempotency {
			hdr["Idempotency-Key"] = fmt.Sprintf("bench-%d-%d", runID, n)
		}
		var eb struct {
			Code    string `json:"code"`
			OrderID string `json:"order_id"`
		}
		// An order once sent is let finish, so that the run's end abandons nothing
		// mid-way.
		st, err := c.do(context.WithoutCancel(rctx), "POST", cfg.orderURL+"/api/v1/orders", body, hdr, &eb)
		kind := fmt.Sprintf("%d %s", st, eb.Code)
		switch {
		case err != nil && st == 0:
			return "transport error", err
		case st == 201:
			kind = "201 CONFIRMED"
		}
		answers.add(eb.OrderID, kind)
		return kind, nil
	})
	rep.fill(res, func(kind string) bool { return kind == "201 CONFIRMED" })

	// Invariants, once every transaction finished (reserved and frozen drain to 0).
	fmt.Fprintf(out, "\nchecking invariants (waiting up to %s for in-flight transactions)...\n", cfg.settle)
	var after snapshot
	deadline := time.Now().Add(cfg.settle)
	for wait := 50 * time.Millisecond; ; wait = min(wait*2, time.Second) {
		after, err = c.snapshot(ctx, cfg)
		if err != nil {
			return rep, fmt.Errorf("after the run: %w", err)
		}
		if atRest(after) || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return rep, ctx.Err()
		case <-time.After(wait):
		}
	}
	var violations []string
	for sku, b := range before.stock {
		a := after.stock[sku]
		if a.Available+a.Reserved+a.Sold != b.Available+b.Reserved+b.Sold {
			violations = append(violations, fmt.Sprintf("stock %s: available+reserved+sold %d, was %d", sku, a.Available+a.Reserved+a.Sold, b.Available+b.Reserved+b.Sold))
		}
		if a.Reserved != 0 {
			violations = append(violations, fmt.Sprintf("stock %s: %d still reserved", sku, a.Reserved))
		}
	}
	var soldUnits, capturedDelta int64
	for sku, a := range after.stock {
		soldUnits += a.Sold - before.stock[sku].Sold
	}
	for u, b := range before.accounts {
		a := after.accounts[u]
		if a.Balance+a.Frozen+a.Captured != b.Balance+b.Frozen+b.Captured {
			violations = append(violations, fmt.Sprintf("account %s: balance+frozen+captured %d, was %d", u, a.Balance+a.Frozen+a.Captured, b.Balance+b.Frozen+b.Captured))
		}
		if a.Frozen != 0 {
			violations = append(violations, fmt.Sprintf("account %s: %d still frozen", u, a.Frozen))
		}
		capturedDelta += a.Captured - b.Captured
	}
	// The orders placed are counted from the order service, not from the 201 answers:
	// an order answered 503 (or not answered) may still have been placed.
	ordersAfter, err := c.listOrders(ctx, cfg)
	if err != nil {
		return rep, fmt.Errorf("after the run: %w", err)
	}
	answers.mu.Lock()
	placed := reconcile(ordersBefore, ordersAfter, answers.byOrder)
	answers.mu.Unlock()
	confirmed := int64(placed.Confirmed)
	if soldUnits != confirmed*int64(cfg.quantity) {
		violations = append(violations, fmt.Sprintf("%d units sold for %d CONFIRMED orders of %d", soldUnits, confirmed, cfg.quantity))
	}
	if n := after.payments - before.payments; n != confirmed {
		violations = append(violations, fmt.Sprintf("%d payments captured for %d CONFIRMED orders", n, confirmed))
	}
	if placed.Pending != 0 {
		violations = append(violations, fmt.Sprintf("%d orders still PENDING", placed.Pending))
	}
	if n := len(placed.AnsweredNotConfirmed); n > 0 {
		ids := placed.AnsweredNotConfirmed[:min(n, 10)]
		violations = append(violations, fmt.Sprintf("%d orders answered 201 are not CONFIRMED: %s", n, strings.Join(ids, ", ")))
	}
	rep.Placed = placed.Confirmed
	rep.AnsweredButPlaced = placed.PlacedDespite
	rep.Placement = placed.lines()
	fmt.Fprintf(out, "sold %d units, captured %d, %d payments for %d CONFIRMED orders (%d answered 201)\n", soldUnits, capturedDelta, after.payments-before.payments, confirmed, rep.OK)
	if len(violations) > 0 {
		rep.Violations = violations
		return rep, fmt.Errorf("%d invariant violations", len(violations))
	}
	rep.Invariants = "invariants hold: stock and money conserved, nothing reserved or frozen, one capture per confirmed order, no order PENDING"
	return rep, nil
}

func atRest(s snapshot) bool {
	for _, it := range s.stock {
		if it.Reserved != 0 {
			return false
		}
	}
	for _, a := range s.accounts {
		if a.Frozen != 0 {
			return false
		}
	}
	return true
}
