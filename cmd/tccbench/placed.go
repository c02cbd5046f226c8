package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// answerLog remembers, for every answer that named an order (a 201's order_id, or a
// refusal's or a 503's), which kind of answer the client got for it. The bench sends
// each order once with a key of its own, so an order is named by at most one answer.
type answerLog struct {
	mu      sync.Mutex
	byOrder map[string]string
}

func (l *answerLog) add(orderID, kind string) {
	if orderID == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byOrder == nil {
		l.byOrder = map[string]string{}
	}
	l.byOrder[orderID] = kind
}

// noAnswer is the kind of a placed order that no answer named (a transport error, a
// timeout, or a 503 that did not carry the order's ID).
const noAnswer = "(no answer named it)"

// placement is what the services say the run placed, reconciled with what the clients
// were answered.
type placement struct {
	Confirmed int // orders of the run CONFIRMED in the order service
	Cancelled int
	Pending   int
	// AnsweredNotConfirmed lists orders answered 201 that the order service does not
	// hold CONFIRMED: a broken promise, and a violation.
	AnsweredNotConfirmed []string
	// PlacedDespite counts CONFIRMED orders whose client was not answered 201, by the
	// answer it got instead: the client may retry or give up, but the order stands. Not
	// a violation; a figure the report must show.
	PlacedDespite map[string]int
}

// reconcile compares the orders the order service lists for the bench users before and
// after the run (order ID → status) with the answers the clients got.
func reconcile(before, after map[string]string, answers map[string]string) placement {
	p := placement{PlacedDespite: map[string]int{}}
	for id, st := range after {
		if _, old := before[id]; old {
			continue
		}
		switch st {
		case "CONFIRMED":
			p.Confirmed++
			if k, ok := answers[id]; !ok {
				p.PlacedDespite[noAnswer]++
			} else if !strings.HasPrefix(k, "201") {
				p.PlacedDespite[k]++
			}
		case "CANCELLED":
			p.Cancelled++
		default:
			p.Pending++
		}
	}
	for id, k := range answers {
		if strings.HasPrefix(k, "201") && after[id] != "CONFIRMED" {
			p.AnsweredNotConfirmed = append(p.AnsweredNotConfirmed, id)
		}
	}
	sort.Strings(p.AnsweredNotConfirmed)
	return p
}

// placedDespite503 is the number behind "answered 503 but placed: N".
func (p placement) placedDespite503() int {
	n := 0
	for k, v := range p.PlacedDespite {
		if strings.HasPrefix(k, "503") {
			n += v
		}
	}
	return n
}

// lines renders the reconciliation for the report.
func (p placement) lines() []string {
	out := []string{fmt.Sprintf("placed (order service): %d CONFIRMED, %d CANCELLED, %d PENDING", p.Confirmed, p.Cancelled, p.Pending),
		fmt.Sprintf("answered 503 but placed: %d", p.placedDespite503())}
	keys := make([]string, 0, len(p.PlacedDespite))
	for k := range p.PlacedDespite {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, fmt.Sprintf("  placed though answered %-26s %d", k, p.PlacedDespite[k]))
	}
	return out
}

// listOrders pages through the bench users' orders: order ID → status.
func (c *client) listOrders(ctx context.Context, cfg config) (map[string]string, error) {
	out := map[string]string{}
	for _, u := range cfg.users {
		after := ""
		for {
			var page struct {
				Orders []struct {
					OrderID string `json:"order_id"`
					Status  string `json:"status"`
				} `json:"orders"`
				Next string `json:"next"`
			}
			url := cfg.orderURL + "/api/v1/orders?limit=1000&user_id=" + u
			if after != "" {
				url += "&after=" + after
			}
			if err := c.want(ctx, 200, "GET", url, nil, nil, &page); err != nil {
				return nil, fmt.Errorf("orders of %s: %w", u, err)
			}
			for _, o := range page.Orders {
				out[o.OrderID] = o.Status
			}
			if page.Next == "" || len(page.Orders) == 0 {
				break
			}
			after = page.Next
		}
	}
	return out, nil
}
