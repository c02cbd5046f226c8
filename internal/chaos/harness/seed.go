package harness

import (
	"context"
	"fmt"
)

func sku(i int) string  { return fmt.Sprintf("CHAOS-SKU-%d", i) }
func user(i int) string { return fmt.Sprintf("chaos-user-%d", i) }

// seed creates the catalogue and the accounts through the admin APIs. Half the users get
// a tenth of the balance so that some orders run out of funds; the stock is sized so
// that some SKUs sell out. Each PUT sets absolute figures, so seeding twice is harmless.
func (r *chaosRun) seed(ctx context.Context) error {
	for i := 0; i < r.cfg.SKUs; i++ {
		body := fmt.Sprintf(`{"price":%d,"available":%d}`, r.cfg.Price, r.cfg.Stock)
		if err := r.admin(ctx, r.parts["inventory"].url()+"/api/v1/stock/"+sku(i), body); err != nil {
			return err
		}
	}
	for i := 0; i < r.cfg.Users; i++ {
		if err := r.admin(ctx, r.parts["payment"].url()+"/api/v1/accounts/"+user(i), fmt.Sprintf(`{"balance":%d}`, r.initialBalance(i))); err != nil {
			return err
		}
	}
	return r.seedAmbiguous(ctx)
}

// initialBalance is user i's balance at the start: the odd users are poor.
func (r *chaosRun) initialBalance(i int) int64 {
	if i%2 == 1 {
		return r.cfg.Balance / 10
	}
	return r.cfg.Balance
}

// seedAmbiguous creates the price-changing SKUs (stock that never runs out) and one
// account per ambiguous client.
func (r *chaosRun) seedAmbiguous(ctx context.Context) error {
	if r.cfg.AmbiguousEvery <= 0 {
		return nil
	}
	r.ambAccounts = 200
	if r.cfg.Orders > 0 {
		r.ambAccounts = r.cfg.Orders / r.cfg.AmbiguousEvery
	}
	const stock = 1_000_000
	for j := 0; j < r.priceSKUs(); j++ {
		if err := r.admin(ctx, r.parts["inventory"].url()+"/api/v1/stock/"+priceSKU(j), fmt.Sprintf(`{"price":%d,"available":%d}`, r.cfg.Price, stock)); err != nil {
			return err
		}
		r.anchors[priceSKU(j)] = stock
	}
	for k := 0; k < r.ambAccounts; k++ {
		if err := r.admin(ctx, r.parts["payment"].url()+"/api/v1/accounts/"+ambUser(k), fmt.Sprintf(`{"balance":%d}`, r.cfg.Balance)); err != nil {
			return err
		}
	}
	return nil
}

type account struct {
	id      string
	initial int64
}

// accounts lists every account of the run with its initial balance.
func (r *chaosRun) accounts() []account {
	var out []account
	for i := 0; i < r.cfg.Users; i++ {
		out = append(out, account{user(i), r.initialBalance(i)})
	}
	for k := 0; k < r.ambAccounts; k++ {
		out = append(out, account{ambUser(k), r.cfg.Balance})
	}
	return out
}
