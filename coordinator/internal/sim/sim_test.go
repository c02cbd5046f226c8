package sim_test

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tccsuite/tccsuite/coordinator/internal/engine/enginetest"
	"github.com/tccsuite/tccsuite/coordinator/internal/sim"
	"github.com/tccsuite/tccsuite/coordinator/internal/store"
)

var (
	seedFlag   = flag.Uint64("sim.seed", 0, "run only this seed (0: the fixed set, or -sim.seeds)")
	seedsFlag  = flag.Int("sim.seeds", 0, "run seeds 1..N instead of the fixed set (the long mode)")
	txsFlag    = flag.Int("sim.txs", 0, "transactions per run (0: 60)")
	brokenFlag = flag.String("sim.broken", "", "run against a deliberately broken store: "+strings.Join(brokenNames(), ", "))
	logFlag    = flag.Bool("sim.log", false, "print the engines' logs (with -v)")
	repeatFlag = flag.Int("sim.repeat", 1, "run each seed this many times and report whether the runs agree (Result.Digest)")
)

// fixedSeeds is what `make test` runs.
var fixedSeeds = []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}

// broken are the deliberately broken variants, built only here: stores that ignore the
// owner fence. The simulation must find each.
var broken = map[string]func(raw *enginetest.Store) store.Store{
	// The decision compare-and-set on status alone: a coordinator whose row was taken
	// over can still decide it.
	"unfenced-decide": func(raw *enginetest.Store) store.Store { return &unfencedDecide{raw} },
	// Branch results and final statuses written whoever owns the row: a coordinator
	// taken over keeps writing (and is never told to stop).
	"unfenced-apply": func(raw *enginetest.Store) store.Store { return &unfencedApply{raw} },
}

func brokenNames() []string { return []string{"unfenced-decide", "unfenced-apply"} }

type unfencedDecide struct{ *enginetest.Store }

func (s *unfencedDecide) Decide(ctx context.Context, ds []store.Decision) []store.DecideResult {
	cp := append([]store.Decision(nil), ds...)
	for i := range cp {
		if t, err := s.Get(ctx, cp[i].XID); err == nil {
			cp[i].Owner = t.Owner // whoever owns it: the fence is gone
		}
	}
	return s.Store.Decide(ctx, cp)
}

type unfencedApply struct{ *enginetest.Store }

func (s *unfencedApply) Apply(ctx context.Context, r store.Results) ([]string, error) {
	r.Branches = append([]store.BranchUpdate(nil), r.Branches...)
	r.Finishes = append([]store.Finish(nil), r.Finishes...)
	for i := range r.Branches {
		r.Branches[i].Owner = "" // unconditional: the fence is gone
	}
	for i := range r.Finishes {
		r.Finishes[i].Owner = ""
	}
	return s.Store.Apply(ctx, r)
}

func replayCmd(seed uint64, brokenName string) string {
	cmd := fmt.Sprintf("go test ./coordinator/internal/sim -run 'TestSimulation$' -sim.seed=%d", seed)
	if brokenName != "" {
		cmd += " -sim.broken=" + brokenName
	}
	if *txsFlag != 0 {
		cmd += fmt.Sprintf(" -sim.txs=%d", *txsFlag)
	}
	return cmd + " -v"
}

// runSeed runs one seed in its own synctest bubble.
func runSeed(t *testing.T, seed uint64, brokenName string) *sim.Result {
	t.Helper()
	cfg := sim.Config{Seed: seed, Txs: *txsFlag}
	if brokenName != "" {
		cfg.Broken = broken[brokenName]
		if cfg.Broken == nil {
			t.Fatalf("no broken variant %q (have %v)", brokenName, brokenNames())
		}
	}
	if *logFlag {
		cfg.Log = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	var res *sim.Result
	synctest.Test(t, func(*testing.T) { res = sim.Run(cfg) })
	return res
}

func report(t *testing.T, seed uint64, brokenName string, res *sim.Result) {
	t.Helper()
	t.Logf("seed %d: digest %s, %+v", seed, res.Digest, res.Stats)
	if len(res.Violations) == 0 {
		return
	}
	var b strings.Builder
	for i, v := range res.Violations {
		if i == 20 {
			fmt.Fprintf(&b, "\n  … and %d more", len(res.Violations)-20)
			break
		}
		fmt.Fprintf(&b, "\n  %s", v)
	}
	t.Errorf("seed %d: %d invariant violations:%s\nreplay: %s", seed, len(res.Violations), b.String(), replayCmd(seed, brokenName))
}

// TestSimulation runs the fixed seeds (or -sim.seed, or seeds 1..-sim.seeds), each in
// parallel in its own bubble, against the real engine and the correct store (or the
// -sim.broken variant).
func TestSimulation(t *testing.T) {
	seeds := fixedSeeds
	switch {
	case *seedFlag != 0:
		seeds = []uint64{*seedFlag}
	case *seedsFlag > 0:
		seeds = nil
		for s := 1; s <= *seedsFlag; s++ {
			seeds = append(seeds, uint64(s))
		}
	}
	start := time.Now()
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			res := runSeed(t, seed, *brokenFlag)
			report(t, seed, *brokenFlag, res)
			if *repeatFlag > 1 {
				digests := map[string]int{res.Digest: 1}
				for i := 1; i < *repeatFlag; i++ {
					r := runSeed(t, seed, *brokenFlag)
					digests[r.Digest]++
					if len(r.Violations) > 0 {
						report(t, seed, *brokenFlag, r)
					}
				}
				t.Logf("seed %d: %d runs, %d distinct end states %v", seed, *repeatFlag, len(digests), digests)
			}
		})
	}
	t.Cleanup(func() {
		d := time.Since(start)
		t.Logf("%d seeds in %v (%.0f seeds/minute)", len(seeds), d.Round(time.Millisecond), float64(len(seeds))/d.Minutes())
	})
}

// TestSimulationFindsUnfencedWrites is the evidence that the simulation bites: against a
// store that ignores the owner fence (on the decision, or on the branch and final
// writes), some seed of a small range must fail, naming the broken invariant
// (fenced-writes). The unfenced decision is a narrow race (a decision of a coordinator
// whose lease expired unnoticed, landing between the takeover's claim and the new
// owner's own decision): about 15% of the seeds hit it, so its range is larger.
func TestSimulationFindsUnfencedWrites(t *testing.T) {
	if *seedFlag != 0 || *seedsFlag != 0 || *brokenFlag != "" {
		t.Skip("a replay or long run: not the evidence test")
	}
	ranges := map[string]uint64{"unfenced-decide": 60, "unfenced-apply": 12}
	for _, name := range brokenNames() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			n := ranges[name]
			var mu sync.Mutex
			found := map[uint64][]sim.Violation{}
			others := map[string]int{}
			var wg sync.WaitGroup
			for seed := uint64(1); seed <= n; seed++ {
				wg.Go(func() {
					var res *sim.Result
					t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { res = runSeed(t, seed, name) })
					mu.Lock()
					defer mu.Unlock()
					for _, v := range res.Violations {
						if v.Invariant == sim.InvFencedWrites {
							found[seed] = append(found[seed], v)
						} else {
							others[v.Invariant]++
						}
					}
				})
			}
			wg.Wait()
			if len(found) == 0 {
				t.Fatalf("the simulation did not find the broken %s store in seeds 1..%d", name, n)
			}
			first := true
			for seed := uint64(1); seed <= n; seed++ {
				if vs := found[seed]; len(vs) > 0 && first {
					first = false
					t.Logf("seed %d FAILS against %s: %d × %s, e.g. %s: %s\n  replay: %s", seed, name, len(vs), sim.InvFencedWrites, sim.InvFencedWrites, vs[0].Detail, replayCmd(seed, name))
				}
			}
			var failing []string
			for seed := uint64(1); seed <= n; seed++ {
				if len(found[seed]) > 0 {
					failing = append(failing, fmt.Sprint(seed))
				}
			}
			t.Logf("%d of %d seeds found the broken %s store (seeds %s); other invariants broken on the way: %v", len(found), n, name, strings.Join(failing, " "), others)
		})
	}
}
