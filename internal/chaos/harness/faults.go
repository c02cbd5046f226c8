package harness

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Fault kinds of the dependency faults in Summary.Faults (besides the proxy's kinds,
// coordinator_sigkill and participant_restart).
const (
	FaultDBSigkill     = "database_sigkill" // the private MariaDB SIGKILLed and restarted
	FaultEtcdOutage    = "etcd_outage"      // etcd closed and restarted on the same data and ports
	FaultEtcdPartition = "etcd_partition"   // one coordinator cut off etcd for longer than the lease TTL
	FaultClientHangUp  = "client_hangup"    // an ambiguous client cancelled its call mid-way
)

// periodicFaults starts one goroutine per fault kind with a mean interval, and the
// supervisor; all end with ctx, and wg counts them.
func (r *chaosRun) periodicFaults(ctx context.Context, wg *sync.WaitGroup) {
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

// fixedFaults starts, in the background, every fault scheduled at order number i; wg
// counts them.
func (r *chaosRun) fixedFaults(ctx context.Context, i int, wg *sync.WaitGroup) {
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

// every calls fault every mean interval (with jitter) until ctx ends.
func (r *chaosRun) every(ctx context.Context, mean time.Duration, fault func(context.Context)) {
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
func (r *chaosRun) killOne(ctx context.Context) {
	r.killMu.Lock()
	defer r.killMu.Unlock()
	c := r.coords[r.intn(len(r.coords))]
	// The counter dies with the process: read it first, even while the run is healing.
	r.takeovers.Add(r.scrapeTakeovers(context.WithoutCancel(ctx), c))
	r.hold(c)
	defer c.held.Store(false)
	c.kill()
	r.kills.Add(1)
	r.cfg.Log.Info("chaos: coordinator killed", "name", c.name)
	r.restartAfter(ctx, c, r.jitter(r.cfg.LeaseTTL))
}

// restartOne stops a random participant (SIGTERM or SIGKILL) and starts it again after a
// short pause. One at a time.
func (r *chaosRun) restartOne(ctx context.Context) {
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

// hold marks p as down on purpose, waiting (two minutes at most) for a supervisor
// restart in flight to release it first.
func (r *chaosRun) hold(p *proc) {
	deadline := time.Now().Add(2 * time.Minute)
	for !p.held.CompareAndSwap(false, true) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	p.held.Store(true)
}

// restartAfter starts p again once pause has passed (at once if ctx ends first: the run
// is healing). The start itself is not cut short by ctx; a failure is logged, and the
// supervisor or heal tries again.
func (r *chaosRun) restartAfter(ctx context.Context, p *proc, pause time.Duration) {
	r.pause(ctx, pause)
	if err := p.start(context.WithoutCancel(ctx), time.Minute); err != nil {
		r.cfg.Log.Error("chaos: restart failed", "name", p.name, "err", err)
	}
}
