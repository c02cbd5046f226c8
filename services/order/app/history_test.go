package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/tccsuite/tccsuite/pkg/tcc"
	"github.com/tccsuite/tccsuite/services/order/internal/history"
)

// flakyCoordinator is the coordinator's begin endpoint (POST /v1/transactions) over HTTP,
// run by the test driver, so that the order service calls it with its real coordinator
// client. It is idempotent like the real coordinator (the same Idempotency-Key and body:
// the same transaction, run once; another body: 422 IDEMPOTENCY_KEY_REUSED) and
// misbehaves at random (its own seeded RNG; which call draws which fault depends on the
// schedule): down before taking the call (503 UNAVAILABLE, nothing taken), slow before
// or after running the transaction, the answer lost after the transaction ran (the
// connection closed), or 503 UNDECIDED with the XID.
type flakyCoordinator struct {
	inner *driver
	srv   *httptest.Server

	mu     sync.Mutex
	rng    *rand.Rand
	bodies map[string]string
	faults map[string]int
}

func newFlakyCoordinator(t *testing.T, s *suite, seed uint64) *flakyCoordinator {
	c := &flakyCoordinator{inner: newDriver(map[string]string{"order": s.orderURL, "inventory": s.inventoryURL, "payment": s.paymentURL}),
		rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), bodies: map[string]string{}, faults: map[string]int{}} //nolint:gosec // G404: a seeded test schedule
	c.srv = httptest.NewServer(http.HandlerFunc(c.begin))
	t.Cleanup(c.srv.Close)
	return c
}

// draw returns the fault of one call and its delays.
func (c *flakyCoordinator) draw() (fault string, before, after time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch r := c.rng.Float64(); {
	case r < 0.08:
		fault = "down"
	case r < 0.20:
		fault = "answer lost"
	case r < 0.28:
		fault = "undecided"
	default:
		fault = "none"
	}
	if c.rng.Float64() < 0.3 {
		before = time.Duration(c.rng.IntN(40)) * time.Millisecond
	}
	if c.rng.Float64() < 0.3 {
		after = time.Duration(c.rng.IntN(40)) * time.Millisecond
	}
	c.faults[fault]++
	return fault, before, after
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (c *flakyCoordinator) begin(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	var req tcc.BeginRequest
	if r.URL.Path != "/v1/transactions" || r.Method != http.MethodPost || err != nil || json.Unmarshal(raw, &req) != nil {
		writeJSON(w, http.StatusBadRequest, tcc.ErrorBody{Code: "BAD_REQUEST", Message: "bad begin"})
		return
	}
	key := r.Header.Get("Idempotency-Key")
	fault, before, after := c.draw()
	if fault == "down" {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, tcc.ErrorBody{Code: "UNAVAILABLE", Message: "the coordinator is down"})
		return
	}
	c.mu.Lock()
	prev, seen := c.bodies[key]
	if !seen {
		c.bodies[key] = string(raw)
	}
	c.mu.Unlock()
	if seen && prev != string(raw) {
		writeJSON(w, http.StatusUnprocessableEntity, tcc.ErrorBody{Code: "IDEMPOTENCY_KEY_REUSED", Message: "this Idempotency-Key was used with a different request"})
		return
	}
	if !sleepCtx(r.Context(), before) {
		return // the caller left before the call was taken: nothing ran
	}
	// Taken: the transaction runs to its end whether or not the caller stays.
	tx, err := c.inner.Begin(context.WithoutCancel(r.Context()), req, key)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, tcc.ErrorBody{Code: "INTERNAL", Message: err.Error()})
		return
	}
	if !sleepCtx(r.Context(), after) {
		return
	}
	switch fault {
	case "answer lost":
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case "undecided":
		w.Header().Set(tcc.HeaderXID, tx.XID)
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, tcc.ErrorBody{Code: "UNDECIDED", Message: "not decided yet"})
	default:
		writeJSON(w, http.StatusOK, tx)
	}
}

// historyParams sizes a TestPlacementHistory run.
type historyParams struct {
	clients, opsPerClient int
	groups                int // clients in a group share keys; keys of different groups never meet
}

// TestPlacementHistory records the history of concurrent keyed order placements and
// checks it with porcupine against the sequential model of idempotent placement
// (services/order/internal/history): per key, the first effective request fixes the body
// and the outcome; a replay with the same body answers that outcome (the same order ID);
// another body gets 422 IDEMPOTENCY_KEY_REUSED; a 503, or a call whose client hung up,
// has an unknown effect.
//
// The order service runs in-process (platform.Wire, its real store on MariaDB, its real
// coordinator client) with inventory and payment (app.Run, MariaDB) and flakyCoordinator,
// which runs the transactions with the test driver and is down, slow, loses answers or
// answers UNDECIDED at random. Clients place orders over HTTP with keys drawn from small
// windows of their group's keys (so keys collide, within and across clients), usually
// with the key's own body and sometimes with another one (a reuse); some hang up after
// a random short delay. After a hang-up or a 503 a client retries with the same key and
// body until it gets a definite answer (after 5–25 ms rather than the 1 s Retry-After,
// to keep the test short; at most 50 attempts), every attempt an operation of the
// history.
// Stock and one user's balance run out, so some orders are refused (OUT_OF_STOCK,
// INSUFFICIENT_FUNDS) and their replays must repeat the refusal.
//
// The schedule (keys, bodies, hang-ups, delays; the coordinator's faults) comes from a
// seed, logged at the start and on failure; the check does not depend on timing: every
// interleaving the correct service can produce is linearizable. Environment:
//
//   - ORDER_HISTORY_SEED=n replays seed n's schedule (the timing, hence the interleaving,
//     still varies from run to run);
//   - ORDER_HISTORY_LONG=1 runs the longer mode: 64 clients × 150 operations, 8 clients
//     to a group (default: 16 × 40, 4 to a group), about 12,000 operations with
//     retries: ORDER_HISTORY_LONG=1 go test -race -run TestPlacementHistory -v
//     ./services/order/app;
//   - ORDER_HISTORY_DIR=dir keeps porcupine's visualization of a failing history there
//     (default: the test's temporary directory, removed after the test).
func TestPlacementHistory(t *testing.T) {
	p := historyParams{clients: 16, opsPerClient: 40, groups: 4}
	if os.Getenv("ORDER_HISTORY_LONG") != "" {
		p = historyParams{clients: 64, opsPerClient: 150, groups: 8}
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("ORDER_HISTORY_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("ORDER_HISTORY_SEED: %v", err)
		}
	}
	t.Logf("seed %d (replay: ORDER_HISTORY_SEED=%d)", seed, seed)
	started := time.Now()

	var coord *flakyCoordinator
	s := newSuite(t, onMySQL, nil, func(s *suite) beginner {
		coord = newFlakyCoordinator(t, s, seed)
		client, err := newCoordinatorClient(Config{CoordinatorURL: coord.srv.URL, TxTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(client.Close)
		return client
	})
	// About half of the orders find stock (quantities 1..3); bob can pay for a few.
	s.putStock("WIDGET", 100, int64(p.clients*p.opsPerClient)/5)
	s.putAccount("alice", 1_000_000)
	s.putAccount("bob", 1_500)

	rec := history.NewRecorder()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var problems []string
	attempts := 0
	for c := range p.clients {
		rng := rand.New(rand.NewPCG(seed, uint64(c)+1)) //nolint:gosec // G404: a seeded test schedule
		wg.Go(func() {
			for i := range p.opsPerClient {
				// A window of three keys that moves every two operations: the group's
				// clients (moving at about the same pace) collide on them.
				k := i/2 + rng.IntN(3)
				key := fmt.Sprintf("g%d-k%d", c%p.groups, k)
				body := keyBody(key, false)
				if rng.Float64() < 0.2 {
					body = keyBody(key, true)
				}
				for attempt := 1; ; attempt++ {
					hangUp := time.Duration(-1)
					if rng.Float64() < 0.15 {
						hangUp = time.Duration(rng.IntN(30_000)) * time.Microsecond
					}
					out, problem := placeOnce(s, rec, c, key, body, hangUp, fmt.Sprintf("client %d op %d attempt %d", c, i, attempt))
					mu.Lock()
					attempts++
					if problem != "" {
						problems = append(problems, problem)
					}
					mu.Unlock()
					if out.Kind != history.Unknown || problem != "" {
						break
					}
					if attempt == 50 {
						mu.Lock()
						problems = append(problems, fmt.Sprintf("client %d op %d: no definite answer after %d attempts", c, i, attempt))
						mu.Unlock()
						break
					}
					time.Sleep(time.Duration(5+rng.IntN(20)) * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	ran := time.Since(started)

	ops := rec.Operations()
	coord.mu.Lock()
	faults := fmt.Sprint(coord.faults)
	coord.mu.Unlock()
	t.Logf("%s; coordinator calls by fault: %s; ran in %v", history.Summary(ops), faults, ran.Round(time.Millisecond))
	for _, pr := range problems {
		t.Errorf("seed %d: %s", seed, pr)
	}

	dir := os.Getenv("ORDER_HISTORY_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	checkStart := time.Now()
	rep, err := history.Check(ops, 60*time.Second, dir, fmt.Sprintf("placement-history-%d", seed))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("checked in %v: %s", time.Since(checkStart).Round(time.Millisecond), rep.Result)
	if rep.Result != porcupine.Ok {
		for i, pair := range rep.Pairs {
			if i == 3 {
				break
			}
			what := "offending pair"
			if i == 0 {
				what = "shortest offending pair"
			}
			t.Logf("%s:\n  %s\n  %s", what, history.Describe(pair[0]), history.Describe(pair[1]))
		}
		t.Fatalf("seed %d: the history is %s against the model of idempotent placement (replay: ORDER_HISTORY_SEED=%d); visualization: %s",
			seed, rep.Result, seed, rep.Visualization)
	}
}

// keyBody is the request body a key is meant for (reuse: another body, a reuse of the
// key): its user, SKU and quantity derive from the key.
func keyBody(key string, reuse bool) string {
	h := 0
	for _, b := range []byte(key) {
		h = h*31 + int(b)
	}
	h &= 0xffff
	user := "alice"
	if h%4 == 0 {
		user = "bob"
	}
	qty := 1 + h%3
	if reuse {
		qty = 1 + (h+1)%3
	}
	return fmt.Sprintf(`{"user_id":%q,"sku":"WIDGET","quantity":%d}`, user, qty)
}

// placeOnce sends one keyed order (hanging up after hangUp unless it is negative) and
// records it. problem describes an answer outside the API's contract.
func placeOnce(s *suite, rec *history.Recorder, client int, key, body string, hangUp time.Duration, meta string) (out history.Output, problem string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var pending bool
	if hangUp >= 0 {
		stop := time.AfterFunc(hangUp, cancel)
		defer stop.Stop()
		meta += fmt.Sprintf(", hangs up after %v", hangUp.Round(time.Microsecond))
	}
	done := rec.Call(client, history.Input{Key: key, Body: body}, meta)
	a := s.post(ctx, s.orderURL, body, key)
	code, _ := a.body["code"].(string)
	orderID, _ := a.body["order_id"].(string)
	switch {
	case a.err != nil && errors.Is(a.err, context.Canceled):
		out, pending = history.Output{Kind: history.Unknown, Code: "hung up"}, true
	case a.err != nil:
		out, pending, problem = history.Output{Kind: history.Unknown, Code: "no answer"}, true, fmt.Sprintf("%s: %v", meta, a.err)
	case a.status == http.StatusCreated && orderID != "":
		out = history.Output{Kind: history.Placed, OrderID: orderID}
	case a.status == http.StatusUnprocessableEntity && code == "IDEMPOTENCY_KEY_REUSED":
		out = history.Output{Kind: history.KeyReused}
	case (a.status == http.StatusConflict || a.status == http.StatusUnprocessableEntity) && code != "" && orderID != "":
		out = history.Output{Kind: history.Refused, Code: code, OrderID: orderID}
	case a.status == http.StatusServiceUnavailable:
		out = history.Output{Kind: history.Unknown, Code: code}
	default:
		out, pending, problem = history.Output{Kind: history.Unknown, Code: "unexpected"}, true, fmt.Sprintf("%s: unexpected answer %d %v", meta, a.status, a.body)
	}
	done(out, pending)
	return out, problem
}
