package harness

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tccsuite/tccsuite/internal/chaos/faultproxy"
	"github.com/tccsuite/tccsuite/internal/chaos/invariant"
	"github.com/tccsuite/tccsuite/internal/tcpproxy"
)

// chaosRun is the state of one chaos run: the processes and proxies it started, the
// faults it injected, what the clients were answered, and the harness's own failures.
// Its methods are spread over the files of the package by job (suite.go, workload.go,
// faults.go, snapshot.go, ...); each group of fields below says which job owns it.
type chaosRun struct {
	cfg   Config
	rng   *rand.Rand // seeded: the same Seed draws the same orders and faults
	rngMu sync.Mutex
	http  *http.Client

	// The suite (suite.go): one schema per component, the processes, the proxies.
	dsns        map[string]string
	coords      []*proc
	parts       map[string]*proc
	proxies     map[string]*faultproxy.Proxy
	lb          *coordBalancer
	db          *mariadbServer // the private MariaDB, nil without PrivateMySQL
	etcd        *etcdServer
	etcdProxies []*tcpproxy.Proxy // one per coordinator, same index as coords

	// The faults (faults.go, mariadb.go, etcd.go), one at a time per kind.
	killMu      sync.Mutex
	restartMu   sync.Mutex
	dbMu        sync.Mutex
	etcdMu      sync.Mutex
	partitionMu sync.Mutex
	takeovers   atomic.Int64
	kills       atomic.Int64
	restarts    atomic.Int64
	dbCrashes   atomic.Int64
	etcdOutages atomic.Int64
	partitions  atomic.Int64

	// The workload (workload.go, clients.go): what the clients were answered.
	answeredMu        sync.Mutex
	answered          map[string]bool // XIDs answered 201
	answers           answerTable
	keysMu            sync.Mutex
	keys              []invariant.KeyAnswer
	ambAccounts       int
	hungUp            atomic.Int64
	priceMu           sync.Mutex
	anchors           map[string]int64 // price SKUs' conservation base; -1: unknown
	priceChanges      atomic.Int64
	priceChangeFailed atomic.Int64

	// The supervisor (supervise.go) and the harness's own failures.
	exitsMu sync.Mutex
	exits   map[string]int
	errMu   sync.Mutex
	errs    []error
}

// newChaosRun returns the state of a run of cfg (defaults already applied); nothing is
// started yet.
func newChaosRun(cfg Config) *chaosRun {
	//nolint:gosec // G404: seeded on purpose, so that a seed repeats a run; nothing secret is drawn
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed+1))
	return &chaosRun{
		cfg:      cfg,
		rng:      rng,
		parts:    map[string]*proc{},
		proxies:  map[string]*faultproxy.Proxy{},
		http:     &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}},
		answered: map[string]bool{},
		anchors:  map[string]int64{},
		exits:    map[string]int{},
	}
}

// intn draws from [0, n) with the run's seeded generator; safe for concurrent use.
func (r *chaosRun) intn(n int) int {
	r.rngMu.Lock()
	defer r.rngMu.Unlock()
	return r.rng.IntN(n)
}

// jitter draws a duration within mean ±50%; safe for concurrent use.
func (r *chaosRun) jitter(mean time.Duration) time.Duration {
	r.rngMu.Lock()
	defer r.rngMu.Unlock()
	return mean/2 + time.Duration(r.rng.Int64N(int64(mean)))
}

// pause waits d, or less if ctx ends first (the run is healing). It is a deliberate
// delay (a fault's duration, a back-off), never a wait for a state.
func (r *chaosRun) pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// harnessErr records a failure of the harness itself (a restart that did not come up):
// the run then ends with an error, not with a verdict on the suite.
func (r *chaosRun) harnessErr(err error) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	r.errs = append(r.errs, err)
}

// harnessError joins every failure harnessErr recorded (nil: none).
func (r *chaosRun) harnessError() error {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return errors.Join(r.errs...)
}
