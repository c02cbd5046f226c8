package main

import (
	"fmt"
	"io"
)

// addresses is where the quick start's components answer.
type addresses struct {
	coordinator, order, inventory, payment, etcd string
}

// printBanner prints where everything is, the demo secrets (the HMAC key only when it
// is the demo one), and the curl that places an order; its last line is "ready". The
// banner is advice: an output that cannot be written does not stop the suite.
func printBanner(out io.Writer, c config, a addresses) {
	store := "SQLite files in " + c.DataDir
	if c.MySQLDSN != "" {
		store = "MySQL schemas *_coordinator, *_order, *_inventory, *_payment"
	}
	_, _ = fmt.Fprintf(out, `
tccsuite is running (%s)

  coordinator  %s   (GET /v1/transactions?status=CONFIRMED)
  order        %s   (POST /api/v1/orders)
  inventory    %s   (GET /api/v1/stock)
  payment      %s   (GET /api/v1/accounts)
  etcd         %s
  every server: /healthz /readyz /metrics

  demo admin token: %s
  demo HMAC key:    %s
  (demo values: set TCC_ADMIN_TOKEN and TCC_HMAC_KEY for anything else)

Place an order:

  curl -s -X POST %s/api/v1/orders -H 'Content-Type: application/json' -H 'Idempotency-Key: demo-1' -d '{"user_id":"alice","sku":"WIDGET","quantity":2}'

Then look:  curl -s %s/api/v1/stock/WIDGET   curl -s %s/api/v1/accounts/alice

Ctrl-C stops everything.
ready
`, store, a.coordinator, a.order, a.inventory, a.payment, a.etcd, c.AdminToken, maskKey(c.HMACKey), a.order, a.inventory, a.payment)
}

// maskKey shows the demo key, and hides any other.
func maskKey(k string) string {
	if k == demoHMACKey {
		return k
	}
	return "(set by TCC_HMAC_KEY)"
}
