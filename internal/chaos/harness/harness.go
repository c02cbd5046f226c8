// Package harness runs the suite's real binaries as separate processes (two or more
// coordinators and the three services) on MariaDB and a real etcd, puts a
// fault-injecting proxy in front of every participant, places orders concurrently while
// it kills coordinators with SIGKILL and stops and restarts participants, then waits for
// quiescence and checks every invariant (package invariant).
//
// Dependency faults (files by job): mariadb.go runs a private MariaDB the run can
// SIGKILL and restart; etcd.go restarts etcd and partitions one coordinator from it
// through a cut-able TCP proxy (tcpproxy.go); clients.go is the ambiguous-client
// workload (hang up, price change, keyed retry) and the table of every HTTP answer;
// faults.go schedules every fault and supervises the processes.
package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/tccsuite/tccsuite/internal/chaos/faultproxy"
	"github.com/tccsuite/tccsuite/internal/chaos/invariant"
	"github.com/tccsuite/tccsuite/internal/dbx"
)

// Config describes one run.
type Config struct {
	// MySQLServerDSN reaches the server (no database); one schema per component is
	// created for the run and dropped after it.
	MySQLServerDSN string
	// WorkDir holds logs and the etcd data; it is kept for post-mortems.
	WorkDir string
	// Binaries by component ("coordinator", "order", "inventory", "payment").
	Binaries map[string]string

	Coordinators int // default 2
	SKUs         int // default 4
	Users        int // default 8
	Stock        int64
	Price        int64
	Balance      int64
	MaxQuantity  int64

	Orders      int           // orders to place; the run stops at Orders or Duration
	Duration    time.Duration // 0: no time bound
	Concurrency int           // concurrent clients, default 16

	Rates          faultproxy.Rates // per participant call
	KillEvery      time.Duration    // mean interval between coordinator SIGKILLs; 0: none
	RestartEvery   time.Duration    // mean interval between participant restarts; 0: none
	KillAt         []int            // also SIGKILL a coordinator as the order with each of these numbers is placed
	RestartAt      []int            // also restart a participant as the order with each of these numbers is placed
	LeaseTTL       time.Duration    // coordinators' etcd lease TTL, default 2s
	ScanInterval   time.Duration    // coordinators' recovery scan, default 500ms
	QuiesceTimeout time.Duration    // default 3m
	Seed           uint64
	AttentionBound int // coordinators flag after this many failed attempts (default 1000: never in a run)

	// PrivateMySQL starts a MariaDB server of the run's own (data under WorkDir, its own
	// port; MySQLServerDSN is then unused). Implied by any database crash.
	PrivateMySQL    bool
	DBCrashEvery    time.Duration // mean interval between SIGKILLs of the private MariaDB; 0: none
	DBCrashAt       []int         // also SIGKILL it as the order with each of these numbers is placed
	DBDowntime      time.Duration // how long it stays down per crash, jittered ±50% (default 3s)
	DBDowntimeExact bool          // no jitter on DBDowntime

	EtcdOutageEvery time.Duration // mean interval between etcd outages (server closed, restarted on the same data and ports); 0: none
	EtcdOutageAt    []int         // also stop etcd as the order with each of these numbers is placed
	EtcdDowntime    time.Duration // how long etcd stays down, jittered ±50% (default 2s)
	PartitionEvery  time.Duration // mean interval between cutting one coordinator off etcd; 0: none
	PartitionAt     []int         // also cut one as the order with each of these numbers is placed
	PartitionFor    time.Duration // how long the cut lasts (default 2.5 × LeaseTTL)

	// AmbiguousEvery makes every AmbiguousEvery-th order an ambiguous client's: it hangs
	// up after a random delay up to HangUpMax (default 150ms), the SKU's price changes,
	// and it retries with the same key (clients.go). 0: none.
	AmbiguousEvery int
	HangUpMax      time.Duration
	// StrictAnswers makes any 5xx answer to POST /api/v1/orders other than a 503 with
	// Retry-After a violation (see BadAnswers).
	StrictAnswers bool

	Log *slog.Logger
}

func (c *Config) defaults() {
	if c.Coordinators == 0 {
		c.Coordinators = 2
	}
	if c.SKUs == 0 {
		c.SKUs = 4
	}
	if c.Users == 0 {
		c.Users = 8
	}
	if c.Stock == 0 {
		c.Stock = 200
	}
	if c.Price == 0 {
		c.Price = 250
	}
	if c.Balance == 0 {
		c.Balance = 100_000
	}
	if c.MaxQuantity == 0 {
		c.MaxQuantity = 3
	}
	if c.Concurrency == 0 {
		c.Concurrency = 16
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = 2 * time.Second
	}
	if c.ScanInterval == 0 {
		c.ScanInterval = 500 * time.Millisecond
	}
	if c.QuiesceTimeout == 0 {
		c.QuiesceTimeout = 3 * time.Minute
	}
	if c.AttentionBound == 0 {
		c.AttentionBound = 1000
	}
	if c.DBDowntime == 0 {
		c.DBDowntime = 3 * time.Second
	}
	if c.EtcdDowntime == 0 {
		c.EtcdDowntime = 2 * time.Second
	}
	if c.PartitionFor == 0 {
		c.PartitionFor = c.LeaseTTL * 5 / 2
	}
	if c.HangUpMax == 0 {
		c.HangUpMax = 150 * time.Millisecond
	}
	if c.DBCrashEvery > 0 || len(c.DBCrashAt) > 0 {
		c.PrivateMySQL = true
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

const (
	hmacKey     = "chaos-harness-hmac-key-0123456789abcdef"
	adminToken  = "chaos-harness-admin-token"
	clientToken = "chaos-harness-client-token"
)

// run is the state of one run.
type run struct {
	cfg     Config
	rng     *rand.Rand
	rngMu   sync.Mutex
	dsns    map[string]string
	coords  []*proc
	parts   map[string]*proc
	proxies map[string]*faultproxy.Proxy
	lb      *coordLB
	http    *http.Client

	killMu     sync.Mutex
	restartMu  sync.Mutex
	takeovers  atomic.Int64
	kills      atomic.Int64
	restarts   atomic.Int64
	answeredMu sync.Mutex
	answered   map[string]bool

	db          *mariadbServer // the private MariaDB, nil without PrivateMySQL
	etcd        *etcdServer
	etcdProxies []*tcpProxy // one per coordinator, same index as coords
	dbMu        sync.Mutex
	etcdMu      sync.Mutex
	partitionMu sync.Mutex
	dbCrashes   atomic.Int64
	etcdOutages atomic.Int64
	partitions  atomic.Int64

	answers           answerTable
	keysMu            sync.Mutex
	keys              []invariant.KeyAnswer
	ambAccounts       int
	hungUp            atomic.Int64
	priceMu           sync.Mutex
	anchors           map[string]int64 // price SKUs' conservation base; -1: unknown
	priceChanges      atomic.Int64
	priceChangeFailed atomic.Int64

	exitsMu sync.Mutex
	exits   map[string]int
	errMu   sync.Mutex
	errs    []error
}

func (r *run) intn(n int) int {
	r.rngMu.Lock()
	defer r.rngMu.Unlock()
	return r.rng.IntN(n)
}

func (r *run) jitter(mean time.Duration) time.Duration {
	r.rngMu.Lock()
	defer r.rngMu.Unlock()
	return mean/2 + time.Duration(r.rng.Int64N(int64(mean)))
}

// Run performs one chaos run and returns its summary. An error means the harness
// itself could not run (a build, a start-up); broken invariants are in the summary.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	cfg.defaults()
	r := &run{
		cfg:      cfg,
		rng:      rand.New(rand.NewPCG(cfg.Seed, cfg.Seed+1)),
		parts:    map[string]*proc{},
		proxies:  map[string]*faultproxy.Proxy{},
		http:     &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}},
		answered: map[string]bool{},
		anchors:  map[string]int64{},
		exits:    map[string]int{},
	}
	defer r.http.CloseIdleConnections()
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return Summary{}, err
	}
	if cfg.PrivateMySQL {
		db, err := startMariaDB(ctx, cfg.WorkDir)
		if err != nil {
			return Summary{}, err
		}
		defer db.close()
		r.db = db
		r.cfg.MySQLServerDSN = db.dsn()
	}
	cleanup, err := r.databases(ctx)
	defer cleanup()
	if err != nil {
		return Summary{}, err
	}
	etcd, err := startEtcd(ctx, cfg.WorkDir)
	if err != nil {
		return Summary{}, err
	}
	r.etcd = etcd
	defer etcd.stop()
	for range cfg.Coordinators {
		px, err := newTCPProxy(etcd.clientAddr())
		if err != nil {
			return Summary{}, err
		}
		defer px.Close()
		r.etcdProxies = append(r.etcdProxies, px)
	}
	defer r.stopAll()
	if err := r.startSuite(ctx); err != nil {
		return Summary{}, err
	}
	if err := r.seed(ctx); err != nil {
		return Summary{}, err
	}
	for _, p := range r.proxies {
		if err := p.SetRates(cfg.Rates); err != nil {
			return Summary{}, err
		}
	}

	sum := Summary{Refused: map[string]int{}, GaveUp: map[string]int{}, Faults: map[string]int64{}}
	chaosCtx, stopChaos := context.WithCancel(ctx)
	var chaosWG sync.WaitGroup
	r.periodicFaults(chaosCtx, &chaosWG)
	r.workload(ctx, &sum)
	stopChaos()
	chaosWG.Wait()
	cfg.Log.Info("chaos: workload done; healing", "placed", sum.Placed)
	if err := r.harnessError(); err != nil {
		return sum, err
	}

	// Heal: no more faults, everything running, then wait for every transaction to end.
	if err := r.heal(ctx); err != nil {
		return sum, err
	}
	quiesceStart := time.Now()
	if err := r.quiesce(ctx); err != nil {
		sum.Violations = append(sum.Violations, "quiescence: "+err.Error())
	}
	sum.Quiescence = time.Since(quiesceStart)

	for _, p := range r.proxies {
		for k, v := range p.Stats() {
			if k != faultproxy.KindClean {
				sum.Faults[k] += v
			}
		}
	}
	sum.Faults["coordinator_sigkill"] = r.kills.Load()
	sum.Faults["participant_restart"] = r.restarts.Load()
	r.dependencyFaults(&sum)
	for _, c := range r.coords {
		r.takeovers.Add(r.scrapeTakeovers(c))
	}
	sum.Takeovers = r.takeovers.Load()

	snap, err := r.snapshot(ctx)
	if err != nil {
		return sum, err
	}
	sum.Transactions = len(snap.Txs)
	for _, v := range invariant.Check(snap) {
		sum.Violations = append(sum.Violations, v.String())
	}
	if bad := BadAnswers(sum.Answers); cfg.StrictAnswers && len(bad) > 0 {
		sum.Violations = append(sum.Violations, "answers-well-formed: POST /api/v1/orders answered "+strings.Join(bad, ", ")+" (want only 201, 4xx and 503 with Retry-After)")
	}
	sum.Pass = len(sum.Violations) == 0
	return sum, nil
}

func (r *run) coordList() []*proc { return r.coords }

func (r *run) partList() []*proc {
	return []*proc{r.parts["inventory"], r.parts["payment"], r.parts["order"]}
}

// databases creates one schema per component and returns their DSNs' cleanup.
func (r *run) databases(ctx context.Context) (func(), error) {
	base, err := mysqldrv.ParseDSN(r.cfg.MySQLServerDSN)
	if err != nil {
		return func() {}, fmt.Errorf("harness: bad MySQL DSN: %w", err)
	}
	prefix := fmt.Sprintf("tccchaos_%d_%d", time.Now().Unix()%100000, os.Getpid())
	r.dsns = map[string]string{}
	var created []string
	cleanup := func() {
		if len(created) == 0 {
			return
		}
		admin := *base
		admin.DBName = ""
		db, err := dbx.Open(context.Background(), dbx.Config{MySQLDSN: admin.FormatDSN(), MaxOpenConns: 1})
		if err != nil {
			return
		}
		defer dbx.Close(db)
		for _, name := range created {
			_ = db.Exec("DROP DATABASE IF EXISTS `" + name + "`").Error
		}
	}
	for _, comp := range []string{"coordinator", "order", "inventory", "payment"} {
		c := *base
		c.DBName = prefix + "_" + comp
		dsn := c.FormatDSN()
		if err := dbx.CreateMySQLDatabase(ctx, dsn); err != nil {
			return cleanup, err
		}
		created = append(created, c.DBName)
		r.dsns[comp] = dsn
	}
	return cleanup, nil
}

func baseEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "GORACE=halt_on_error=1"}
}

func (r *run) startSuite(ctx context.Context) error {
	cfg := r.cfg
	addr := func() string {
		a, err := freePort()
		if err != nil {
			panic(err)
		}
		return a
	}
	inv := &proc{name: "inventory", bin: cfg.Binaries["inventory"], addr: addr(), logPath: filepath.Join(cfg.WorkDir, "inventory.log")}
	pay := &proc{name: "payment", bin: cfg.Binaries["payment"], addr: addr(), logPath: filepath.Join(cfg.WorkDir, "payment.log")}
	ord := &proc{name: "order", bin: cfg.Binaries["order"], addr: addr(), logPath: filepath.Join(cfg.WorkDir, "order.log")}
	inv.env = func(int) []string {
		return append(baseEnv(), "INVENTORY_ADDR="+inv.addr, "INVENTORY_MYSQL_DSN="+r.dsns["inventory"], "INVENTORY_DB_MAX_CONNS=16",
			"TCC_HMAC_KEY="+hmacKey, "TCC_ADMIN_TOKEN="+adminToken)
	}
	pay.env = func(int) []string {
		return append(baseEnv(), "PAYMENT_ADDR="+pay.addr, "PAYMENT_MYSQL_DSN="+r.dsns["payment"], "PAYMENT_DB_MAX_CONNS=16",
			"TCC_HMAC_KEY="+hmacKey, "TCC_ADMIN_TOKEN="+adminToken)
	}
	for _, p := range []*proc{inv, pay, ord} {
		r.parts[p.name] = p
		px, err := faultproxy.New("127.0.0.1:0", p.url(), faultproxy.Rates{}, cfg.Seed+uint64(len(r.proxies))+7)
		if err != nil {
			return err
		}
		r.proxies[p.name] = px
	}
	participants := fmt.Sprintf("order=%s,inventory=%s,payment=%s",
		r.proxies["order"].URL(), r.proxies["inventory"].URL(), r.proxies["payment"].URL())
	for i := 0; i < cfg.Coordinators; i++ {
		etcdEndpoint := "http://" + r.etcdProxies[i].Addr() // its own proxy, so that it alone can be cut off
		c := &proc{name: fmt.Sprintf("coordinator-%d", i+1), bin: cfg.Binaries["coordinator"], addr: addr(),
			logPath: filepath.Join(cfg.WorkDir, fmt.Sprintf("coordinator-%d.log", i+1))}
		c.env = func(gen int) []string {
			return append(baseEnv(),
				"TCC_COORDINATOR_ADDR="+c.addr,
				"TCC_ADVERTISE_ADDR=http://"+c.addr,
				fmt.Sprintf("TCC_INSTANCE_ID=%s-g%d", c.name, gen),
				"TCC_MYSQL_DSN="+r.dsns["coordinator"],
				"TCC_DB_MAX_CONNS=24", // the pools of five processes must fit MariaDB's default 151 connections
				"TCC_ETCD_ENDPOINTS="+etcdEndpoint,
				"TCC_LEASE_TTL="+cfg.LeaseTTL.String(),
				"TCC_SCAN_INTERVAL="+cfg.ScanInterval.String(),
				"TCC_HMAC_KEY="+hmacKey,
				"TCC_ADMIN_TOKEN="+adminToken,
				"TCC_CLIENT_TOKEN="+clientToken,
				"TCC_PARTICIPANTS="+participants,
				"TCC_CALL_TIMEOUT=2s",
				"TCC_RETRY_BASE=50ms",
				"TCC_RETRY_CAP=1s",
				fmt.Sprintf("TCC_ATTENTION_AFTER=%d", cfg.AttentionBound),
				"TCC_SHUTDOWN_GRACE=5s",
			)
		}
		r.coords = append(r.coords, c)
	}
	lb, err := newCoordLB(r.coords)
	if err != nil {
		return err
	}
	r.lb = lb
	ord.env = func(int) []string {
		return append(baseEnv(), "ORDER_ADDR="+ord.addr, "ORDER_MYSQL_DSN="+r.dsns["order"], "ORDER_DB_MAX_CONNS=16",
			"ORDER_COORDINATOR_URL="+lb.url(), "ORDER_INVENTORY_URL="+inv.url(), "ORDER_PAYMENT_URL="+pay.url(),
			"ORDER_TX_TIMEOUT=3s", "ORDER_RATE_LIMIT=100000", "ORDER_RATE_BURST=100000", "ORDER_COORDINATOR_TOKEN="+clientToken,
			"TCC_HMAC_KEY="+hmacKey, "TCC_ADMIN_TOKEN="+adminToken)
	}
	for _, p := range []*proc{inv, pay} {
		if err := p.start(ctx, time.Minute); err != nil {
			return err
		}
	}
	for _, c := range r.coords {
		if err := c.start(ctx, time.Minute); err != nil {
			return err
		}
	}
	return ord.start(ctx, time.Minute)
}

func (r *run) stopAll() {
	if r.lb != nil {
		r.lb.close()
	}
	for _, p := range append(r.coordList(), r.parts["order"], r.parts["inventory"], r.parts["payment"]) {
		if p != nil {
			p.stop()
		}
	}
	for _, px := range r.proxies {
		_ = px.Close()
	}
}

func sku(i int) string  { return fmt.Sprintf("CHAOS-SKU-%d", i) }
func user(i int) string { return fmt.Sprintf("chaos-user-%d", i) }

// seed creates the catalogue and the accounts. Half the users get a tenth of the balance
// so that some orders run out of funds; the stock is sized so that some SKUs sell out.
func (r *run) seed(ctx context.Context) error {
	for i := 0; i < r.cfg.SKUs; i++ {
		body := fmt.Sprintf(`{"price":%d,"available":%d}`, r.cfg.Price, r.cfg.Stock)
		if err := r.admin(ctx, r.parts["inventory"].url()+"/api/v1/stock/"+sku(i), body); err != nil {
			return err
		}
	}
	for i := 0; i < r.cfg.Users; i++ {
		if err := r.admin(ctx, r.parts["payment"].url()+"/api/v1/accounts/"+user(i), fmt.Sprintf(`{"balance":%d}`, r.initialBalance(i))); err != nil {
			return err
		}
	}
	return r.seedAmbiguous(ctx)
}

func (r *run) initialBalance(i int) int64 {
	if i%2 == 1 {
		return r.cfg.Balance / 10
	}
	return r.cfg.Balance
}

func (r *run) admin(ctx context.Context, url, body string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := r.http.Do(req)
	if err != nil {
		return fmt.Errorf("harness: seed %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("harness: seed %s: %s %s", url, resp.Status, b)
	}
	return nil
}

// workload places orders from Concurrency clients until Orders are placed or Duration
// passes. A client retries an order whose answer was lost or unavailable with the same
// Idempotency-Key, as a careful client would.
func (r *run) workload(ctx context.Context, sum *Summary) {
	var next atomic.Int64
	var mu sync.Mutex
	var deadline time.Time
	if r.cfg.Duration > 0 {
		deadline = time.Now().Add(r.cfg.Duration)
	}
	var wg, faults sync.WaitGroup
	defer faults.Wait()
	for w := 0; w < r.cfg.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if (r.cfg.Orders > 0 && i > r.cfg.Orders) || (!deadline.IsZero() && time.Now().After(deadline)) || ctx.Err() != nil {
					return
				}
				r.fixedFaults(ctx, i, &faults)
				var a answer
				if k, ok := r.ambiguous(i); ok {
					a = r.placeAmbiguous(ctx, i, k)
				} else {
					body := fmt.Sprintf(`{"user_id":%q,"sku":%q,"quantity":%d}`,
						user(r.intn(r.cfg.Users)), sku(r.intn(r.cfg.SKUs)), 1+r.intn(int(r.cfg.MaxQuantity)))
					a = r.placeWithRetries(ctx, fmt.Sprintf("chaos-%d-%d", r.cfg.Seed, i), body)
				}
				status, code, xid := a.status, a.code, a.xid
				mu.Lock()
				sum.Placed++
				switch {
				case status == http.StatusCreated:
					sum.Confirmed++
					r.answeredMu.Lock()
					r.answered[xid] = true
					r.answeredMu.Unlock()
				case status == http.StatusConflict:
					sum.Refused[code]++
				default:
					sum.GaveUp[fmt.Sprintf("%d %s", status, code)]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// placeWithRetries gives an order up to 30 seconds of retries, enough to ride out a
// coordinator's lease expiry, a participant's restart and a database or etcd outage of
// a few seconds. It returns the final answer (201 or a 4xx other than 429), or the last
// one with an empty XID when it gave up.
func (r *run) placeWithRetries(ctx context.Context, key, body string) answer {
	last := answer{code: "connection"}
	giveUp := time.Now().Add(30 * time.Second)
	for attempt := 0; time.Now().Before(giveUp); attempt++ {
		if attempt > 0 {
			t := time.NewTimer(time.Duration(50+r.intn(200)) * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				last.xid = ""
				return last
			case <-t.C:
			}
		}
		a, err := r.postOrder(ctx, key, body)
		last = a
		if err == nil && a.final() {
			return a
		}
		// No answer, 5xx, 429: the outcome is unknown or not yet reached; ask again with
		// the same key.
	}
	last.xid = ""
	return last
}

// every calls fault every mean interval (with jitter) until ctx ends.
func (r *run) every(ctx context.Context, mean time.Duration, fault func(context.Context)) {
	for {
		t := time.NewTimer(r.jitter(mean))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		fault(ctx)
	}
}

// killOne SIGKILLs a random coordinator and starts it again after about a lease TTL.
// One at a time: a second kill waits for the first restart.
func (r *run) killOne(ctx context.Context) {
	r.killMu.Lock()
	defer r.killMu.Unlock()
	c := r.coords[r.intn(len(r.coords))]
	r.takeovers.Add(r.scrapeTakeovers(c))
	r.hold(c)
	defer c.held.Store(false)
	c.kill()
	r.kills.Add(1)
	r.cfg.Log.Info("chaos: coordinator killed", "name", c.name)
	r.restartAfter(ctx, c, r.jitter(r.cfg.LeaseTTL))
}

// restartOne stops a random participant (SIGTERM or SIGKILL) and starts it again after a
// short pause. One at a time.
func (r *run) restartOne(ctx context.Context) {
	r.restartMu.Lock()
	defer r.restartMu.Unlock()
	names := []string{"inventory", "payment", "order"}
	p := r.parts[names[r.intn(len(names))]]
	r.hold(p)
	defer p.held.Store(false)
	if r.intn(2) == 0 {
		p.kill()
	} else {
		p.stop()
	}
	r.restarts.Add(1)
	r.cfg.Log.Info("chaos: participant stopped", "name", p.name)
	r.restartAfter(ctx, p, time.Duration(200+r.intn(800))*time.Millisecond)
}

// hold marks p as down on purpose, waiting (bounded) for a supervisor restart in flight.
func (r *run) hold(p *proc) {
	deadline := time.Now().Add(2 * time.Minute)
	for !p.held.CompareAndSwap(false, true) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	p.held.Store(true)
}

// restartAfter starts p again once pause has passed (at once if ctx ends first).
func (r *run) restartAfter(ctx context.Context, p *proc, pause time.Duration) {
	t := time.NewTimer(pause)
	select {
	case <-ctx.Done():
		t.Stop()
	case <-t.C:
	}
	if err := p.start(context.Background(), time.Minute); err != nil {
		r.cfg.Log.Error("chaos: restart failed", "name", p.name, "err", err)
	}
}

func (r *run) scrapeTakeovers(c *proc) int64 {
	if !c.running() {
		return 0
	}
	resp, err := r.http.Get(c.url() + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "tcc_coordinator_takeovers_total ") {
			var v float64
			fmt.Sscanf(strings.TrimPrefix(line, "tcc_coordinator_takeovers_total "), "%g", &v)
			return int64(v)
		}
	}
	return 0
}

// quiesce waits until no transaction is TRYING, CONFIRMING or CANCELLING.
func (r *run) quiesce(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.QuiesceTimeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		open := 0
		var err error
		for _, st := range []string{"TRYING", "CONFIRMING", "CANCELLING"} {
			var page struct {
				Transactions []json.RawMessage `json:"transactions"`
			}
			if err = r.getJSON(ctx, r.lb.url()+"/v1/transactions?limit=1&status="+st, &page); err != nil {
				break
			}
			open += len(page.Transactions)
		}
		if err == nil && open == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("transactions still open after %s (last error: %v)", r.cfg.QuiesceTimeout, err)
		case <-tick.C:
		}
	}
}

// getJSON GETs url into `into`. A transport error or a 5xx (a process restarting, the
// database just back) is retried for up to 20 seconds, so that reads at rest do not fail
// on a pool's first stale connection; any other answer is returned at once.
func (r *run) getJSON(ctx context.Context, url string, into any) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, err := r.getJSONStatus(ctx, url, into)
		retry := status == 0 || status >= 500
		if err == nil || !retry || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		r.pause(ctx, 200*time.Millisecond)
	}
}

func (r *run) getJSONStatus(ctx context.Context, url string, into any) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+clientToken) // the coordinators require it; the services ignore it
	resp, err := r.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("GET %s: %s %s", url, resp.Status, bytes.TrimSpace(b))
	}
	return http.StatusOK, json.Unmarshal(b, into)
}

// snapshot reads the whole suite's state through the public APIs.
func (r *run) snapshot(ctx context.Context) (invariant.Snapshot, error) {
	s := invariant.Snapshot{Answered: r.answered}
	for i := 0; i < r.cfg.SKUs; i++ {
		var it struct{ Available, Reserved, Sold int64 }
		if err := r.getJSON(ctx, r.parts["inventory"].url()+"/api/v1/stock/"+sku(i), &it); err != nil {
			return s, err
		}
		s.Items = append(s.Items, invariant.Item{SKU: sku(i), Initial: r.cfg.Stock, Available: it.Available, Reserved: it.Reserved, Sold: it.Sold})
	}
	if err := r.snapshotPriceSKUs(ctx, &s); err != nil {
		return s, err
	}
	s.Keys = r.keys
	for _, acc := range r.accounts() {
		var a struct{ Balance, Frozen, Captured int64 }
		if err := r.getJSON(ctx, r.parts["payment"].url()+"/api/v1/accounts/"+acc.id, &a); err != nil {
			return s, err
		}
		s.Accounts = append(s.Accounts, invariant.Account{ID: acc.id, Initial: acc.initial, Balance: a.Balance, Frozen: a.Frozen, Captured: a.Captured})
		after := ""
		for {
			var page struct {
				Orders []struct {
					OrderID  string `json:"order_id"`
					XID      string `json:"xid"`
					UserID   string `json:"user_id"`
					SKU      string `json:"sku"`
					Quantity int64  `json:"quantity"`
					Amount   int64  `json:"amount"`
					Status   string `json:"status"`
				} `json:"orders"`
				Next string `json:"next"`
			}
			url := r.parts["order"].url() + "/api/v1/orders?limit=200&user_id=" + acc.id
			if after != "" {
				url += "&after=" + after
			}
			if err := r.getJSON(ctx, url, &page); err != nil {
				return s, err
			}
			for _, o := range page.Orders {
				s.Orders = append(s.Orders, invariant.Order{OrderID: o.OrderID, XID: o.XID, UserID: o.UserID, SKU: o.SKU, Quantity: o.Quantity, Amount: o.Amount, Status: o.Status})
			}
			if page.Next == "" || len(page.Orders) == 0 {
				break
			}
			after = page.Next
		}
	}
	for _, o := range s.Orders {
		var page struct {
			Payments []struct {
				OrderID   string `json:"order_id"`
				XID       string `json:"xid"`
				AccountID string `json:"account_id"`
				Amount    int64  `json:"amount"`
			} `json:"payments"`
		}
		if err := r.getJSON(ctx, r.parts["payment"].url()+"/api/v1/payments?order_id="+o.OrderID, &page); err != nil {
			return s, err
		}
		for _, p := range page.Payments {
			s.Captures = append(s.Captures, invariant.Capture{OrderID: p.OrderID, XID: p.XID, AccountID: p.AccountID, Amount: p.Amount})
		}
	}
	// Captures of orders the order service does not know show up in the totals only.
	var stats struct{ Count int64 }
	if err := r.getJSON(ctx, r.parts["payment"].url()+"/api/v1/payments/stats", &stats); err != nil {
		return s, err
	}
	for n := int64(len(s.Captures)); n < stats.Count; n++ {
		s.Captures = append(s.Captures, invariant.Capture{OrderID: fmt.Sprintf("(unknown order %d)", n), XID: "(unknown)"})
	}
	after := ""
	for {
		var page struct {
			Transactions []struct {
				XID       string `json:"xid"`
				Status    string `json:"status"`
				Attention bool   `json:"attention"`
			} `json:"transactions"`
			Next string `json:"next"`
		}
		url := r.lb.url() + "/v1/transactions?limit=500"
		if after != "" {
			url += "&after=" + after
		}
		if err := r.getJSON(ctx, url, &page); err != nil {
			return s, err
		}
		for _, t := range page.Transactions {
			s.Txs = append(s.Txs, invariant.Tx{XID: t.XID, Status: t.Status, Attention: t.Attention})
		}
		if page.Next == "" || len(page.Transactions) == 0 {
			break
		}
		after = page.Next
	}
	return s, nil
}

// coordLB spreads the order service's calls over the live coordinators, as a Kubernetes
// Service would: a coordinator that refuses the connection is skipped; a call that was
// sent and then lost answers 502, and the order service must cope.
type coordLB struct {
	coords []*proc
	ln     net.Listener
	srv    *http.Server
	client *http.Client
	n      atomic.Uint64
}

func newCoordLB(coords []*proc) (*coordLB, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	lb := &coordLB{coords: coords, ln: ln, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}}
	lb.srv = &http.Server{Handler: lb, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = lb.srv.Serve(ln) }()
	return lb, nil
}

func (lb *coordLB) url() string { return "http://" + lb.ln.Addr().String() }

func (lb *coordLB) close() { _ = lb.srv.Close(); lb.client.CloseIdleConnections() }

func (lb *coordLB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	start := int(lb.n.Add(1))
	for i := range lb.coords {
		c := lb.coords[(start+i)%len(lb.coords)]
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, c.url()+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := lb.client.Do(req)
		if err != nil {
			var op *net.OpError
			if errors.As(err, &op) && op.Op == "dial" {
				continue // not listening: try the next one
			}
			http.Error(w, `{"code":"BAD_GATEWAY","message":"coordinator connection lost"}`, http.StatusBadGateway)
			return
		}
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		resp.Body.Close()
		return
	}
	http.Error(w, `{"code":"NO_COORDINATOR","message":"no coordinator is listening"}`, http.StatusServiceUnavailable)
}
