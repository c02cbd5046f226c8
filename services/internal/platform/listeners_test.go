package platform

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/tccsuite/tccsuite/internal/httpx"
)

var discard = slog.New(slog.DiscardHandler)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

func TestValidateListeners(t *testing.T) {
	ln, other := listen(t), listen(t)
	for _, tc := range []struct {
		name    string
		c       Common
		addr    string
		ln      net.Listener
		wantErr string
	}{
		{"unset", Common{}, ":8081", nil, ""},
		{"distinct ports", Common{TCCAddr: ":9081"}, ":8081", nil, ""},
		{"distinct hosts", Common{TCCAddr: "127.0.0.2:8081"}, "127.0.0.1:8081", nil, ""},
		{"both ephemeral", Common{TCCAddr: "127.0.0.1:0"}, "127.0.0.1:0", nil, "must differ"},
		{"any ephemeral", Common{TCCAddr: ":0"}, "127.0.0.1:0", nil, ""},
		{"same", Common{TCCAddr: ":8081"}, ":8081", nil, "must differ"},
		{"wildcard covers host", Common{TCCAddr: "127.0.0.1:8081"}, ":8081", nil, "must differ"},
		{"ipv4 wildcard", Common{TCCAddr: "0.0.0.0:8081"}, "10.0.0.1:8081", nil, "must differ"},
		{"no port", Common{TCCAddr: "9081"}, ":8081", nil, "host:port"},
		{"main listener given", Common{TCCAddr: ":8081"}, ":8081", ln, ""},
		{"tcc listener given", Common{TCCListener: other}, ":8081", ln, ""},
		{"same listener", Common{TCCListener: ln}, "", ln, "must not be the main listener"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.ValidateListeners("INVENTORY_", tc.addr, tc.ln)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "INVENTORY_TCC_ADDR")) {
				t.Fatalf("error %v, want one naming INVENTORY_TCC_ADDR with %q", err, tc.wantErr)
			}
		})
	}
}

func TestEnginesAndServers(t *testing.T) {
	m := httpx.NewMetrics("test")
	api, tcc := Common{}.Engines(discard, m, nil, nil)
	if api != tcc {
		t.Error("without a TCC address the TCC routes must go on the API engine")
	}
	if s := (Common{}).Servers("svc", ":1", nil, api, tcc); len(s) != 1 {
		t.Errorf("one listener wanted, got %d servers", len(s))
	}
	c := Common{TCCAddr: ":9081"}
	api, tcc = c.Engines(discard, httpx.NewMetrics("test2"), nil, nil)
	if api == tcc {
		t.Fatal("with a TCC address the TCC routes need their own engine")
	}
	s := c.Servers("svc", ":8081", nil, api, tcc)
	if len(s) != 2 || s[0].Addr != ":8081" || s[0].Handler != api || s[1].Addr != ":9081" || s[1].Handler != tcc || s[1].Name != "svc tcc" {
		t.Errorf("servers %+v", s)
	}
}
