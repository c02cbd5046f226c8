package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// stockJSON is an SKU as GET /api/v1/stock/{sku} answers it.
type stockJSON struct {
	SKU                       string
	Available, Reserved, Sold int64
}

// total is what conservation keeps constant.
func (s stockJSON) total() int64 { return s.Available + s.Reserved + s.Sold }

// accountJSON is an account as GET /api/v1/accounts/{id} answers it.
type accountJSON struct {
	ID                        string
	Balance, Frozen, Captured int64
}

// total is what conservation keeps constant.
func (a accountJSON) total() int64 { return a.Balance + a.Frozen + a.Captured }

// snapshot is the bench's SKUs and accounts and the payment count at one moment.
type snapshot struct {
	stock    map[string]stockJSON
	accounts map[string]accountJSON
	payments int64
}

// snapshot reads the stock of the bench SKUs, the bench accounts and the payment count.
func (c *client) snapshot(ctx context.Context, cfg config) (snapshot, error) {
	s := snapshot{stock: map[string]stockJSON{}, accounts: map[string]accountJSON{}}
	for _, sku := range cfg.skus {
		var it stockJSON
		if err := c.want(ctx, 200, "GET", cfg.inventoryURL+"/api/v1/stock/"+sku, nil, nil, &it); err != nil {
			return s, fmt.Errorf("stock %s: %w", sku, err)
		}
		s.stock[sku] = it
	}
	for _, u := range cfg.users {
		var a accountJSON
		if err := c.want(ctx, 200, "GET", cfg.paymentURL+"/api/v1/accounts/"+u, nil, nil, &a); err != nil {
			return s, fmt.Errorf("account %s: %w", u, err)
		}
		s.accounts[u] = a
	}
	var stats struct{ Count int64 }
	if err := c.want(ctx, 200, "GET", cfg.paymentURL+"/api/v1/payments/stats", nil, nil, &stats); err != nil {
		return s, fmt.Errorf("payment stats: %w", err)
	}
	s.payments = stats.Count
	return s, nil
}

// ordersBench drives the order path and checks the invariants; the report holds the
// figures and any violation (also returned as an error).
func ordersBench(ctx context.Context, cfg config, out io.Writer) (report, error) {
	rep := report{Mode: "orders", Concurrency: cfg.concurrency}
	if cfg.concurrency < 1 || cfg.duration <= 0 || len(cfg.skus) == 0 || len(cfg.users) == 0 || cfg.quantity < 1 {
		return report{}, errors.New("need concurrency ≥ 1, a positive duration, SKUs, users and quantity ≥ 1")
	}
	c := newClient(cfg.concurrency)
	if cfg.setup {
		if err := c.setup(ctx, cfg); err != nil {
			return rep, err
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

	_, _ = fmt.Fprintf(out, "tccbench: %d clients for %s against %s (%d SKUs, %d users, quantity %d)\n",
		cfg.concurrency, cfg.duration, cfg.orderURL, len(cfg.skus), len(cfg.users), cfg.quantity)
	var answers answerLog
	res := c.placeOrders(ctx, cfg, &answers)
	rep.fill(res, func(kind string) bool { return kind == "201 CONFIRMED" })

	// Invariants, once every transaction finished (reserved and frozen drain to 0).
	_, _ = fmt.Fprintf(out, "\nchecking invariants (waiting up to %s for in-flight transactions)...\n", cfg.settle)
	after, err := c.settle(ctx, cfg)
	if err != nil {
		return rep, err
	}
	violations, soldUnits, capturedDelta := conservation(before, after)
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
	_, _ = fmt.Fprintf(out, "sold %d units, captured %d, %d payments for %d CONFIRMED orders (%d answered 201)\n", soldUnits, capturedDelta, after.payments-before.payments, confirmed, rep.OK)
	if len(violations) > 0 {
		rep.Violations = violations
		return rep, fmt.Errorf("%d invariant violations", len(violations))
	}
	rep.Invariants = "invariants hold: stock and money conserved, nothing reserved or frozen, one capture per confirmed order, no order PENDING"
	return rep, nil
}

// setup creates or resets the bench SKUs and accounts through the admin API. It is
// idempotent: each PUT sets absolute figures.
func (c *client) setup(ctx context.Context, cfg config) error {
	admin := map[string]string{"Authorization": "Bearer " + cfg.adminToken}
	for _, sku := range cfg.skus {
		body := fmt.Appendf(nil, `{"price":%d,"available":%d}`, cfg.price, cfg.stock)
		if err := c.want(ctx, 200, "PUT", cfg.inventoryURL+"/api/v1/stock/"+sku, body, admin, nil); err != nil {
			return fmt.Errorf("setup stock %s: %w", sku, err)
		}
	}
	for _, u := range cfg.users {
		body := fmt.Appendf(nil, `{"balance":%d}`, cfg.balance)
		if err := c.want(ctx, 200, "PUT", cfg.paymentURL+"/api/v1/accounts/"+u, body, admin, nil); err != nil {
			return fmt.Errorf("setup account %s: %w", u, err)
		}
	}
	return nil
}

// placeOrders places orders from cfg.concurrency clients for cfg.duration, round robin
// over the users and SKUs, each with a fresh Idempotency-Key (unless disabled), and logs
// which answer named which order.
func (c *client) placeOrders(ctx context.Context, cfg config, answers *answerLog) results {
	rctx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	runID := time.Now().UnixNano()
	return drive(rctx, cfg.concurrency, func(_ context.Context, n int64) (string, error) {
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
}

// settle reads snapshots, backing off, until nothing is reserved or frozen or
// cfg.settle passes, and returns the last.
func (c *client) settle(ctx context.Context, cfg config) (snapshot, error) {
	deadline := time.Now().Add(cfg.settle)
	for wait := 50 * time.Millisecond; ; wait = min(wait*2, time.Second) {
		after, err := c.snapshot(ctx, cfg)
		if err != nil {
			return after, fmt.Errorf("after the run: %w", err)
		}
		if atRest(after) || time.Now().After(deadline) {
			return after, nil
		}
		select {
		case <-ctx.Done():
			return after, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// conservation lists the violations of stock and money conservation between two
// snapshots (and anything still reserved or frozen), and returns the units sold and
// the amount captured in between.
func conservation(before, after snapshot) (violations []string, soldUnits, capturedDelta int64) {
	for sku, b := range before.stock {
		a := after.stock[sku]
		if a.total() != b.total() {
			violations = append(violations, fmt.Sprintf("stock %s: available+reserved+sold %d, was %d", sku, a.total(), b.total()))
		}
		if a.Reserved != 0 {
			violations = append(violations, fmt.Sprintf("stock %s: %d still reserved", sku, a.Reserved))
		}
	}
	for sku, a := range after.stock {
		soldUnits += a.Sold - before.stock[sku].Sold
	}
	for u, b := range before.accounts {
		a := after.accounts[u]
		if a.total() != b.total() {
			violations = append(violations, fmt.Sprintf("account %s: balance+frozen+captured %d, was %d", u, a.total(), b.total()))
		}
		if a.Frozen != 0 {
			violations = append(violations, fmt.Sprintf("account %s: %d still frozen", u, a.Frozen))
		}
		capturedDelta += a.Captured - b.Captured
	}
	return violations, soldUnits, capturedDelta
}

// atRest reports whether nothing is reserved or frozen any more: every transaction ended.
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
