package app

import (
	"net/http"
	"testing"
)

// TestZeroPriceRefused: an item priced 0 could never be ordered (payment refuses to hold
// an amount of 0, so every order of it would be cancelled with a 503 to the buyer). The
// admin API refuses the price at the input with a 400, and the item is left as it was.
func TestZeroPriceRefused(t *testing.T) {
	base, c, admin := serveOnSQLite(t)

	if st, m := c.call("PUT", base+"/api/v1/stock/SKU-0", []byte(`{"price":0,"available":5}`), admin); st != http.StatusBadRequest || m["code"] != "BAD_REQUEST" {
		t.Fatalf("PUT a new item at price 0: %d %v, want 400 BAD_REQUEST", st, m)
	}
	if st, m := c.call("GET", base+"/api/v1/stock/SKU-0", nil, nil); st != http.StatusNotFound {
		t.Fatalf("the refused item exists: %d %v", st, m)
	}
	if st, m := c.call("PUT", base+"/api/v1/stock/SKU-1", []byte(`{"price":100,"available":5}`), admin); st != http.StatusOK {
		t.Fatalf("PUT: %d %v", st, m)
	}
	if st, m := c.call("PUT", base+"/api/v1/stock/SKU-1", []byte(`{"price":0,"available":9}`), admin); st != http.StatusBadRequest {
		t.Fatalf("reprice to 0: %d %v, want 400", st, m)
	}
	st, m := c.call("GET", base+"/api/v1/stock/SKU-1", nil, nil)
	if st != http.StatusOK || m["price"] != float64(100) || m["available"] != float64(5) {
		t.Fatalf("after a refused reprice: %d %v, want price 100 and 5 available", st, m)
	}
}
