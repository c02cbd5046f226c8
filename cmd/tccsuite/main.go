// Command tccsuite is the quick start: one process running an embedded etcd, the
// coordinator and the order, inventory and payment services on their default ports,
// on embedded SQLite files (or, when TCC_MYSQL_DSN is set, one MySQL schema per
// component, created if missing), seeded with a demo catalogue and accounts. It prints
// where everything is and a curl that places an order, and stops cleanly on Ctrl-C.
//
// It is for trying the suite on a laptop: the HMAC key and admin token default to fixed,
// printed demo values. Production runs each component as its own binary.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	coordinator "github.com/tccsuite/tccsuite/coordinator/app"
	"github.com/tccsuite/tccsuite/internal/etcdx"
	inventory "github.com/tccsuite/tccsuite/services/inventory/app"
	order "github.com/tccsuite/tccsuite/services/order/app"
	payment "github.com/tccsuite/tccsuite/services/payment/app"
)

// Demo secrets, used unless TCC_HMAC_KEY / TCC_ADMIN_TOKEN are set. They are printed at
// start: never use them anywhere but a laptop.
const (
	demoHMACKey    = "tccsuite-demo-hmac-key-do-not-use-in-production"
	demoAdminToken = "demo-admin-token"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tccsuite:", err)
		stop()
		os.Exit(1)
	}
}

// overlay returns a getenv that answers from the process environment first, then from
// defaults.
func overlay(getenv func(string) string, defaults map[string]string) func(string) string {
	return func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return defaults[k]
	}
}

// schemaDSN returns dsn naming the schema <prefix>_<component>, where prefix is the
// DSN's own database name or "tccsuite".
func schemaDSN(dsn, component string) (string, error) {
	cfg, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		return "", fmt.Errorf("TCC_MYSQL_DSN: %w", err)
	}
	prefix := cfg.DBName
	if prefix == "" {
		prefix = "tccsuite"
	}
	cfg.DBName = prefix + "_" + component
	return cfg.FormatDSN(), nil
}

// localURL turns a listen address into a URL a local client can call.
func localURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func run(ctx context.Context, getenv func(string) string, out io.Writer) error {
	level := slog.LevelWarn
	if getenv("TCC_LOG_LEVEL") == "info" {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	dataDir := getenv("TCC_DATA_DIR")
	if dataDir == "" {
		dataDir = ".tccsuite-data"
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	mysqlDSN := getenv("TCC_MYSQL_DSN")
	defaults := map[string]string{
		"TCC_HMAC_KEY":    demoHMACKey,
		"TCC_ADMIN_TOKEN": demoAdminToken,
	}
	for _, c := range []string{"coordinator", "order", "inventory", "payment"} {
		prefix := strings.ToUpper(c) + "_"
		if c == "coordinator" {
			prefix = "TCC_"
		}
		if mysqlDSN != "" {
			dsn, err := schemaDSN(mysqlDSN, c)
			if err != nil {
				return err
			}
			defaults[prefix+"MYSQL_DSN"] = dsn
			// Four pools share one server (MySQL allows 151 connections by default).
			defaults[prefix+"DB_MAX_CONNS"] = "24"
		} else {
			defaults[prefix+"SQLITE_PATH"] = filepath.Join(dataDir, c+".db")
		}
	}
	env := overlay(getenv, defaults)
	// The coordinator reads TCC_MYSQL_DSN itself: give it its own schema.
	coordEnv := func(k string) string {
		if k == "TCC_MYSQL_DSN" && mysqlDSN != "" {
			return defaults["TCC_MYSQL_DSN"]
		}
		return env(k)
	}

	invCfg, err := inventory.ConfigFromEnv(env)
	if err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	payCfg, err := payment.ConfigFromEnv(env)
	if err != nil {
		return fmt.Errorf("payment: %w", err)
	}
	ordCfg, err := order.ConfigFromEnv(env)
	if err != nil {
		return fmt.Errorf("order: %w", err)
	}

	// Bind the services' listeners first: their URLs are then known (and requests wait
	// in the accept queue until each serves).
	var lns []net.Listener
	closeAll := func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}
	for _, c := range []struct {
		addr string
		ln   *net.Listener
	}{{invCfg.Addr, &invCfg.Listener}, {payCfg.Addr, &payCfg.Listener}, {ordCfg.Addr, &ordCfg.Listener}} {
		ln, err := net.Listen("tcp", c.addr)
		if err != nil {
			closeAll()
			return fmt.Errorf("listen %s: %w (is the suite already running?)", c.addr, err)
		}
		lns = append(lns, ln)
		*c.ln = ln
	}
	orderURL, invURL, payURL := localURL(ordCfg.Listener.Addr().String()), localURL(invCfg.Listener.Addr().String()), localURL(payCfg.Listener.Addr().String())

	// etcd: embedded unless TCC_ETCD_ENDPOINTS points at one.
	etcdEndpoints := getenv("TCC_ETCD_ENDPOINTS")
	var etcd *etcdx.Embedded
	if etcdEndpoints == "" {
		clientAddr := getenv("TCC_ETCD_CLIENT_ADDR")
		if clientAddr == "" {
			clientAddr = "127.0.0.1:2379"
		}
		peerAddr := getenv("TCC_ETCD_PEER_ADDR")
		if peerAddr == "" {
			peerAddr = "127.0.0.1:2380"
		}
		sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		etcd, err = etcdx.StartEmbedded(sctx, etcdx.EmbedConfig{Dir: filepath.Join(dataDir, "etcd"), ClientAddr: clientAddr, PeerAddr: peerAddr})
		cancel()
		if err != nil {
			closeAll()
			return err
		}
		defer etcd.Close()
		etcdEndpoints = etcd.Endpoint()
	}
	// The coordinator calls each participant where it serves /tcc/: its <S>_TCC_ADDR when
	// set, else its main listener.
	tccURL := func(mainURL, tccAddr string) string {
		if tccAddr != "" {
			return localURL(tccAddr)
		}
		return mainURL
	}
	coordDefaults := map[string]string{
		"TCC_ETCD_ENDPOINTS": etcdEndpoints,
		"TCC_PARTICIPANTS": "order=" + tccURL(orderURL, ordCfg.TCCAddr) + ",inventory=" + tccURL(invURL, invCfg.TCCAddr) +
			",payment=" + tccURL(payURL, payCfg.TCCAddr),
		"TCC_INSTANCE_ID": "tccsuite",
	}
	coordCfg, err := coordinator.ConfigFromEnv(overlay(coordEnv, coordDefaults))
	if err == nil {
		err = coordCfg.Validate()
	}
	if err != nil {
		closeAll()
		return fmt.Errorf("coordinator: %w", err)
	}
	coordURL := localURL(coordCfg.Addr)
	if getenv("ORDER_COORDINATOR_URL") == "" {
		ordCfg.CoordinatorURL = coordURL
	}
	if getenv("ORDER_INVENTORY_URL") == "" {
		ordCfg.InventoryURL = invURL
	}
	if getenv("ORDER_PAYMENT_URL") == "" {
		ordCfg.PaymentURL = payURL
	}

	// Run every component until ctx ends or one of them fails.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for name, f := range map[string]func(context.Context) error{
		"coordinator": func(c context.Context) error { return coordinator.Run(c, coordCfg, log) },
		"inventory":   func(c context.Context) error { return inventory.Run(c, invCfg, log) },
		"payment":     func(c context.Context) error { return payment.Run(c, payCfg, log) },
		"order":       func(c context.Context) error { return order.Run(c, ordCfg, log) },
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(rctx); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	stopped := make(chan struct{})
	go func() { wg.Wait(); close(stopped) }()
	shutdown := func() error {
		cancel()
		<-stopped
		closeAll()
		select {
		case err := <-errs:
			return err
		default:
			return nil
		}
	}

	// TCC_PPROF_ADDR, when set, serves Go's profiler there (loopback only, for tuning).
	if addr := getenv("TCC_PPROF_ADDR"); addr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		psrv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = psrv.ListenAndServe() }()
		defer psrv.Close()
	}

	urls := map[string]string{"coordinator": coordURL, "order": orderURL, "inventory": invURL, "payment": payURL}
	if err := waitReady(rctx, urls); err != nil {
		if serr := shutdown(); serr != nil {
			return serr
		}
		return err
	}
	adminToken := env("TCC_ADMIN_TOKEN")
	if err := seed(rctx, invURL, payURL, adminToken); err != nil {
		if serr := shutdown(); serr != nil {
			return serr
		}
		return fmt.Errorf("seed: %w", err)
	}
	store := "SQLite files in " + dataDir
	if mysqlDSN != "" {
		store = "MySQL schemas *_coordinator, *_order, *_inventory, *_payment"
	}
	fmt.Fprintf(out, `
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
`, store, coordURL, orderURL, invURL, payURL, etcdEndpoints, adminToken, maskKey(env("TCC_HMAC_KEY")), orderURL, invURL, payURL)

	select {
	case <-ctx.Done():
		fmt.Fprintln(out, "stopping...")
	case <-rctx.Done():
	}
	err = shutdown()
	if err == nil {
		fmt.Fprintln(out, "stopped")
	}
	return err
}

func maskKey(k string) string {
	if k == demoHMACKey {
		return k
	}
	return "(set by TCC_HMAC_KEY)"
}

// waitReady waits until every component's /readyz answers 200 (the coordinator's once
// its etcd session is live), for at most a minute.
func waitReady(ctx context.Context, urls map[string]string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 5 * time.Second}
	for name, u := range urls {
		for wait := 20 * time.Millisecond; ; wait = min(wait*2, 500*time.Millisecond) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u+"/readyz", nil)
			resp, err := client.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s (%s) not ready: %w", name, u, errors.Join(ctx.Err(), err))
			case <-time.After(wait):
			}
		}
	}
	return nil
}

// The demo data: created if missing, never reset (a restart keeps its state).
var (
	demoStock = []struct {
		sku              string
		price, available int64
	}{{"WIDGET", 1999, 1000}, {"GADGET", 4999, 200}, {"GIZMO", 999, 50}}
	demoAccounts = []struct {
		id      string
		balance int64
	}{{"alice", 1_000_000}, {"bob", 1_000_000}, {"carol", 5_000}}
)

func seed(ctx context.Context, invURL, payURL, token string) error {
	client := &http.Client{Timeout: 10 * time.Second}
	put := func(url, body string) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil // already there
		}
		req, _ = http.NewRequestWithContext(ctx, http.MethodPut, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err = client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("PUT %s: %d %s", url, resp.StatusCode, b)
		}
		return nil
	}
	for _, s := range demoStock {
		if err := put(fmt.Sprintf("%s/api/v1/stock/%s", invURL, s.sku), fmt.Sprintf(`{"price":%d,"available":%d}`, s.price, s.available)); err != nil {
			return err
		}
	}
	for _, a := range demoAccounts {
		if err := put(fmt.Sprintf("%s/api/v1/accounts/%s", payURL, a.id), fmt.Sprintf(`{"balance":%d}`, a.balance)); err != nil {
			return err
		}
	}
	return nil
}
