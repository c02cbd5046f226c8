package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tccsuite/tccsuite/pkg/tcc"
)

const (
	testHMACKey    = "test-hmac-key-0123456789"
	testAdminToken = "test-admin-token"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

type client struct {
	t *testing.T
	c *http.Client
}

// call sends a request and returns the status and the JSON object answered.
func (c client) call(method, url string, body []byte, hdr http.Header) (int, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			c.t.Fatalf("%s %s: answer %d is not a JSON object: %q", method, url, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, m
}

// signedPhase builds the headers of a coordinator's phase call, signed like the
// coordinator signs it.
func signedPhase(t *testing.T, path string, body []byte, xid string) http.Header {
	t.Helper()
	s, err := tcc.NewSigner([]byte(testHMACKey))
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(tcc.HeaderXID, xid)
	h.Set(tcc.HeaderBranchID, "inventory")
	h.Set(tcc.HeaderDeadline, tcc.FormatDeadline(time.Now().Add(time.Minute)))
	s.Sign(h, http.MethodPost, path, body, time.Now())
	return h
}

// With INVENTORY_TCC_ADDR set, the TCC routes are served on that listener only: a
// signed Try on the main port answers 404 and reserves nothing; the same call on the TCC
// port reserves; the REST API stays on the main port (404 on the TCC port); both
// listeners answer /healthz, and both close when the service stops.
func TestTCCOnItsOwnListener(t *testing.T) {
	cfg, err := ConfigFromEnv(func(k string) string {
		return map[string]string{
			"INVENTORY_SQLITE_PATH": t.TempDir() + "/inventory.db",
			"INVENTORY_ADDR":        "127.0.0.1:8081",
			"INVENTORY_TCC_ADDR":    "127.0.0.1:9081",
			"TCC_HMAC_KEY":          testHMACKey,
			"TCC_ADMIN_TOKEN":       testAdminToken,
		}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TCCAddr != "127.0.0.1:9081" {
		t.Fatalf("INVENTORY_TCC_ADDR read as %q", cfg.TCCAddr)
	}
	// Bind both listeners before the service starts (no fixed ports in tests): requests
	// wait in the accept queues until it serves.
	cfg.Listener, cfg.TCCListener = listen(t), listen(t)
	mainURL, tccURL := "http://"+cfg.Listener.Addr().String(), "http://"+cfg.TCCListener.Addr().String()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	defer stop()

	c := client{t, &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	admin := http.Header{"Authorization": {"Bearer " + testAdminToken}}
	if st, m := c.call("PUT", mainURL+"/api/v1/stock/SKU-1", []byte(`{"price":100,"available":10}`), admin); st != 200 {
		t.Fatalf("PUT stock on the main port: %d %v", st, m)
	}
	stock := func() (available, reserved, sold float64) {
		t.Helper()
		st, m := c.call("GET", mainURL+"/api/v1/stock/SKU-1", nil, nil)
		if st != 200 {
			t.Fatalf("GET stock on the main port: %d %v", st, m)
		}
		return m["available"].(float64), m["reserved"].(float64), m["sold"].(float64)
	}

	body := []byte(`{"order_id":"o-1","sku":"SKU-1","quantity":2,"unit_price":100}`)
	const try, confirm = "/tcc/reserve/try", "/tcc/reserve/confirm"

	// The main port does not serve the participant protocol, signed or not.
	for _, path := range []string{try, confirm, "/tcc/reserve/cancel"} {
		st, m := c.call("POST", mainURL+path, body, signedPhase(t, path, body, "xid-1"))
		if st != http.StatusNotFound || m["code"] != "NOT_FOUND" {
			t.Errorf("POST %s on the main port: %d %v, want 404 NOT_FOUND", path, st, m)
		}
	}
	if a, r, s := stock(); a != 10 || r != 0 || s != 0 {
		t.Fatalf("after calls on the main port: available %v reserved %v sold %v, want 10 0 0", a, r, s)
	}

	// The TCC port: unsigned is refused, signed works.
	if st, m := c.call("POST", tccURL+try, body, http.Header{tcc.HeaderXID: {"xid-1"}, tcc.HeaderBranchID: {"inventory"},
		tcc.HeaderDeadline: {tcc.FormatDeadline(time.Now().Add(time.Minute))}}); st != http.StatusUnauthorized {
		t.Errorf("unsigned Try on the TCC port: %d %v, want 401", st, m)
	}
	if st, m := c.call("POST", tccURL+try, body, signedPhase(t, try, body, "xid-1")); st != 200 || m["outcome"] == nil {
		t.Fatalf("signed Try on the TCC port: %d %v", st, m)
	}
	if a, r, s := stock(); a != 8 || r != 2 || s != 0 {
		t.Fatalf("after Try: available %v reserved %v sold %v, want 8 2 0", a, r, s)
	}
	if st, m := c.call("POST", tccURL+confirm, body, signedPhase(t, confirm, body, "xid-1")); st != 200 {
		t.Fatalf("signed Confirm on the TCC port: %d %v", st, m)
	}
	if a, r, s := stock(); a != 8 || r != 0 || s != 2 {
		t.Fatalf("after Confirm: available %v reserved %v sold %v, want 8 0 2", a, r, s)
	}

	// The REST API is not on the TCC port; health is on both.
	if st, m := c.call("GET", tccURL+"/api/v1/stock/SKU-1", nil, nil); st != http.StatusNotFound {
		t.Errorf("GET stock on the TCC port: %d %v, want 404", st, m)
	}
	if st, m := c.call("PUT", tccURL+"/api/v1/stock/SKU-1", []byte(`{"price":1,"available":1}`), admin); st != http.StatusNotFound {
		t.Errorf("PUT stock on the TCC port: %d %v, want 404", st, m)
	}
	for _, u := range []string{mainURL, tccURL} {
		if st, m := c.call("GET", u+"/healthz", nil, nil); st != 200 {
			t.Errorf("GET %s/healthz: %d %v", u, st, m)
		}
	}

	stop()
	for _, addr := range []string{cfg.Listener.Addr().String(), cfg.TCCListener.Addr().String()} {
		if conn, err := (&net.Dialer{}).DialContext(context.Background(), "tcp", addr); err == nil {
			_ = conn.Close()
			t.Errorf("%s still accepts after Run returned", addr)
		}
	}
}

// Without INVENTORY_TCC_ADDR nothing changes: the TCC routes are on the main port.
func TestTCCOnTheMainListenerByDefault(t *testing.T) {
	cfg, err := ConfigFromEnv(func(k string) string {
		return map[string]string{"INVENTORY_SQLITE_PATH": t.TempDir() + "/inventory.db", "TCC_INSECURE": "true"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SeparateTCC() {
		t.Fatal("a second listener without INVENTORY_TCC_ADDR")
	}
	base, c := serve(t, cfg)
	// An unknown SKU: the Try reaches the action (409 TCC_REJECTED), not a 404.
	body := []byte(`{"order_id":"o-1","sku":"NOPE","quantity":1,"unit_price":100}`)
	st, m := c.call("POST", base+"/tcc/reserve/try", body, http.Header{
		tcc.HeaderXID: {"xid-1"}, tcc.HeaderBranchID: {"inventory"}, tcc.HeaderDeadline: {tcc.FormatDeadline(time.Now().Add(time.Minute))}})
	if st != http.StatusConflict {
		t.Errorf("Try on the main port: %d %v, want 409 (served)", st, m)
	}
}

func TestTCCAddrValidation(t *testing.T) {
	for _, tc := range []struct{ addr, tccAddr, wantErr string }{
		{"", ":9081", ""},
		{"", ":8081", "INVENTORY_TCC_ADDR (:8081) must differ from INVENTORY_ADDR"},
		{":7000", "0.0.0.0:7000", "must differ"},
		{"", "9081", "INVENTORY_TCC_ADDR must be host:port"},
	} {
		_, err := ConfigFromEnv(func(k string) string {
			return map[string]string{"INVENTORY_SQLITE_PATH": "x.db", "TCC_INSECURE": "true",
				"INVENTORY_ADDR": tc.addr, "INVENTORY_TCC_ADDR": tc.tccAddr}[k]
		})
		if tc.wantErr == "" && err != nil {
			t.Errorf("ADDR %q TCC_ADDR %q: %v", tc.addr, tc.tccAddr, err)
		}
		if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("ADDR %q TCC_ADDR %q: error %v, want %q", tc.addr, tc.tccAddr, err, tc.wantErr)
		}
	}
}
