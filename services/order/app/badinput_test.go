package app

import (
	"fmt"
	"strings"
	"testing"
)

// TestBadInput sends malformed, out-of-range, unknown, oversized, mistyped and
// unauthenticated requests to every public endpoint: each gets the right 4xx with a JSON
// {"code","message"}, and nothing changes anywhere.
func TestBadInput(t *testing.T) {
	s := newSuite(t, onMySQL, nil, nil)
	s.putStock("WIDGET", 250, 10)
	s.putAccount("alice", 10_000)

	big := `{"user_id":"alice","sku":"WIDGET","quantity":1,"pad":"` + strings.Repeat("x", 20<<10) + `"}`
	o, inv, pay := s.orderURL, s.inventoryURL, s.paymentURL
	json := map[string]string{"Content-Type": "application/json"}
	admin := map[string]string{"Authorization": "Bearer " + adminToken}
	wrong := map[string]string{"Authorization": "Bearer not-the-token"}
	merge := func(a, b map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range a {
			m[k] = v
		}
		for k, v := range b {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name, method, url, body string
		hdr                     map[string]string
		status                  int
		code                    string
	}{
		{"order: missing user", "POST", o + "/api/v1/orders", `{"sku":"WIDGET","quantity":1}`, nil, 400, "BAD_REQUEST"},
		{"order: missing sku", "POST", o + "/api/v1/orders", `{"user_id":"alice","quantity":1}`, nil, 400, "BAD_REQUEST"},
		{"order: missing quantity", "POST", o + "/api/v1/orders", `{"user_id":"alice","sku":"WIDGET"}`, nil, 400, "BAD_REQUEST"},
		{"order: quantity as string", "POST", o + "/api/v1/orders", `{"user_id":"alice","sku":"WIDGET","quantity":"2"}`, nil, 400, "BAD_REQUEST"},
		{"order: fractional quantity", "POST", o + "/api/v1/orders", `{"user_id":"alice","sku":"WIDGET","quantity":1.5}`, nil, 400, "BAD_REQUEST"},
		{"order: zero quantity", "POST", o + "/api/v1/orders", `{"user_id":"alice","sku":"WIDGET","quantity":0}`, nil, 400, "BAD_REQUEST"},
		{"order: negative quantity", "POST", o + "/api/v1/orders", `{"user_id":"alice","sku":"WIDGET","quantity":-3}`, nil, 400, "BAD_REQUEST"},
		{"order: quantity over bound", "POST", o + "/api/v1/orders", `{"user_id":"alice","sku":"WIDGET","quantity":1001}`, nil, 400, "BAD_REQUEST"},
		{"order: huge quantity", "POST", o + "/api/v1/orders", `{"user_id":"alice","sku":"WIDGET","quantity":99999999999999999999999}`, nil, 400, "BAD_REQUEST"},
		{"order: user as number", "POST", o + "/api/v1/orders", `{"user_id":7,"sku":"WIDGET","quantity":1}`, nil, 400, "BAD_REQUEST"},
		{"order: unknown field", "POST", o + "/api/v1/orders", `{"user_id":"alice","sku":"WIDGET","quantity":1,"price":1}`, nil, 400, "BAD_REQUEST"},
		{"order: bad sku characters", "POST", o + "/api/v1/orders", `{"user_id":"alice","sku":"../etc","quantity":1}`, nil, 400, "BAD_REQUEST"},
		{"order: not JSON", "POST", o + "/api/v1/orders", `user_id=alice`, nil, 400, "BAD_REQUEST"},
		{"order: empty body", "POST", o + "/api/v1/orders", ``, json, 400, "BAD_REQUEST"},
		{"order: JSON array", "POST", o + "/api/v1/orders", `[1,2]`, nil, 400, "BAD_REQUEST"},
		{"order: trailing data", "POST", o + "/api/v1/orders", `{"user_id":"alice","sku":"WIDGET","quantity":1}{}`, nil, 400, "BAD_REQUEST"},
		{"order: wrong content type", "POST", o + "/api/v1/orders", `{"user_id":"alice","sku":"WIDGET","quantity":1}`, map[string]string{"Content-Type": "text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"order: oversized body", "POST", o + "/api/v1/orders", big, nil, 413, "PAYLOAD_TOO_LARGE"},
		{"order: unknown sku", "POST", o + "/api/v1/orders", `{"user_id":"alice","sku":"NOPE","quantity":1}`, nil, 422, "UNKNOWN_SKU"},
		{"order: unknown user", "POST", o + "/api/v1/orders", `{"user_id":"mallory","sku":"WIDGET","quantity":1}`, nil, 422, "UNKNOWN_USER"},
		{"order: bad idempotency key", "POST", o + "/api/v1/orders", `{"user_id":"alice","sku":"WIDGET","quantity":1}`, map[string]string{"Idempotency-Key": strings.Repeat("k", 200)}, 400, "BAD_REQUEST"},
		{"order: get unknown", "GET", o + "/api/v1/orders/o-404", ``, nil, 404, "NOT_FOUND"},
		{"order: get bad id", "GET", o + "/api/v1/orders/bad%20id", ``, nil, 400, "BAD_REQUEST"},
		{"order: list without user", "GET", o + "/api/v1/orders", ``, nil, 400, "BAD_REQUEST"},
		{"order: list bad limit", "GET", o + "/api/v1/orders?user_id=alice&limit=0", ``, nil, 400, "BAD_REQUEST"},
		{"order: list limit not a number", "GET", o + "/api/v1/orders?user_id=alice&limit=x", ``, nil, 400, "BAD_REQUEST"},
		{"order: unknown route", "GET", o + "/api/v2/orders", ``, nil, 404, "NOT_FOUND"},
		{"order: wrong method", "DELETE", o + "/api/v1/orders/o-1", ``, nil, 405, "METHOD_NOT_ALLOWED"},
		{"order: unsigned-less tcc call without headers", "POST", o + "/tcc/place/try", `{}`, nil, 400, "TCC_BAD_HEADER"},

		{"stock: unknown sku", "GET", inv + "/api/v1/stock/NOPE", ``, nil, 404, "NOT_FOUND"},
		{"stock: bad sku", "GET", inv + "/api/v1/stock/a%20b", ``, nil, 400, "BAD_REQUEST"},
		{"stock: bad limit", "GET", inv + "/api/v1/stock?limit=5000", ``, nil, 400, "BAD_REQUEST"},
		{"stock: put without token", "PUT", inv + "/api/v1/stock/WIDGET", `{"price":1,"available":1}`, nil, 401, "UNAUTHORIZED"},
		{"stock: put wrong token", "PUT", inv + "/api/v1/stock/WIDGET", `{"price":1,"available":1}`, wrong, 401, "UNAUTHORIZED"},
		{"stock: put missing available", "PUT", inv + "/api/v1/stock/WIDGET", `{"price":1}`, admin, 400, "BAD_REQUEST"},
		{"stock: put negative price", "PUT", inv + "/api/v1/stock/WIDGET", `{"price":-1,"available":1}`, admin, 400, "BAD_REQUEST"},
		{"stock: put negative available", "PUT", inv + "/api/v1/stock/WIDGET", `{"price":1,"available":-5}`, admin, 400, "BAD_REQUEST"},
		{"stock: put huge price", "PUT", inv + "/api/v1/stock/WIDGET", `{"price":1e30,"available":1}`, admin, 400, "BAD_REQUEST"},
		{"stock: put price as string", "PUT", inv + "/api/v1/stock/WIDGET", `{"price":"1","available":1}`, admin, 400, "BAD_REQUEST"},
		{"stock: put wrong content type", "PUT", inv + "/api/v1/stock/WIDGET", `{"price":1,"available":1}`, merge(admin, map[string]string{"Content-Type": "application/xml"}), 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"stock: put oversized", "PUT", inv + "/api/v1/stock/WIDGET", `{"price":1,"available":1,"x":"` + strings.Repeat("y", 20<<10) + `"}`, admin, 413, "PAYLOAD_TOO_LARGE"},
		{"stock: put bad sku", "PUT", inv + "/api/v1/stock/" + strings.Repeat("s", 65), `{"price":1,"available":1}`, admin, 400, "BAD_REQUEST"},

		{"account: unknown", "GET", pay + "/api/v1/accounts/nobody", ``, nil, 404, "NOT_FOUND"},
		{"account: bad id", "GET", pay + "/api/v1/accounts/a%20b", ``, nil, 400, "BAD_REQUEST"},
		{"account: put without token", "PUT", pay + "/api/v1/accounts/alice", `{"balance":1}`, nil, 401, "UNAUTHORIZED"},
		{"account: put wrong token", "PUT", pay + "/api/v1/accounts/alice", `{"balance":1}`, wrong, 401, "UNAUTHORIZED"},
		{"account: put missing balance", "PUT", pay + "/api/v1/accounts/alice", `{}`, admin, 400, "BAD_REQUEST"},
		{"account: put negative balance", "PUT", pay + "/api/v1/accounts/alice", `{"balance":-1}`, admin, 400, "BAD_REQUEST"},
		{"account: put huge balance", "PUT", pay + "/api/v1/accounts/alice", `{"balance":99999999999999999999}`, admin, 400, "BAD_REQUEST"},
		{"account: put wrong content type", "PUT", pay + "/api/v1/accounts/alice", `{"balance":1}`, merge(admin, map[string]string{"Content-Type": "text/plain"}), 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"payments: missing order id", "GET", pay + "/api/v1/payments", ``, nil, 400, "BAD_REQUEST"},
		{"payment: forged tcc call", "POST", pay + "/tcc/charge/try", `{"order_id":"x","account_id":"alice","amount":-5}`, map[string]string{"X-TCC-XID": "x1", "X-TCC-Branch-ID": "b1", "X-TCC-Deadline": "2999-01-01T00:00:00.000Z"}, 400, "TCC_BAD_PAYLOAD"},
	}
	before := snapshot(s)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.body != "" {
				hdr["Content-Type"] = "application/json"
			}
			for k, v := range tc.hdr {
				hdr[k] = v
			}
			st, m, _ := s.do(tc.method, tc.url, tc.body, hdr)
			if st != tc.status || m["code"] != tc.code {
				t.Fatalf("got %d %v, want %d %s", st, m, tc.status, tc.code)
			}
			if msg, _ := m["message"].(string); msg == "" {
				t.Fatalf("no message: %v", m)
			}
		})
	}
	if after := snapshot(s); after != before {
		t.Fatalf("state changed:\nbefore %s\nafter  %s", before, after)
	}
}

func snapshot(s *suite) string {
	_, stock, _ := s.do("GET", s.inventoryURL+"/api/v1/stock", "", nil)
	_, accounts, _ := s.do("GET", s.paymentURL+"/api/v1/accounts", "", nil)
	_, orders, _ := s.do("GET", s.orderURL+"/api/v1/orders?user_id=alice", "", nil)
	var n int64
	s.orderDB.Raw("SELECT COUNT(*) FROM orders").Scan(&n)
	return fmt.Sprint(stock, accounts, orders, n)
}

// TestRateLimit: over the configured rate, POST /api/v1/orders answers 429 with
// Retry-After, and nothing is ordered.
func TestRateLimit(t *testing.T) {
	s := newSuite(t, onSQLite, func(c *Config) { c.RateLimit, c.RateBurst = 0.001, 1 }, nil)
	s.putStock("WIDGET", 250, 10)
	s.putAccount("alice", 10_000)
	st, m, _ := s.order(`{"user_id":"alice","sku":"WIDGET","quantity":1}`, "")
	if st != 201 {
		t.Fatalf("first: %d %v", st, m)
	}
	st, m, h := s.order(`{"user_id":"alice","sku":"WIDGET","quantity":1}`, "")
	if st != 429 || m["code"] != "RATE_LIMITED" || h.Get("Retry-After") == "" {
		t.Fatalf("second: %d %v %v", st, m, h)
	}
	expect(t, "stock", s.stock("WIDGET"), map[string]int64{"available": 9, "sold": 1})
}
