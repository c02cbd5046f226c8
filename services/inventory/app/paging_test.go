package app

import (
	"fmt"
	"testing"
)

// TestStockPaging walks GET /api/v1/stock page by page: every item once, in order, the
// last page without a cursor; a malformed cursor or limit is a 400.
func TestStockPaging(t *testing.T) {
	base, c, admin := serveOnSQLite(t)
	const n = 7
	for i := 0; i < n; i++ {
		if st, m := c.call("PUT", fmt.Sprintf("%s/api/v1/stock/SKU-%d", base, i), []byte(`{"price":1,"available":1}`), admin); st != 200 {
			t.Fatalf("PUT: %d %v", st, m)
		}
	}
	var seen []string
	after, pages := "", 0
	for {
		url := base + "/api/v1/stock?limit=3"
		if after != "" {
			url += "&after=" + after
		}
		st, m := c.call("GET", url, nil, nil)
		if st != 200 {
			t.Fatalf("GET %s: %d %v", url, st, m)
		}
		pages++
		for _, it := range m["items"].([]any) {
			seen = append(seen, it.(map[string]any)["sku"].(string))
		}
		next, _ := m["next"].(string)
		if next == "" {
			break
		}
		after = next
	}
	if pages != 3 || fmt.Sprint(seen) != "[SKU-0 SKU-1 SKU-2 SKU-3 SKU-4 SKU-5 SKU-6]" {
		t.Fatalf("%d pages: %v", pages, seen)
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "after=bad%20cursor"} {
		if st, m := c.call("GET", base+"/api/v1/stock?"+q, nil, nil); st != 400 || m["code"] != "BAD_REQUEST" {
			t.Errorf("?%s: %d %v, want 400 BAD_REQUEST", q, st, m)
		}
	}
}
