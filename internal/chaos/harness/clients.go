package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tccsuite/tccsuite/internal/chaos/invariant"
)

// answer is what one POST /api/v1/orders, or a client's whole sequence of them, ended
// with. Status 0 means no HTTP answer (connection lost, or the client hung up).
type answer struct {
	status  int
	code    string
	xid     string
	orderID string
}

// Answer-table keys (Summary.Answers): every HTTP answer a client got to
// POST /api/v1/orders, by status, 503s split by the presence of Retry-After.
const (
	AnswerTransport    = "transport error"      // no HTTP answer (connection refused or lost)
	AnswerHungUp       = "client hung up"       // an ambiguous client cancelled the call
	Answer503Retry     = "503 with Retry-After" // the documented "retry later"
	Answer503NoRetry   = "503 without Retry-After"
	answerStatusFormat = "%d"
)

// answerTable counts every answer to POST /api/v1/orders.
type answerTable struct {
	mu sync.Mutex
	m  map[string]int
}

func (t *answerTable) add(k string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]int{}
	}
	t.m[k]++
}

func (t *answerTable) snapshot() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]int, len(t.m))
	for k, v := range t.m {
		out[k] = v
	}
	return out
}

// answerKind names an HTTP answer for the table.
func answerKind(resp *http.Response) string {
	if resp.StatusCode == http.StatusServiceUnavailable {
		if resp.Header.Get("Retry-After") != "" {
			return Answer503Retry
		}
		return Answer503NoRetry
	}
	return fmt.Sprintf(answerStatusFormat, resp.StatusCode)
}

// BadAnswers returns the answers the acceptance check forbids, in a stable order: any
// 5xx other than 503 with Retry-After (a 500 is a bug; a 503 without Retry-After does
// not tell the client when to come back). Transport errors and hang-ups are not answers.
func BadAnswers(answers map[string]int) []string {
	var bad []string
	for k, n := range answers {
		if k == Answer503NoRetry || (strings.HasPrefix(k, "5") && k != Answer503Retry) {
			bad = append(bad, fmt.Sprintf("%s: %d", k, n))
		}
	}
	sort.Strings(bad)
	return bad
}

// postOrder sends one POST /api/v1/orders and counts its answer. A client that hangs up
// (ctx ends) is counted as such and returns errHungUp.
func (r *chaosRun) postOrder(ctx context.Context, key, body string) (answer, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.parts["order"].url()+"/api/v1/orders", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := r.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			r.answers.add(AnswerHungUp)
			return answer{code: "hung up"}, errHungUp
		}
		r.answers.add(AnswerTransport)
		return answer{code: "connection"}, err
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil && ctx.Err() != nil {
		r.answers.add(AnswerHungUp)
		return answer{code: "hung up"}, errHungUp
	}
	r.answers.add(answerKind(resp))
	var out struct {
		Code    string `json:"code"`
		XID     string `json:"xid"`
		OrderID string `json:"order_id"`
	}
	_ = json.Unmarshal(b, &out)
	return answer{status: resp.StatusCode, code: out.Code, xid: out.XID, orderID: out.OrderID}, nil
}

var errHungUp = errors.New("client hung up")

// final reports whether a is an answer a client stops at: 201, or a 4xx other than 429.
func (a answer) final() bool {
	return a.status == http.StatusCreated || (a.status >= 400 && a.status < 500 && a.status != http.StatusTooManyRequests)
}

// ambiguous reports whether order number i is placed by an ambiguous client, and which
// of the dedicated accounts it uses.
func (r *chaosRun) ambiguous(i int) (int, bool) {
	if r.cfg.AmbiguousEvery <= 0 || i%r.cfg.AmbiguousEvery != 0 {
		return 0, false
	}
	k := i/r.cfg.AmbiguousEvery - 1
	return k, k < r.ambAccounts
}

func ambUser(k int) string         { return fmt.Sprintf("chaos-amb-%d", k) }
func priceSKU(j int) string        { return fmt.Sprintf("CHAOS-PRICE-%d", j) }
func (r *chaosRun) priceSKUs() int { return 2 }

// placeAmbiguous is one ambiguous client: it sends its order, hangs up after a random
// short delay (cancels its request), has the harness change the price of the order's
// SKU, and then retries with the same Idempotency-Key until it gets a final answer or
// gives up. Each such client orders as an account of its own, so that the orders of its
// key are exactly that account's orders; what it finally learned is recorded for the
// key-answer invariants.
func (r *chaosRun) placeAmbiguous(ctx context.Context, i, k int) answer {
	key := fmt.Sprintf("chaos-amb-%d-%d", r.cfg.Seed, i)
	s := priceSKU(k % r.priceSKUs())
	body := fmt.Sprintf(`{"user_id":%q,"sku":%q,"quantity":%d}`, ambUser(k), s, 1+r.intn(int(r.cfg.MaxQuantity)))
	delay := time.Duration(1+r.intn(int(r.cfg.HangUpMax/time.Millisecond))) * time.Millisecond
	hctx, cancel := context.WithTimeout(ctx, delay)
	a, err := r.postOrder(hctx, key, body)
	cancel()
	final := a
	switch {
	case errors.Is(err, errHungUp):
		r.hungUp.Add(1)
		r.changePrice(ctx, s)
		final = r.placeWithRetries(ctx, key, body)
	case err == nil && a.final():
		// Answered before the hang-up: nothing ambiguous, but still a key to check.
	default:
		final = r.placeWithRetries(ctx, key, body)
	}
	ka := invariant.KeyAnswer{Key: key, Account: ambUser(k), OrderID: final.orderID, Code: final.code}
	switch {
	case final.status == http.StatusCreated:
		ka.Answer = invariant.KeyConfirmed
	case final.final():
		ka.Answer = invariant.KeyRefused
	default:
		ka.Answer = invariant.KeyGaveUp
		ka.Code = fmt.Sprintf("%d %s", final.status, final.code)
	}
	r.keysMu.Lock()
	r.keys = append(r.keys, ka)
	r.keysMu.Unlock()
	return final
}

// changePrice moves the SKU's price between Price and Price+10 through the inventory's
// admin API, keeping its available count as read just before. The admin PUT sets
// available, so the few units reserved or sold between the read and the write are
// re-counted: the SKU's conservation base is re-anchored on what the PUT returned
// (available + reserved + sold, read in the PUT's own transaction). Price changes are
// serialised so the anchors are recorded in the order they were applied. A change that
// cannot be made within 15 s (the database is down) is skipped and counted.
func (r *chaosRun) changePrice(ctx context.Context, s string) {
	r.priceMu.Lock()
	defer r.priceMu.Unlock()
	deadline := time.Now().Add(15 * time.Second)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		var it struct{ Price, Available, Reserved, Sold int64 }
		if err := r.getJSON(ctx, r.parts["inventory"].url()+"/api/v1/stock/"+s, &it); err != nil {
			continue // getJSON already waited
		}
		price := r.cfg.Price
		if it.Price == r.cfg.Price {
			price = r.cfg.Price + 10
		}
		var after struct{ Available, Reserved, Sold int64 }
		if err := r.adminJSON(ctx, r.parts["inventory"].url()+"/api/v1/stock/"+s, fmt.Sprintf(`{"price":%d,"available":%d}`, price, it.Available), &after); err != nil {
			r.pause(ctx, 200*time.Millisecond)
			continue
		}
		r.anchors[s] = after.Available + after.Reserved + after.Sold
		r.priceChanges.Add(1)
		return
	}
	// A PUT whose answer was lost may have been applied: the base is unknown from now on.
	r.anchors[s] = -1
	r.priceChangeFailed.Add(1)
}
