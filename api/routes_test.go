package api_test

import (
	"slices"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/tccsuite/tccsuite/api"
	coordinator "github.com/tccsuite/tccsuite/coordinator/app"
	inventory "github.com/tccsuite/tccsuite/services/inventory/app"
	order "github.com/tccsuite/tccsuite/services/order/app"
	payment "github.com/tccsuite/tccsuite/services/payment/app"
)

// TestSpecMatchesServers holds the servers and api/openapi.yaml to each other: every
// route a server registers is in the spec (tagged with that server, "operations" or the
// participant protocol), and every operation in the spec is served by a server its tags
// allow.
func TestSpecMatchesServers(t *testing.T) {
	routes := map[string][]gin.RouteInfo{"coordinator": coordinator.Routes()}
	for name, f := range map[string]func() ([]gin.RouteInfo, error){
		"order": order.Routes, "inventory": inventory.Routes, "payment": payment.Routes,
	} {
		r, err := f()
		if err != nil {
			t.Fatalf("%s routes: %v", name, err)
		}
		routes[name] = r
	}
	ops, err := api.Operations()
	if err != nil {
		t.Fatal(err)
	}
	participants := []string{"order", "inventory", "payment"}
	// allowed says whether server may serve an operation with these tags.
	allowed := func(server string, tags []string) bool {
		return slices.Contains(tags, server) || slices.Contains(tags, "operations") ||
			(slices.Contains(tags, "participant-protocol") && slices.Contains(participants, server))
	}
	served := map[string]bool{} // "METHOD path" served by some allowed server
	for server, rs := range routes {
		if len(rs) == 0 {
			t.Fatalf("%s registers no route", server)
		}
		for _, r := range rs {
			key := r.Method + " " + api.Normalize(r.Path)
			i := slices.IndexFunc(ops, func(o api.Operation) bool { return o.Method+" "+o.Path == key })
			if i < 0 {
				t.Errorf("%s serves %s %s, which is not in api/openapi.yaml", server, r.Method, r.Path)
				continue
			}
			if !allowed(server, ops[i].Tags) {
				t.Errorf("%s serves %s %s, but the spec tags it %v", server, r.Method, r.Path, ops[i].Tags)
				continue
			}
			served[key] = true
		}
	}
	for _, o := range ops {
		if !served[o.Method+" "+o.Path] {
			t.Errorf("api/openapi.yaml has %s %s (tags %v), which no server serves", o.Method, o.Path, o.Tags)
		}
	}
	// Every server answers the operations endpoints.
	for server, rs := range routes {
		for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
			if !slices.ContainsFunc(rs, func(r gin.RouteInfo) bool { return r.Method == "GET" && r.Path == p }) {
				t.Errorf("%s does not serve GET %s", server, p)
			}
		}
	}
}
