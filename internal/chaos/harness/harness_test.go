package harness

import (
	"context"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tccsuite/tccsuite/internal/chaos/faultproxy"
	"github.com/tccsuite/tccsuite/internal/chaos/invariant"
	"github.com/tccsuite/tccsuite/internal/testenv"
)

func build(t *testing.T) (string, map[string]string) {
	t.Helper()
	ctx := context.Background()
	root, err := ModuleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bins, err := BuildBinaries(ctx, root, filepath.Join(t.TempDir(), "bin"), raceEnabled)
	if err != nil {
		t.Fatal(err)
	}
	return root, bins
}

func logger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestChaosShort is the short run of the chaos harness that `make test` runs: real
// processes (two coordinators, three services) on a private MariaDB and an embedded
// etcd, every proxy fault kind on every participant call, coordinators killed with
// SIGKILL and participants restarted while orders are placed, and the dependency
// faults at fixed order numbers: the database SIGKILLed and restarted, etcd stopped and
// restarted, one coordinator cut off etcd past its lease; every tenth order is an
// ambiguous client (hang-up, price change, keyed retry). Then every invariant must hold.
// What it checks is deterministic; how many faults of each kind hit depends on timing
// and is only required to be non-zero.
func TestChaosShort(t *testing.T) {
	_, bins := build(t)
	dir := t.TempDir()
	sum, err := Run(context.Background(), Config{
		MySQLServerDSN: testenv.MySQLServerDSN(),
		WorkDir:        dir,
		Binaries:       bins,
		Orders:         400,
		Concurrency:    16,
		SKUs:           4,
		Users:          8,
		Stock:          120, // about 800 units are asked for: SKUs sell out
		Rates:          faultproxy.Rates{Latency: 0.05, MaxLatency: 100 * time.Millisecond, LoseAnswer: 0.04, Refuse: 0.04, Duplicate: 0.06},
		KillAt:         []int{100, 250},
		RestartAt:      []int{150, 320},
		DBCrashAt:      []int{120},
		DBDowntime:     2 * time.Second,
		EtcdOutageAt:   []int{280},
		PartitionAt:    []int{200},
		AmbiguousEvery: 10,
		StrictAnswers:  true, // no 500, and every 503 with Retry-After
		Seed:           20261124,
		Log:            logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("summary:\n%s", sum)
	if !sum.Pass {
		t.Fatalf("invariants broken (logs in %s):\n%s", dir, strings.Join(sum.Violations, "\n"))
	}
	if sum.Placed != 400 || sum.Confirmed == 0 || sum.Refused["OUT_OF_STOCK"] == 0 || sum.Refused["INSUFFICIENT_FUNDS"] == 0 {
		t.Errorf("the workload did not exercise confirm, out of stock and insufficient funds: %+v", sum)
	}
	for _, k := range []string{faultproxy.KindLatency, faultproxy.KindLoseAnswer, faultproxy.KindRefuse, faultproxy.KindDuplicate} {
		if sum.Faults[k] == 0 {
			t.Errorf("no %s fault injected: %v", k, sum.Faults)
		}
	}
	if sum.Faults["coordinator_sigkill"] != 2 || sum.Faults["participant_restart"] != 2 {
		t.Errorf("kills and restarts: %v, want 2 each", sum.Faults)
	}
	if sum.Faults[FaultDBSigkill] != 1 || sum.Faults[FaultEtcdOutage] != 1 || sum.Faults[FaultEtcdPartition] != 1 {
		t.Errorf("dependency faults: %v, want one database crash, one etcd outage, one partition", sum.Faults)
	}
	if sum.Ambiguous.Clients != 40 || sum.Ambiguous.HungUp == 0 || sum.Ambiguous.PriceChanges == 0 {
		t.Errorf("ambiguous clients: %+v, want 40 with hang-ups and price changes", sum.Ambiguous)
	}
}

// TestChaosCatchesDoubleConfirm runs the harness with a deliberately broken inventory
// (testdata/doubleconfirm: its Confirm sells twice) and checks that the run fails with
// the invariants such a bug breaks.
func TestChaosCatchesDoubleConfirm(t *testing.T) {
	root, bins := build(t)
	broken := filepath.Join(t.TempDir(), "doubleconfirm")
	//nolint:gosec // G204: go build of the module's own test participant into the test's directory
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", broken, "./internal/chaos/harness/testdata/doubleconfirm")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the broken participant: %v\n%s", err, out)
	}
	bins["inventory"] = broken
	sum, err := Run(context.Background(), Config{
		MySQLServerDSN: testenv.MySQLServerDSN(),
		WorkDir:        t.TempDir(),
		Binaries:       bins,
		Orders:         60,
		Concurrency:    8,
		Stock:          1000,
		Seed:           7,
		Log:            logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Pass || sum.Confirmed == 0 {
		t.Fatalf("a Confirm applied twice went unnoticed: %s", sum)
	}
	var conserved, sold bool
	for _, v := range sum.Violations {
		conserved = conserved || strings.HasPrefix(v, invariant.StockConserved+":")
		sold = sold || strings.HasPrefix(v, invariant.SoldMatchesOrders+":")
	}
	if !conserved || !sold {
		t.Fatalf("violations %v: want %s and %s", sum.Violations, invariant.StockConserved, invariant.SoldMatchesOrders)
	}
}
