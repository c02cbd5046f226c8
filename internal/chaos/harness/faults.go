package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tccsuite/tccsuite/internal/chaos/faultproxy"
	"github.com/tccsuite/tccsuite/internal/chaos/invariant"
)

// Fault kinds of the dependency faults in Summary.Faults (besides the proxy's kinds,
// coordinator_sigkill and participant_restart).
const (
	FaultDBSigkill     = "database_sigkill" // the private MariaDB SIGKILLed and restarted
	FaultEtcdOutage    = "etcd_outage"      // etcd closed and restarted on the same data and ports
	FaultEtcdPartition = "etcd_partition"   // one coordinator cut off etcd for longer than the lease TTL
	FaultClientHangUp  = "client_hangup"    // an ambiguous client cancelled its call mid-way
)

// Ambiguous summarises the ambiguous clients: how many there were, how many hung up
// before an answer, how many price changes the harness made between hang-up and retry,
// and what they finally learned.
type Ambiguous struct {
	Clients      int      `json:"clients"`
	HungUp       int      `json:"hung_up"`
	PriceChanges int      `json:"price_changes"`
	Confirmed    int      `json:"confirmed"`
	Refused      int      `json:"refused"`
	GaveUp       int      `json:"gave_up"`
	GaveUpKeys   []string `json:"gave_up_keys,omitempty"` // reported, not violations
}

// periodicFaults starts one goroutine per fault kind with a mean interval, and the
// supervisor; all end with ctx.
func (r *run) periodicFaults(ctx context.Context, wg *sync.WaitGroup) {
	start := func(mean time.Duration, fault func(context.Context)) {
		if mean <= 0 {
			return
		}
		wg.Add(1)
		go func() { defer wg.Done(); r.every(ctx, mean, fault) }()
	}
	start(r.cfg.KillEvery, r.killOne)
	start(r.cfg.RestartEvery, r.restartOne)
	start(r.cfg.DBCrashEvery, r.crashDB)
	start(r.cfg.EtcdOutageEvery, r.etcdOutage)
	start(r.cfg.PartitionEvery, r.partitionOne)
	wg.Add(1)
	go func() { defer wg.Done(); r.supervise(ctx) }()
}

// fixedFaults starts, in the background, every fault scheduled at order number i.
func (r *run) fixedFaults(ctx context.Context, i int, wg *sync.WaitGroup) {
	for _, f := range []struct {
		at    []int
		fault func(context.Context)
	}{
		{r.cfg.KillAt, r.killOne},
		{r.cfg.RestartAt, r.restartOne},
		{r.cfg.DBCrashAt, r.crashDB},
		{r.cfg.EtcdOutageAt, r.etcdOutage},
		{r.cfg.PartitionAt, r.partitionOne},
	} {
		if slices.Contains(f.at, i) {
			wg.Add(1)
			go func() { defer wg.Done(); f.fault(ctx) }()
		}
	}
}

// supervise restarts, like a container runtime would, any component process that
// exited without the harness having stopped it (a crash on a lost database, a fatal
// etcd error, a start refused while a dependency is down), and counts it by component
// ("name" for a process that had been ready, "name before ready" for one that exited
// while starting): such an exit is a finding the summary reports, though not an
// invariant violation.
func (r *run) supervise(ctx context.Context) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, p := range append(r.coordList(), r.partList()...) {
			if p.held.Load() || p.running() || !p.started() {
				continue
			}
			if !p.held.CompareAndSwap(false, true) {
				continue
			}
			// An exit after the process was ready is a crash; an exit while it was still
			// starting (a dependency down at start-up) is a refused start.
			kind := p.name
			if !p.wasReady() {
				kind += " before ready"
			}
			r.exitsMu.Lock()
			r.exits[kind]++
			r.exitsMu.Unlock()
			r.cfg.Log.Warn("chaos: process exited on its own; restarting it", "name", p.name, "was_ready", p.wasReady())
			go func() {
				defer p.held.Store(false)
				if err := p.start(context.Background(), time.Minute); err != nil {
					r.cfg.Log.Error("chaos: supervisor restart failed", "name", p.name, "err", err)
					// The restart policy's back-off (a deliberate delay, not a wait for
					// anything): a process that cannot start yet is tried once a second.
					r.pause(ctx, time.Second)
				}
			}()
		}
	}
}

// heal ends every fault: the database and etcd up, every etcd link restored, no proxy
// fault, every process running (waiting for a supervisor restart in flight).
func (r *run) heal(ctx context.Context) error {
	for _, p := range r.proxies {
		_ = p.SetRates(faultproxy.Rates{})
	}
	for _, px := range r.etcdProxies {
		px.Restore()
	}
	if r.db != nil && !r.db.running() {
		if err := r.db.start(ctx); err != nil {
			return err
		}
	}
	if !r.etcd.running() {
		if err := r.etcd.start(ctx); err != nil {
			return err
		}
	}
	for _, p := range append(r.coordList(), r.partList()...) {
		// A supervisor restart still in flight finishes first (bounded by its own
		// one-minute readiness wait).
		deadline := time.Now().Add(2 * time.Minute)
		for p.held.Load() && time.Now().Before(deadline) {
			r.pause(ctx, 50*time.Millisecond)
		}
		if !p.running() {
			if err := p.start(ctx, time.Minute); err != nil {
				return err
			}
		}
	}
	return nil
}

// dependencyFaults adds the dependency faults, the answer table, the ambiguous clients
// and the unexpected exits to the summary.
func (r *run) dependencyFaults(sum *Summary) {
	sum.Faults[FaultDBSigkill] = r.dbCrashes.Load()
	sum.Faults[FaultEtcdOutage] = r.etcdOutages.Load()
	sum.Faults[FaultEtcdPartition] = r.partitions.Load()
	if r.cfg.AmbiguousEvery > 0 {
		sum.Faults[FaultClientHangUp] = r.hungUp.Load()
	}
	sum.Answers = r.answers.snapshot()
	r.exitsMu.Lock()
	sum.Exits = map[string]int{}
	for k, v := range r.exits {
		sum.Exits[k] = v
	}
	r.exitsMu.Unlock()
	r.keysMu.Lock()
	defer r.keysMu.Unlock()
	a := Ambiguous{Clients: len(r.keys), HungUp: int(r.hungUp.Load()), PriceChanges: int(r.priceChanges.Load())}
	for _, k := range r.keys {
		switch k.Answer {
		case invariant.KeyConfirmed:
			a.Confirmed++
		case invariant.KeyRefused:
			a.Refused++
		default:
			a.GaveUp++
			a.GaveUpKeys = append(a.GaveUpKeys, k.Key+" ("+k.Code+")")
		}
	}
	sort.Strings(a.GaveUpKeys)
	sum.Ambiguous = a
	if len(a.GaveUpKeys) > 0 {
		keys := a.GaveUpKeys
		if len(keys) > 5 {
			keys = append(keys[:5:5], fmt.Sprintf("... %d more", len(a.GaveUpKeys)-5))
		}
		sum.Notes = append(sum.Notes, fmt.Sprintf("%d ambiguous clients gave up (their orders checked final): %s", a.GaveUp, strings.Join(keys, ", ")))
	}
	if n := r.priceChangeFailed.Load(); n > 0 {
		sum.Notes = append(sum.Notes, fmt.Sprintf("%d price changes could not be made; those SKUs' conservation is not checked", n))
	}
}

// harnessErr records a failure of the harness itself (a restart that did not come up):
// the run then ends with an error, not with a verdict on the suite.
func (r *run) harnessErr(err error) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	r.errs = append(r.errs, err)
}

func (r *run) harnessError() error {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return errors.Join(r.errs...)
}

// seedAmbiguous creates the price-changing SKUs (stock that never runs out) and one
// account per ambiguous client.
func (r *run) seedAmbiguous(ctx context.Context) error {
	if r.cfg.AmbiguousEvery <= 0 {
		return nil
	}
	r.ambAccounts = 200
	if r.cfg.Orders > 0 {
		r.ambAccounts = r.cfg.Orders / r.cfg.AmbiguousEvery
	}
	const stock = 1_000_000
	for j := 0; j < r.priceSKUs(); j++ {
		if err := r.admin(ctx, r.parts["inventory"].url()+"/api/v1/stock/"+priceSKU(j), fmt.Sprintf(`{"price":%d,"available":%d}`, r.cfg.Price, stock)); err != nil {
			return err
		}
		r.anchors[priceSKU(j)] = stock
	}
	for k := 0; k < r.ambAccounts; k++ {
		if err := r.admin(ctx, r.parts["payment"].url()+"/api/v1/accounts/"+ambUser(k), fmt.Sprintf(`{"balance":%d}`, r.cfg.Balance)); err != nil {
			return err
		}
	}
	return nil
}

type account struct {
	id      string
	initial int64
}

// accounts lists every account of the run with its initial balance.
func (r *run) accounts() []account {
	var out []account
	for i := 0; i < r.cfg.Users; i++ {
		out = append(out, account{user(i), r.initialBalance(i)})
	}
	for k := 0; k < r.ambAccounts; k++ {
		out = append(out, account{ambUser(k), r.cfg.Balance})
	}
	return out
}

// snapshotPriceSKUs adds the price-changing SKUs, each with its conservation base as
// anchored by the last price change (or its own current total when unknown).
func (r *run) snapshotPriceSKUs(ctx context.Context, s *invariant.Snapshot) error {
	if r.cfg.AmbiguousEvery <= 0 {
		return nil
	}
	r.priceMu.Lock()
	defer r.priceMu.Unlock()
	for j := 0; j < r.priceSKUs(); j++ {
		var it struct{ Available, Reserved, Sold int64 }
		if err := r.getJSON(ctx, r.parts["inventory"].url()+"/api/v1/stock/"+priceSKU(j), &it); err != nil {
			return err
		}
		base := r.anchors[priceSKU(j)]
		if base < 0 {
			base = it.Available + it.Reserved + it.Sold
		}
		s.Items = append(s.Items, invariant.Item{SKU: priceSKU(j), Initial: base, Available: it.Available, Reserved: it.Reserved, Sold: it.Sold})
	}
	return nil
}

// adminJSON PUTs body to url with the admin token and decodes the 2xx answer into out.
func (r *run) adminJSON(ctx context.Context, url, body string, out any) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := r.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("PUT %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
