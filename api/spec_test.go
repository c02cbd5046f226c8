package api

import "testing"

func TestSpecParses(t *testing.T) {
	ops, err := Operations()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		"POST /api/v1/orders": true, "GET /api/v1/orders/{}": true, "PUT /api/v1/stock/{}": true,
		"POST /v1/transactions/{}/retry": true, "POST /tcc/reserve/try": true, "POST /tcc/charge/cancel": true,
		"GET /metrics": true,
	}
	for _, op := range ops {
		delete(want, op.Method+" "+op.Path)
		if len(op.Tags) == 0 {
			t.Errorf("%s %s has no tag naming its server", op.Method, op.Path)
		}
	}
	if len(want) > 0 {
		t.Errorf("operations missing from the parsed spec: %v", want)
	}
	if got := Normalize("/api/v1/orders/:id"); got != "/api/v1/orders/{}" {
		t.Errorf("Normalize: %q", got)
	}
}
