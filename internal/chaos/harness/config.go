package harness

import (
	"io"
	"log/slog"
	"time"

	"github.com/tccsuite/tccsuite/internal/chaos/faultproxy"
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

// defaults fills every zero field with its documented default. It is idempotent.
func (c *Config) defaults() {
	orDefault(&c.Coordinators, 2)
	orDefault(&c.SKUs, 4)
	orDefault(&c.Users, 8)
	orDefault(&c.Stock, 200)
	orDefault(&c.Price, 250)
	orDefault(&c.Balance, 100_000)
	orDefault(&c.MaxQuantity, 3)
	orDefault(&c.Concurrency, 16)
	orDefault(&c.LeaseTTL, 2*time.Second)
	orDefault(&c.ScanInterval, 500*time.Millisecond)
	orDefault(&c.QuiesceTimeout, 3*time.Minute)
	orDefault(&c.AttentionBound, 1000)
	orDefault(&c.DBDowntime, 3*time.Second)
	orDefault(&c.EtcdDowntime, 2*time.Second)
	orDefault(&c.PartitionFor, c.LeaseTTL*5/2)
	orDefault(&c.HangUpMax, 150*time.Millisecond)
	if c.DBCrashEvery > 0 || len(c.DBCrashAt) > 0 {
		c.PrivateMySQL = true
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// orDefault sets *p to def when *p is the zero value.
func orDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

// The suite's shared secrets for a run: fixed, because the processes are local and
// short-lived.
const (
	hmacKey     = "chaos-harness-hmac-key-0123456789abcdef"
	adminToken  = "chaos-harness-admin-token"
	clientToken = "chaos-harness-client-token"
)
