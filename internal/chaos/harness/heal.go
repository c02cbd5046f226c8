package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tccsuite/tccsuite/internal/chaos/faultproxy"
)

// heal ends every fault: the database and etcd up, every etcd link restored, no proxy
// fault, every process running (waiting for a supervisor restart in flight). An error
// means a dependency or a process could not be started again.
func (r *chaosRun) heal(ctx context.Context) error {
	for _, p := range r.proxies {
		_ = p.SetRates(faultproxy.Rates{}) // zero rates are always valid
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

// quiesce waits, for at most QuiesceTimeout, until no transaction is TRYING,
// CONFIRMING or CANCELLING, as the coordinators list them.
func (r *chaosRun) quiesce(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.QuiesceTimeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		open, err := r.openTransactions(ctx)
		if err == nil && open == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("transactions still open after %s (last error: %w)", r.cfg.QuiesceTimeout, err)
			}
			return fmt.Errorf("transactions still open after %s", r.cfg.QuiesceTimeout)
		case <-tick.C:
		}
	}
}

// openTransactions counts the states that are not final, one page of at most one
// transaction each: 0 means none is open.
func (r *chaosRun) openTransactions(ctx context.Context) (int, error) {
	open := 0
	for _, st := range []string{"TRYING", "CONFIRMING", "CANCELLING"} {
		var page struct {
			Transactions []json.RawMessage `json:"transactions"`
		}
		if err := r.getJSON(ctx, r.lb.url()+"/v1/transactions?limit=1&status="+st, &page); err != nil {
			return open, err
		}
		open += len(page.Transactions)
	}
	return open, nil
}
