package harness

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// workload places orders from Concurrency clients until Orders are placed or Duration
// passes, starting the faults scheduled at each order's number as it goes, and counts
// every order's final answer into sum. A client retries an order whose answer was lost
// or unavailable with the same Idempotency-Key, as a careful client would. It returns
// once every client and every fault it started has ended.
func (r *chaosRun) workload(ctx context.Context, sum *Summary) {
	var next atomic.Int64
	var sumMu sync.Mutex
	var deadline time.Time
	if r.cfg.Duration > 0 {
		deadline = time.Now().Add(r.cfg.Duration)
	}
	var clients, faults sync.WaitGroup
	defer faults.Wait()
	for range r.cfg.Concurrency {
		clients.Add(1)
		go func() {
			defer clients.Done()
			for {
				i := int(next.Add(1))
				if (r.cfg.Orders > 0 && i > r.cfg.Orders) || (!deadline.IsZero() && time.Now().After(deadline)) || ctx.Err() != nil {
					return
				}
				r.fixedFaults(ctx, i, &faults)
				a := r.placeOrder(ctx, i)
				sumMu.Lock()
				r.count(sum, a)
				sumMu.Unlock()
			}
		}()
	}
	clients.Wait()
}

// placeOrder places order number i: an ambiguous client's, or an ordinary one for a
// random user, SKU and quantity, and returns its final answer.
func (r *chaosRun) placeOrder(ctx context.Context, i int) answer {
	if k, ok := r.ambiguous(i); ok {
		return r.placeAmbiguous(ctx, i, k)
	}
	body := fmt.Sprintf(`{"user_id":%q,"sku":%q,"quantity":%d}`,
		user(r.intn(r.cfg.Users)), sku(r.intn(r.cfg.SKUs)), 1+r.intn(int(r.cfg.MaxQuantity)))
	return r.placeWithRetries(ctx, fmt.Sprintf("chaos-%d-%d", r.cfg.Seed, i), body)
}

// count adds an order's final answer to sum (the caller serialises calls on sum) and
// remembers the XID of every 201 for the answered-means-confirmed invariant.
func (r *chaosRun) count(sum *Summary, a answer) {
	sum.Placed++
	switch a.status {
	case http.StatusCreated:
		sum.Confirmed++
		r.answeredMu.Lock()
		r.answered[a.xid] = true
		r.answeredMu.Unlock()
	case http.StatusConflict:
		sum.Refused[a.code]++
	default:
		sum.GaveUp[fmt.Sprintf("%d %s", a.status, a.code)]++
	}
}

// placeWithRetries gives an order up to 30 seconds of retries, enough to ride out a
// coordinator's lease expiry, a participant's restart and a database or etcd outage of
// a few seconds. It returns the final answer (201 or a 4xx other than 429), or the last
// one with an empty XID when it gave up. Every attempt carries the same key, so the
// order is placed at most once.
func (r *chaosRun) placeWithRetries(ctx context.Context, key, body string) answer {
	last := answer{code: "connection"}
	giveUp := time.Now().Add(30 * time.Second)
	for attempt := 0; time.Now().Before(giveUp); attempt++ {
		if attempt > 0 {
			t := time.NewTimer(time.Duration(50+r.intn(200)) * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				last.xid = ""
				return last
			case <-t.C:
			}
		}
		a, err := r.postOrder(ctx, key, body)
		last = a
		if err == nil && a.final() {
			return a
		}
		// No answer, 5xx, 429: the outcome is unknown or not yet reached; ask again with
		// the same key.
	}
	last.xid = ""
	return last
}
