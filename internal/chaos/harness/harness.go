// Package harness runs the suite's real binaries as separate processes (two or more
// coordinators and the three services) on MariaDB and a real etcd, puts a
// fault-injecting proxy in front of every participant, places orders concurrently while
// it kills coordinators with SIGKILL and stops and restarts participants, then waits for
// quiescence and checks every invariant (package invariant).
//
// Files by job:
//   - harness.go: Run, the order of a run's steps; config.go: Config and its defaults;
//     chaosrun.go: the state of one run.
//   - The suite: suite.go starts the dependencies, the schemas and the processes (with
//     their environments) and stops them; procs.go builds, starts and signals one
//     process; seed.go seeds the catalogue and the accounts; balancer.go is the load
//     balancer in front of the coordinators; api.go holds the harness's calls to the
//     suite's public APIs.
//   - The workload: workload.go places the orders with keyed retries; clients.go is the
//     ambiguous-client workload (hang up, price change, keyed retry) and the table of
//     every HTTP answer.
//   - The faults: faults.go schedules every fault and kills and restarts processes;
//     mariadb.go runs a private MariaDB the run can SIGKILL and restart; etcd.go restarts
//     etcd and partitions one coordinator from it through a cut-able TCP proxy
//     (tcpproxy.go); supervise.go restarts what exits on its own; heal.go ends every
//     fault and waits for quiescence.
//   - The verdict: snapshot.go reads the state through the public APIs for the checker;
//     summary.go tallies and judges the run and renders its Summary.
package harness

import (
	"context"
	"sync"
	"time"
)

// Run performs one chaos run and returns its summary. An error means the harness
// itself could not run (a build, a start-up, a restart that did not come up, a state
// it could not read); broken invariants are in the summary. Everything it started is
// stopped before it returns; the schemas are dropped, WorkDir is kept.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	cfg.defaults()
	r := newChaosRun(cfg)
	defer r.http.CloseIdleConnections()
	stopDependencies, err := r.startDependencies(ctx)
	defer stopDependencies()
	if err != nil {
		return Summary{}, err
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

	sum := newSummary()
	r.workloadUnderFaults(ctx, &sum)
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

	r.tally(ctx, &sum)
	if err := r.judge(ctx, &sum); err != nil {
		return sum, err
	}
	return sum, nil
}

// workloadUnderFaults runs the workload while the periodic faults and the supervisor
// run, and returns once all of them have ended.
func (r *chaosRun) workloadUnderFaults(ctx context.Context, sum *Summary) {
	faultsCtx, stopFaults := context.WithCancel(ctx)
	defer stopFaults()
	var faults sync.WaitGroup
	r.periodicFaults(faultsCtx, &faults)
	r.workload(ctx, sum)
	stopFaults()
	faults.Wait()
}
