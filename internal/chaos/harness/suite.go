package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/tccsuite/tccsuite/internal/chaos/faultproxy"
	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/internal/tcpproxy"
)

// components are the suite's processes by component name, as in Config.Binaries.
var components = []string{"coordinator", "order", "inventory", "payment"}

// cleanups is a stack of undo steps, run last-in first-out like defers.
type cleanups []func()

func (c *cleanups) add(f func()) { *c = append(*c, f) }

// run runs every step, the last added first, and empties the stack: a second call does
// nothing.
func (c *cleanups) run() {
	for i := len(*c) - 1; i >= 0; i-- {
		(*c)[i]()
	}
	*c = nil
}

// startDependencies creates the work directory and starts what the suite runs on: the
// private MariaDB (with PrivateMySQL), one schema per component, etcd, and one
// cut-able etcd proxy per coordinator. The returned stop undoes, in reverse order,
// whatever was started, also when err is not nil; it is safe to call more than once.
func (r *chaosRun) startDependencies(ctx context.Context) (stop func(), err error) {
	var undo cleanups
	if err := os.MkdirAll(r.cfg.WorkDir, 0o750); err != nil {
		return undo.run, err
	}
	if r.cfg.PrivateMySQL {
		db, err := startMariaDB(ctx, r.cfg.WorkDir)
		if err != nil {
			return undo.run, err
		}
		undo.add(db.close)
		r.db = db
		r.cfg.MySQLServerDSN = db.dsn()
	}
	dropSchemas, err := r.createSchemas(ctx)
	undo.add(dropSchemas)
	if err != nil {
		return undo.run, err
	}
	etcd, err := startEtcd(ctx, r.cfg.WorkDir)
	if err != nil {
		return undo.run, err
	}
	r.etcd = etcd
	undo.add(etcd.stop)
	for range r.cfg.Coordinators {
		px, err := tcpproxy.New(ctx, etcd.clientAddr())
		if err != nil {
			return undo.run, err
		}
		undo.add(px.Close)
		r.etcdProxies = append(r.etcdProxies, px)
	}
	return undo.run, nil
}

// createSchemas creates one schema per component on the MySQL server (names unique to
// this run) and records their DSNs. The returned drop removes the schemas created so
// far, also when err is not nil; its own failures are ignored (the run is over).
func (r *chaosRun) createSchemas(ctx context.Context) (drop func(), err error) {
	base, err := mysqldrv.ParseDSN(r.cfg.MySQLServerDSN)
	if err != nil {
		return func() {}, fmt.Errorf("harness: bad MySQL DSN: %w", err)
	}
	prefix := fmt.Sprintf("tccchaos_%d_%d", time.Now().Unix()%100000, os.Getpid())
	r.dsns = map[string]string{}
	var created []string
	drop = func() {
		if len(created) == 0 {
			return
		}
		admin := *base
		admin.DBName = ""
		db, err := dbx.Open(context.WithoutCancel(ctx), dbx.Config{MySQLDSN: admin.FormatDSN(), MaxOpenConns: 1})
		if err != nil {
			return
		}
		defer func() { _ = dbx.Close(db) }()
		for _, name := range created {
			_ = db.Exec("DROP DATABASE IF EXISTS `" + name + "`").Error
		}
	}
	for _, comp := range components {
		c := *base
		c.DBName = prefix + "_" + comp
		dsn := c.FormatDSN()
		if err := dbx.CreateMySQLDatabase(ctx, dsn); err != nil {
			return drop, err
		}
		created = append(created, c.DBName)
		r.dsns[comp] = dsn
	}
	return drop, nil
}

// startSuite starts the services and the coordinators, each on a free port, with a
// fault proxy in front of every participant and the balancer in front of the
// coordinators, and returns once every process answers /readyz (a minute at most
// each). On an error, what was started stays up for stopAll to stop.
func (r *chaosRun) startSuite(ctx context.Context) error {
	for _, name := range []string{"inventory", "payment", "order"} {
		p, err := r.newProc(ctx, name, name)
		if err != nil {
			return err
		}
		r.parts[name] = p
		px, err := faultproxy.New(ctx, "127.0.0.1:0", p.url(), faultproxy.Rates{}, r.cfg.Seed+uint64(len(r.proxies))+7)
		if err != nil {
			return err
		}
		r.proxies[name] = px
	}
	for i := range r.cfg.Coordinators {
		c, err := r.newProc(ctx, "coordinator", fmt.Sprintf("coordinator-%d", i+1))
		if err != nil {
			return err
		}
		c.env = r.coordinatorEnv(c, i)
		r.coords = append(r.coords, c)
	}
	lb, err := newCoordBalancer(ctx, r.coords)
	if err != nil {
		return err
	}
	r.lb = lb
	inv, pay, ord := r.parts["inventory"], r.parts["payment"], r.parts["order"]
	inv.env = r.serviceEnv(inv)
	pay.env = r.serviceEnv(pay)
	ord.env = r.serviceEnv(ord,
		"ORDER_COORDINATOR_URL="+lb.url(), "ORDER_INVENTORY_URL="+inv.url(), "ORDER_PAYMENT_URL="+pay.url(),
		"ORDER_TX_TIMEOUT=3s", "ORDER_RATE_LIMIT=100000", "ORDER_RATE_BURST=100000", "ORDER_COORDINATOR_TOKEN="+clientToken)
	// The participants first, then the coordinators that call them, then the order
	// service that calls the coordinators.
	for _, p := range append(append([]*proc{inv, pay}, r.coords...), ord) {
		if err := p.start(ctx, time.Minute); err != nil {
			return err
		}
	}
	return nil
}

// newProc describes (does not start) the process name of component, on a free port,
// logging to <WorkDir>/<name>.log.
func (r *chaosRun) newProc(ctx context.Context, component, name string) (*proc, error) {
	addr, err := freePort(ctx)
	if err != nil {
		return nil, err
	}
	return &proc{name: name, bin: r.cfg.Binaries[component], addr: addr, logPath: filepath.Join(r.cfg.WorkDir, name+".log")}, nil
}

// baseEnv is what every process inherits: no more of the harness's environment than it
// needs, and a race detector that stops the process at the first race.
func baseEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "GORACE=halt_on_error=1"}
}

// serviceEnv is the environment of the service p (named by its component): its
// address, schema and pool, the suite's secrets, and extra.
func (r *chaosRun) serviceEnv(p *proc, extra ...string) func(int) []string {
	prefix := strings.ToUpper(p.name) + "_"
	return func(int) []string {
		env := append(baseEnv(), prefix+"ADDR="+p.addr, prefix+"MYSQL_DSN="+r.dsns[p.name], prefix+"DB_MAX_CONNS=16",
			"TCC_HMAC_KEY="+hmacKey, "TCC_ADMIN_TOKEN="+adminToken)
		return append(env, extra...)
	}
}

// coordinatorEnv is the environment of coordinator i: its own instance ID per
// generation, and its own etcd proxy, so that it alone can be cut off etcd.
func (r *chaosRun) coordinatorEnv(c *proc, i int) func(int) []string {
	participants := fmt.Sprintf("order=%s,inventory=%s,payment=%s",
		r.proxies["order"].URL(), r.proxies["inventory"].URL(), r.proxies["payment"].URL())
	etcdEndpoint := "http://" + r.etcdProxies[i].Addr()
	return func(gen int) []string {
		return append(baseEnv(),
			"TCC_COORDINATOR_ADDR="+c.addr,
			"TCC_ADVERTISE_ADDR=http://"+c.addr,
			fmt.Sprintf("TCC_INSTANCE_ID=%s-g%d", c.name, gen),
			"TCC_MYSQL_DSN="+r.dsns["coordinator"],
			"TCC_DB_MAX_CONNS=24", // the pools of five processes must fit MariaDB's default 151 connections
			"TCC_ETCD_ENDPOINTS="+etcdEndpoint,
			"TCC_LEASE_TTL="+r.cfg.LeaseTTL.String(),
			"TCC_SCAN_INTERVAL="+r.cfg.ScanInterval.String(),
			"TCC_HMAC_KEY="+hmacKey,
			"TCC_ADMIN_TOKEN="+adminToken,
			"TCC_CLIENT_TOKEN="+clientToken,
			"TCC_PARTICIPANTS="+participants,
			"TCC_CALL_TIMEOUT=2s",
			"TCC_RETRY_BASE=50ms",
			"TCC_RETRY_CAP=1s",
			fmt.Sprintf("TCC_ATTENTION_AFTER=%d", r.cfg.AttentionBound),
			"TCC_SHUTDOWN_GRACE=5s",
		)
	}
}

// coordList is every coordinator process.
func (r *chaosRun) coordList() []*proc { return r.coords }

// partList is every participant process.
func (r *chaosRun) partList() []*proc {
	return []*proc{r.parts["inventory"], r.parts["payment"], r.parts["order"]}
}

// stopAll stops the balancer, every process (SIGTERM, then SIGKILL after a grace) and
// every fault proxy. Safe after a partial start.
func (r *chaosRun) stopAll() {
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
