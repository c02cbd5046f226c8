package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/internal/testenv"
	"github.com/tccsuite/tccsuite/pkg/tcc"
	"github.com/tccsuite/tccsuite/services/internal/platform"
	inventory "github.com/tccsuite/tccsuite/services/inventory/app"
	"github.com/tccsuite/tccsuite/services/order/internal/store"
	payment "github.com/tccsuite/tccsuite/services/payment/app"
)

const adminToken = "test-admin-token"

// suite is the three services wired together for a test: inventory and payment run
// in-process through their public app.Run, the order handler runs on httptest with the
// given coordinator.
type suite struct {
	t            *testing.T
	orderURL     string
	inventoryURL string
	paymentURL   string
	orderDB      *gorm.DB
	client       *http.Client
	// cfg, coord and log are the order handler's, for another instance (instance).
	cfg   Config
	coord interface {
		Begin(context.Context, tcc.BeginRequest, string) (*tcc.Transaction, error)
	}
	log *slog.Logger
}

// instance starts another order instance on the same database and coordinator, as a
// second replica behind a load balancer, and returns its URL.
func (s *suite) instance() string {
	s.t.Helper()
	w, err := platform.Wire(describe(s.cfg, s.coord), s.orderDB, s.log)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(w.Close)
	srv := httptest.NewServer(w.API)
	s.t.Cleanup(srv.Close)
	return srv.URL
}

func testLogger(*testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startService runs a service's app.Run on a fresh loopback listener until the test ends.
func startService(t *testing.T, run func(ctx context.Context, ln net.Listener) error) string {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := run(ctx, ln)
		if err != nil {
			_ = ln.Close() // unblock a readiness probe waiting in the accept queue
		}
		done <- err
	}()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("service stopped with: %v", err)
		}
	})
	url := "http://" + ln.Addr().String()
	waitReady(t, url, done)
	return url
}

// waitReady asks /readyz once: the listener was bound before the service started, so
// the request waits in the accept queue until the service serves (after its
// migrations); no polling, no sleeps. A service that fails to start is reported.
func waitReady(t *testing.T, url string, done <-chan error) {
	t.Helper()
	got := make(chan error, 1)
	go func() {
		c := &http.Client{Timeout: 60 * time.Second}
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url+"/readyz", nil)
		if err != nil {
			got <- err
			return
		}
		resp, err := c.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("readyz answered %d", resp.StatusCode)
			}
		}
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("%s not ready: %v", url, err)
		}
	case err := <-done:
		t.Fatalf("service exited at start: %v", err)
	}
}

func common(dsn, sqlite string) platform.Common {
	return platform.Common{MySQLDSN: dsn, SQLitePath: sqlite, DBMaxConns: 32, Insecure: true, AdminToken: adminToken,
		MaxBodyBytes: 16 << 10, ShutdownGrace: 5 * time.Second}
}

type dbKind int

const (
	onMySQL dbKind = iota
	onSQLite
)

func dbCommon(t *testing.T, kind dbKind, name string) platform.Common {
	if kind == onMySQL {
		return common(testenv.NewMySQLDSN(t), "")
	}
	return common("", t.TempDir()+"/"+name+".db")
}

// newSuite starts inventory and payment, and the order handler with coord (nil: the
// in-test driver below, which plays the coordinator's part over HTTP).
func newSuite(t *testing.T, kind dbKind, mutate func(*Config), coord func(s *suite) interface {
	Begin(context.Context, tcc.BeginRequest, string) (*tcc.Transaction, error)
}) *suite {
	t.Helper()
	log := testLogger(t)
	s := &suite{t: t, client: &http.Client{Timeout: 30 * time.Second}}
	s.inventoryURL = startService(t, func(ctx context.Context, ln net.Listener) error {
		return inventory.Run(ctx, inventory.Config{Common: dbCommon(t, kind, "inventory"), Listener: ln}, log)
	})
	s.paymentURL = startService(t, func(ctx context.Context, ln net.Listener) error {
		return payment.Run(ctx, payment.Config{Common: dbCommon(t, kind, "payment"), Listener: ln}, log)
	})
	cfg := Config{Addr: ":0", Common: dbCommon(t, kind, "order"), CoordinatorURL: "http://127.0.0.1:1", InventoryURL: s.inventoryURL,
		PaymentURL: s.paymentURL, AccountCheck: true, TxTimeout: 5 * time.Second, Wait: tcc.WaitCompletion, PriceCacheTTL: time.Second}
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	db, err := cfg.OpenDB(context.Background(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closeDB(db) })
	if err := platform.Migrate(context.Background(), db, store.Migrate); err != nil {
		t.Fatal(err)
	}
	s.orderDB = db
	// The handler needs the order URL for the driver, and the driver for the handler:
	// start the server with a switchable handler.
	var h atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.Load().(http.Handler).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.orderURL = srv.URL
	var c interface {
		Begin(context.Context, tcc.BeginRequest, string) (*tcc.Transaction, error)
	}
	if coord != nil {
		c = coord(s)
	} else {
		c = newDriver(map[string]string{"order": s.orderURL, "inventory": s.inventoryURL, "payment": s.paymentURL})
	}
	s.cfg, s.coord, s.log = cfg, c, log
	w, err := platform.Wire(describe(cfg, c), db, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	h.Store(http.Handler(w.API))
	return s
}

// do sends a request and decodes the JSON answer into a map.
func (s *suite) do(method, url, body string, hdr map[string]string) (int, map[string]any, http.Header) {
	s.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			s.t.Fatalf("%s %s: answer is not a JSON object: %q", method, url, raw)
		}
	}
	return resp.StatusCode, m, resp.Header
}

func (s *suite) admin() map[string]string {
	return map[string]string{"Authorization": "Bearer " + adminToken}
}

func (s *suite) putStock(sku string, price, available int64) {
	s.t.Helper()
	st, m, _ := s.do("PUT", s.inventoryURL+"/api/v1/stock/"+sku, fmt.Sprintf(`{"price":%d,"available":%d}`, price, available), s.admin())
	if st != 200 {
		s.t.Fatalf("put stock: %d %v", st, m)
	}
}

func (s *suite) putAccount(id string, balance int64) {
	s.t.Helper()
	st, m, _ := s.do("PUT", s.paymentURL+"/api/v1/accounts/"+id, fmt.Sprintf(`{"balance":%d}`, balance), s.admin())
	if st != 200 {
		s.t.Fatalf("put account: %d %v", st, m)
	}
}

func (s *suite) stock(sku string) map[string]any {
	s.t.Helper()
	st, m, _ := s.do("GET", s.inventoryURL+"/api/v1/stock/"+sku, "", nil)
	if st != 200 {
		s.t.Fatalf("get stock: %d %v", st, m)
	}
	return m
}

func (s *suite) account(id string) map[string]any {
	s.t.Helper()
	st, m, _ := s.do("GET", s.paymentURL+"/api/v1/accounts/"+id, "", nil)
	if st != 200 {
		s.t.Fatalf("get account: %d %v", st, m)
	}
	return m
}

func (s *suite) order(body, key string) (int, map[string]any, http.Header) {
	return s.do("POST", s.orderURL+"/api/v1/orders", body, map[string]string{"Idempotency-Key": key})
}

// expect checks numeric fields of a JSON object.
func expect(t *testing.T, what string, m map[string]any, want map[string]int64) {
	t.Helper()
	for k, v := range want {
		got, ok := m[k].(float64)
		if !ok || int64(got) != v {
			t.Errorf("%s: %s = %v, want %d (all: %v)", what, k, m[k], v, m)
		}
	}
}

// driver plays the coordinator's part for component tests: Tries in parallel, then
// Confirm everywhere if all succeeded, else Cancel everywhere, over the participant
// protocol (unsigned: the services run with TCC_INSECURE). It is not the coordinator: no
// persistence, no recovery. The end-to-end tests use the real one.
type driver struct {
	urls   map[string]string
	client *http.Client
	seq    atomic.Int64
	mu     sync.Mutex
	byKey  map[string]*driverTx
}

type driverTx struct {
	done chan struct{}
	tx   *tcc.Transaction
}

func newDriver(urls map[string]string) *driver {
	return &driver{urls: urls, client: &http.Client{Timeout: 10 * time.Second}, byKey: map[string]*driverTx{}}
}

func (d *driver) Begin(ctx context.Context, req tcc.BeginRequest, key string) (*tcc.Transaction, error) {
	d.mu.Lock()
	if e, ok := d.byKey[key]; ok && key != "" {
		d.mu.Unlock()
		<-e.done
		return e.tx, nil
	}
	e := &driverTx{done: make(chan struct{})}
	d.byKey[key] = e
	d.mu.Unlock()
	defer close(e.done)

	xid := fmt.Sprintf("drv-%d", d.seq.Add(1))
	deadline := time.Now().Add(time.Duration(req.TimeoutMS) * time.Millisecond)
	call := func(i int, phase tcc.Phase) (int, tcc.ErrorBody) {
		b := req.Branches[i]
		r, _ := http.NewRequestWithContext(context.WithoutCancel(ctx), "POST", d.urls[b.Participant]+"/tcc/"+b.Action+"/"+string(phase), bytes.NewReader(b.Payload))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set(tcc.HeaderXID, xid)
		r.Header.Set(tcc.HeaderBranchID, fmt.Sprint(i+1))
		r.Header.Set(tcc.HeaderDeadline, tcc.FormatDeadline(deadline))
		resp, err := d.client.Do(r)
		if err != nil {
			return 0, tcc.ErrorBody{Code: "UNREACHABLE"}
		}
		defer func() { _ = resp.Body.Close() }()
		var eb tcc.ErrorBody
		_ = json.NewDecoder(resp.Body).Decode(&eb)
		return resp.StatusCode, eb
	}
	type res struct {
		status int
		eb     tcc.ErrorBody
	}
	results := make([]res, len(req.Branches))
	var wg sync.WaitGroup
	for i := range req.Branches {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			st, eb := call(i, tcc.PhaseTry)
			results[i] = res{st, eb}
		}(i)
	}
	wg.Wait()
	tx := &tcc.Transaction{XID: xid, Status: tcc.TxConfirmed}
	phase := tcc.PhaseConfirm
	for i, r := range results {
		if r.status != http.StatusOK {
			tx.Status, phase = tcc.TxCancelled, tcc.PhaseCancel
			if r.status == http.StatusConflict && tx.Refusal == nil {
				tx.Refusal = &tcc.Refusal{BranchID: fmt.Sprint(i + 1), Participant: req.Branches[i].Participant, Code: r.eb.Code}
			}
		}
	}
	for i := range req.Branches {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for attempt := 0; attempt < 20; attempt++ {
				if st, _ := call(i, phase); st == http.StatusOK {
					return
				}
			}
		}(i)
	}
	wg.Wait()
	e.tx = tx
	return tx, nil
}

func closeDB(db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}
