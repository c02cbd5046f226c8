package harness

import (
	"context"
	"time"
)

// supervise restarts, like a container runtime would, any component process that
// exited without the harness having stopped it (a crash on a lost database, a fatal
// etcd error, a start refused while a dependency is down), and counts it by component
// ("name" for a process that had been ready, "name before ready" for one that exited
// while starting): such an exit is a finding the summary reports, though not an
// invariant violation. It returns when ctx ends; restarts in flight go on.
func (r *chaosRun) supervise(ctx context.Context) {
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
			r.countExit(p)
			go r.superviseRestart(ctx, p)
		}
	}
}

// countExit records an exit the harness did not cause. An exit after the process was
// ready is a crash; an exit while it was still starting (a dependency down at start-up)
// is a refused start.
func (r *chaosRun) countExit(p *proc) {
	kind := p.name
	if !p.wasReady() {
		kind += " before ready"
	}
	r.exitsMu.Lock()
	r.exits[kind]++
	r.exitsMu.Unlock()
	r.cfg.Log.Warn("chaos: process exited on its own; restarting it", "name", p.name, "was_ready", p.wasReady())
}

// superviseRestart starts p again (it holds p) and releases it. The start is not cut
// short by ctx: heal waits for it.
func (r *chaosRun) superviseRestart(ctx context.Context, p *proc) {
	defer p.held.Store(false)
	if err := p.start(context.WithoutCancel(ctx), time.Minute); err != nil {
		r.cfg.Log.Error("chaos: supervisor restart failed", "name", p.name, "err", err)
		// The restart policy's back-off (a deliberate delay, not a wait for
		// anything): a process that cannot start yet is tried once a second.
		r.pause(ctx, time.Second)
	}
}
