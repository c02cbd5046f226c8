package harness

import (
	"context"
	"fmt"

	"github.com/tccsuite/tccsuite/internal/chaos/invariant"
)

// snapshot reads the whole suite's state through the public APIs, for the invariant
// checker: the stock, the accounts and their orders, the captures, the transactions,
// and what the clients were answered. Read at rest (after quiesce); it only reads.
func (r *chaosRun) snapshot(ctx context.Context) (invariant.Snapshot, error) {
	s := invariant.Snapshot{Answered: r.answered, Keys: r.keys}
	for _, read := range []func(context.Context, *invariant.Snapshot) error{
		r.snapshotItems,
		r.snapshotPriceSKUs,
		r.snapshotAccounts,
		r.snapshotCaptures,
		r.snapshotTransactions,
	} {
		if err := read(ctx, &s); err != nil {
			return s, err
		}
	}
	return s, nil
}

// stockLevel is an SKU as GET /api/v1/stock/{sku} answers it.
type stockLevel struct{ Available, Reserved, Sold int64 }

// snapshotItems adds the workload's SKUs with their initial stock.
func (r *chaosRun) snapshotItems(ctx context.Context, s *invariant.Snapshot) error {
	for i := 0; i < r.cfg.SKUs; i++ {
		var it stockLevel
		if err := r.getJSON(ctx, r.parts["inventory"].url()+"/api/v1/stock/"+sku(i), &it); err != nil {
			return err
		}
		s.Items = append(s.Items, invariant.Item{SKU: sku(i), Initial: r.cfg.Stock, Available: it.Available, Reserved: it.Reserved, Sold: it.Sold})
	}
	return nil
}

// snapshotPriceSKUs adds the price-changing SKUs, each with its conservation base as
// anchored by the last price change (or its own current total when unknown).
func (r *chaosRun) snapshotPriceSKUs(ctx context.Context, s *invariant.Snapshot) error {
	if r.cfg.AmbiguousEvery <= 0 {
		return nil
	}
	r.priceMu.Lock()
	defer r.priceMu.Unlock()
	for j := 0; j < r.priceSKUs(); j++ {
		var it stockLevel
		if err := r.getJSON(ctx, r.parts["inventory"].url()+"/api/v1/stock/"+priceSKU(j), &it); err != nil {
			return err
		}
		base := r.anchors[priceSKU(j)]
		if base < 0 {
			base = it.Available + it.Reserved + it.Sold
		}
		s.Items = append(s.Items, invariant.Item{SKU: priceSKU(j), Initial: base, Available: it.Available, Reserved: it.Reserved, Sold: it.Sold})
	}
	return nil
}

// snapshotAccounts adds every account of the run and every order of its user.
func (r *chaosRun) snapshotAccounts(ctx context.Context, s *invariant.Snapshot) error {
	for _, acc := range r.accounts() {
		var a struct{ Balance, Frozen, Captured int64 }
		if err := r.getJSON(ctx, r.parts["payment"].url()+"/api/v1/accounts/"+acc.id, &a); err != nil {
			return err
		}
		s.Accounts = append(s.Accounts, invariant.Account{ID: acc.id, Initial: acc.initial, Balance: a.Balance, Frozen: a.Frozen, Captured: a.Captured})
		if err := r.snapshotOrders(ctx, s, acc.id); err != nil {
			return err
		}
	}
	return nil
}

// snapshotOrders pages through the orders of one user.
func (r *chaosRun) snapshotOrders(ctx context.Context, s *invariant.Snapshot, userID string) error {
	for after := ""; ; {
		var page struct {
			Orders []struct {
				OrderID  string `json:"order_id"`
				XID      string `json:"xid"`
				UserID   string `json:"user_id"`
				SKU      string `json:"sku"`
				Quantity int64  `json:"quantity"`
				Amount   int64  `json:"amount"`
				Status   string `json:"status"`
			} `json:"orders"`
			Next string `json:"next"`
		}
		url := r.parts["order"].url() + "/api/v1/orders?limit=200&user_id=" + userID
		if after != "" {
			url += "&after=" + after
		}
		if err := r.getJSON(ctx, url, &page); err != nil {
			return err
		}
		for _, o := range page.Orders {
			s.Orders = append(s.Orders, invariant.Order{OrderID: o.OrderID, XID: o.XID, UserID: o.UserID, SKU: o.SKU, Quantity: o.Quantity, Amount: o.Amount, Status: o.Status})
		}
		if page.Next == "" || len(page.Orders) == 0 {
			return nil
		}
		after = page.Next
	}
}

// snapshotCaptures adds the payments of every order in s.Orders (read them first), and
// one unnamed capture for each the payment service counts beyond those: captures of
// orders the order service does not know show up in the totals only.
func (r *chaosRun) snapshotCaptures(ctx context.Context, s *invariant.Snapshot) error {
	for _, o := range s.Orders {
		var page struct {
			Payments []struct {
				OrderID   string `json:"order_id"`
				XID       string `json:"xid"`
				AccountID string `json:"account_id"`
				Amount    int64  `json:"amount"`
			} `json:"payments"`
		}
		if err := r.getJSON(ctx, r.parts["payment"].url()+"/api/v1/payments?order_id="+o.OrderID, &page); err != nil {
			return err
		}
		for _, p := range page.Payments {
			s.Captures = append(s.Captures, invariant.Capture{OrderID: p.OrderID, XID: p.XID, AccountID: p.AccountID, Amount: p.Amount})
		}
	}
	var stats struct{ Count int64 }
	if err := r.getJSON(ctx, r.parts["payment"].url()+"/api/v1/payments/stats", &stats); err != nil {
		return err
	}
	for n := int64(len(s.Captures)); n < stats.Count; n++ {
		s.Captures = append(s.Captures, invariant.Capture{OrderID: fmt.Sprintf("(unknown order %d)", n), XID: "(unknown)"})
	}
	return nil
}

// snapshotTransactions pages through every transaction the coordinators hold.
func (r *chaosRun) snapshotTransactions(ctx context.Context, s *invariant.Snapshot) error {
	for after := ""; ; {
		var page struct {
			Transactions []struct {
				XID       string `json:"xid"`
				Status    string `json:"status"`
				Attention bool   `json:"attention"`
			} `json:"transactions"`
			Next string `json:"next"`
		}
		url := r.lb.url() + "/v1/transactions?limit=500"
		if after != "" {
			url += "&after=" + after
		}
		if err := r.getJSON(ctx, url, &page); err != nil {
			return err
		}
		for _, t := range page.Transactions {
			s.Txs = append(s.Txs, invariant.Tx{XID: t.XID, Status: t.Status, Attention: t.Attention})
		}
		if page.Next == "" || len(page.Transactions) == 0 {
			return nil
		}
		after = page.Next
	}
}
