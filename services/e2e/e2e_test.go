// Package e2e runs the whole suite in-process, through the REST API only: the real
// coordinator on MariaDB and embedded etcd, and the three services on MariaDB, with HMAC
// signed participant calls. These are the acceptance tests of issue 4.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	coordinator "github.com/tccsuite/tccsuite/coordinator/app"
	"github.com/tccsuite/tccsuite/internal/testenv"
	"github.com/tccsuite/tccsuite/services/internal/platform"
	inventory "github.com/tccsuite/tccsuite/services/inventory/app"
	order "github.com/tccsuite/tccsuite/services/order/app"
	payment "github.com/tccsuite/tccsuite/services/payment/app"
)

// The test suite's own key and token, not credentials of anything.
const (
	hmacKey    = "e2e-hmac-key-0123456789abcdef"
	adminToken = "e2e-admin-token" //nolint:gosec // G101: a test token
)

type suite struct {
	t                                            *testing.T
	orderURL, inventoryURL, paymentURL, coordURL string
	paymentAddr                                  string
	paymentDSN                                   string
	client                                       *http.Client
	log                                          *slog.Logger
	stopPayment                                  func()
}

// running is one in-process component: stop cancels it and waits for Run to return.
type running struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

func (r *running) stop() error {
	r.once.Do(func() { r.cancel(); r.err = <-r.done })
	return r.err
}

func start(t *testing.T, run func(ctx context.Context) error) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- run(ctx) }()
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("component stopped with: %v", err)
		}
	})
	return r
}

func common(dsn string) platform.Common {
	return platform.Common{MySQLDSN: dsn, DBMaxConns: 16, HMACKey: hmacKey, AdminToken: adminToken,
		MaxBodyBytes: 16 << 10, ShutdownGrace: 5 * time.Second}
}

func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func freeAddr(t *testing.T) string {
	ln := listen(t, "127.0.0.1:0")
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func newSuite(t *testing.T) *suite {
	t.Helper()
	s := &suite{t: t, client: &http.Client{Timeout: 60 * time.Second}, log: slog.New(slog.NewTextHandler(logOut(), &slog.HandlerOptions{Level: slog.LevelWarn}))}
	etcd := testenv.Etcd(t)
	invLn, payLn, ordLn := listen(t, "127.0.0.1:0"), listen(t, "127.0.0.1:0"), listen(t, "127.0.0.1:0")
	s.inventoryURL, s.paymentURL, s.orderURL = "http://"+invLn.Addr().String(), "http://"+payLn.Addr().String(), "http://"+ordLn.Addr().String()
	s.paymentAddr = payLn.Addr().String()
	coordAddr := freeAddr(t)
	s.coordURL = "http://" + coordAddr

	env := map[string]string{
		"TCC_COORDINATOR_ADDR": coordAddr,
		"TCC_MYSQL_DSN":        testenv.NewMySQLDSN(t),
		"TCC_ETCD_ENDPOINTS":   etcd,
		"TCC_HMAC_KEY":         hmacKey,
		"TCC_ADMIN_TOKEN":      adminToken,
		"TCC_PARTICIPANTS":     "order=" + s.orderURL + ",inventory=" + s.inventoryURL + ",payment=" + s.paymentURL,
		"TCC_INSTANCE_ID":      "e2e",
		"TCC_RETRY_BASE":       "50ms",
		"TCC_RETRY_CAP":        "500ms",
		"TCC_SCAN_INTERVAL":    "200ms",
		"TCC_COMPLETION_WAIT":  "1s",
		"TCC_DB_MAX_CONNS":     "24", // the test server allows 151 connections for every test
	}
	ccfg, err := coordinator.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if err := ccfg.Validate(); err != nil {
		t.Fatal(err)
	}
	start(t, func(ctx context.Context) error { return coordinator.Run(ctx, ccfg, s.log) })
	start(t, func(ctx context.Context) error {
		return inventory.Run(ctx, inventory.Config{Common: common(testenv.NewMySQLDSN(t)), Listener: invLn}, s.log)
	})
	s.paymentDSN = testenv.NewMySQLDSN(t)
	s.startPayment(payLn)
	start(t, func(ctx context.Context) error {
		return order.Run(ctx, order.Config{Common: common(testenv.NewMySQLDSN(t)), Listener: ordLn, CoordinatorURL: s.coordURL,
			InventoryURL: s.inventoryURL, PaymentURL: s.paymentURL, AccountCheck: true, TxTimeout: 5 * time.Second, Wait: "completion",
			PriceCacheTTL: time.Second}, s.log)
	})
	for _, u := range []string{s.inventoryURL, s.paymentURL, s.orderURL, s.coordURL} {
		s.waitReady(u)
	}
	return s
}

func (s *suite) startPayment(ln net.Listener) {
	r := start(s.t, func(ctx context.Context) error {
		return payment.Run(ctx, payment.Config{Common: common(s.paymentDSN), Listener: ln}, s.log)
	})
	s.stopPayment = func() {
		if err := r.stop(); err != nil {
			s.t.Errorf("payment stopped with: %v", err)
		}
	}
}

// waitReady waits until url answers /readyz 200 (bounded): a condition, not a sleep.
func (s *suite) waitReady(url string) {
	s.t.Helper()
	s.eventually(60*time.Second, url+" ready", func() bool {
		req, err := http.NewRequestWithContext(s.t.Context(), http.MethodGet, url+"/readyz", nil)
		if err != nil {
			return false
		}
		resp, err := s.client.Do(req)
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// eventually checks cond until it holds or the bound passes, backing off between checks.
func (s *suite) eventually(bound time.Duration, what string, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(bound)
	for wait := 10 * time.Millisecond; ; wait = min(wait*2, 250*time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s", what)
		}
		<-time.After(wait)
	}
}

func (s *suite) do(method, url, body string, hdr map[string]string) (int, map[string]any) {
	s.t.Helper()
	req, err := http.NewRequestWithContext(s.t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(raw) > 0 && json.Unmarshal(raw, &m) != nil {
		s.t.Fatalf("%s %s: not a JSON object: %q", method, url, raw)
	}
	return resp.StatusCode, m
}

func (s *suite) admin() map[string]string {
	return map[string]string{"Authorization": "Bearer " + adminToken}
}

func (s *suite) putStock(sku string, price, available int64) {
	s.t.Helper()
	if st, m := s.do("PUT", s.inventoryURL+"/api/v1/stock/"+sku, fmt.Sprintf(`{"price":%d,"available":%d}`, price, available), s.admin()); st != 200 {
		s.t.Fatalf("put stock: %d %v", st, m)
	}
}

func (s *suite) putAccount(id string, balance int64) {
	s.t.Helper()
	if st, m := s.do("PUT", s.paymentURL+"/api/v1/accounts/"+id, fmt.Sprintf(`{"balance":%d}`, balance), s.admin()); st != 200 {
		s.t.Fatalf("put account: %d %v", st, m)
	}
}

func (s *suite) get(url string) map[string]any {
	s.t.Helper()
	st, m := s.do("GET", url, "", nil)
	if st != 200 {
		s.t.Fatalf("GET %s: %d %v", url, st, m)
	}
	return m
}

func (s *suite) order(user, sku string, qty int, key string) (int, map[string]any) {
	hdr := map[string]string{}
	if key != "" {
		hdr["Idempotency-Key"] = key
	}
	return s.do("POST", s.orderURL+"/api/v1/orders", fmt.Sprintf(`{"user_id":%q,"sku":%q,"quantity":%d}`, user, sku, qty), hdr)
}

func num(m map[string]any, k string) int64 { f, _ := m[k].(float64); return int64(f) }

func expect(t *testing.T, what string, m map[string]any, want map[string]int64) {
	t.Helper()
	for k, v := range want {
		if got := num(m, k); got != v {
			t.Errorf("%s: %s = %d, want %d (%v)", what, k, got, v, m)
		}
	}
}

// invariants checks docs/design.md §6 at rest through the public API: stock conserved and
// nothing reserved, money conserved and nothing frozen, every CONFIRMED order has
// exactly one capture of its amount, no order PENDING.
func (s *suite) invariants(initialStock map[string]int64, initialMoney map[string]int64) (confirmed int) {
	s.t.Helper()
	for sku, initial := range initialStock {
		it := s.get(s.inventoryURL + "/api/v1/stock/" + sku)
		if num(it, "available")+num(it, "reserved")+num(it, "sold") != initial || num(it, "reserved") != 0 {
			s.t.Errorf("stock %s: %v, initial %d", sku, it, initial)
		}
	}
	var soldAmount, captured int64
	for user, initial := range initialMoney {
		a := s.get(s.paymentURL + "/api/v1/accounts/" + user)
		if num(a, "balance")+num(a, "frozen")+num(a, "captured") != initial || num(a, "frozen") != 0 {
			s.t.Errorf("account %s: %v, initial %d", user, a, initial)
		}
		captured += num(a, "captured")
		page := s.get(s.orderURL + "/api/v1/orders?user_id=" + user + "&limit=1000")
		for _, o := range page["orders"].([]any) {
			o := o.(map[string]any)
			switch o["status"] {
			case "PENDING":
				s.t.Errorf("order left PENDING: %v", o)
			case "CONFIRMED":
				confirmed++
				soldAmount += num(o, "amount")
				ps := s.get(s.paymentURL + "/api/v1/payments?order_id=" + o["order_id"].(string))["payments"].([]any)
				if len(ps) != 1 || num(ps[0].(map[string]any), "amount") != num(o, "amount") {
					s.t.Errorf("order %v has payments %v", o["order_id"], ps)
				}
			case "CANCELLED":
				ps := s.get(s.paymentURL + "/api/v1/payments?order_id=" + o["order_id"].(string))["payments"].([]any)
				if len(ps) != 0 {
					s.t.Errorf("cancelled order %v has payments %v", o["order_id"], ps)
				}
			}
		}
	}
	if soldAmount != captured {
		s.t.Errorf("confirmed orders total %d, captured %d", soldAmount, captured)
	}
	stats := s.get(s.paymentURL + "/api/v1/payments/stats")
	if num(stats, "count") != int64(confirmed) {
		s.t.Errorf("%d payments for %d confirmed orders", num(stats, "count"), confirmed)
	}
	return confirmed
}

// logOut is where components log: nowhere, unless TCC_E2E_LOG=1.
func logOut() io.Writer {
	if os.Getenv("TCC_E2E_LOG") == "1" {
		return os.Stderr
	}
	return io.Discard
}
