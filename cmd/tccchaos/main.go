// Command tccchaos runs the suite's real binaries under injected faults (lost answers,
// refused connections, duplicated calls, latency, coordinators killed with SIGKILL,
// participants stopped and restarted) on MariaDB and a real etcd, places orders
// concurrently, waits for quiescence and checks every invariant. It prints a summary
// and exits non-zero unless the run PASSes.
//
//	go run ./cmd/tccchaos -orders 5000 -concurrency 32
//
// Dependency faults: -db-crash-every SIGKILLs a MariaDB server of the run's own (started
// from the machine's mariadbd, data under the work directory) and restarts it after
// -db-downtime; -etcd-outage-every closes etcd and restarts it on the same data and
// ports; -partition-every cuts one coordinator off etcd for -partition-for (longer than
// the lease TTL); -ambiguous-every makes every n-th order a client that hangs up, sees
// the price change and retries with the same Idempotency-Key.
//
// The acceptance check "the database killed for 5 s under 20 clients: zero 500s, every
// answer 201, 409 or 503 with Retry-After" is
//
//	go run ./cmd/tccchaos -db-outage 5s -concurrency 20
//
// which turns every other fault off, kills the private database once, a quarter of the
// way through the orders, for exactly that long, prints every answer by status and
// Retry-After, and fails on any 500 or 503 without Retry-After, and on any broken
// invariant after recovery.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/tccsuite/tccsuite/internal/chaos/faultproxy"
	"github.com/tccsuite/tccsuite/internal/chaos/harness"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "tccchaos:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("tccchaos", flag.ContinueOnError)
	var (
		cfg     harness.Config
		rates   faultproxy.Rates
		asJSON  = fs.Bool("json", false, "print the summary as JSON")
		race    = fs.Bool("race", false, "build the binaries with the race detector")
		workDir = fs.String("workdir", "", "directory for logs and etcd data (default: a new temporary directory)")
		seed    = fs.Uint64("seed", uint64(time.Now().UnixNano()), "random seed (printed, so a run can be repeated)")
		src     = fs.String("src", "", "build the suite's binaries from this checkout of the module (default: the current module), e.g. an older commit extracted with git archive, to see whether a fault catches a hole")
		outage  = fs.Duration("db-outage", 0, "acceptance mode: no other fault, the private database SIGKILLed once for exactly this long, any 500 or 503 without Retry-After fails the run")
	)
	fs.StringVar(&cfg.MySQLServerDSN, "mysql", envOr("TCC_TEST_MYSQL_DSN", "root@tcp(127.0.0.1:3306)/"), "MySQL server DSN (no database)")
	fs.IntVar(&cfg.Orders, "orders", 5000, "orders to place")
	fs.DurationVar(&cfg.Duration, "duration", 0, "stop placing orders after this long (0: no limit)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 32, "concurrent clients")
	fs.IntVar(&cfg.Coordinators, "coordinators", 2, "coordinator processes")
	fs.IntVar(&cfg.SKUs, "skus", 6, "SKUs")
	fs.IntVar(&cfg.Users, "users", 12, "users (half of them poor)")
	fs.Int64Var(&cfg.Stock, "stock", 0, "initial stock per SKU (0: about 40% of the expected demand, so SKUs sell out)")
	fs.Int64Var(&cfg.Balance, "balance", 0, "initial balance of the rich half of the users; the other half get a tenth (0: enough for a rich user's share of the orders)")
	fs.Float64Var(&rates.Latency, "latency", 0.05, "rate of added latency per participant call")
	fs.DurationVar(&rates.MaxLatency, "max-latency", 300*time.Millisecond, "largest added latency")
	fs.Float64Var(&rates.LoseAnswer, "lose", 0.03, "rate of answers lost after the participant processed the call")
	fs.Float64Var(&rates.Refuse, "refuse", 0.03, "rate of connections refused")
	fs.Float64Var(&rates.Duplicate, "duplicate", 0.05, "rate of calls delivered twice")
	fs.DurationVar(&cfg.KillEvery, "kill-every", 4*time.Second, "mean interval between coordinator SIGKILLs (0: none)")
	fs.DurationVar(&cfg.RestartEvery, "restart-every", 6*time.Second, "mean interval between participant restarts (0: none)")
	fs.DurationVar(&cfg.LeaseTTL, "lease-ttl", 2*time.Second, "coordinators' etcd lease TTL")
	fs.DurationVar(&cfg.QuiesceTimeout, "quiesce-timeout", 5*time.Minute, "how long to wait for every transaction to end")
	fs.BoolVar(&cfg.PrivateMySQL, "private-db", false, "run on a MariaDB server of the run's own (implied by -db-crash-every and -db-outage)")
	fs.DurationVar(&cfg.DBCrashEvery, "db-crash-every", 0, "mean interval between SIGKILLs of the private MariaDB (0: none)")
	fs.DurationVar(&cfg.DBDowntime, "db-downtime", 3*time.Second, "how long the database stays down per crash (±50%)")
	fs.DurationVar(&cfg.EtcdOutageEvery, "etcd-outage-every", 0, "mean interval between etcd outages (0: none)")
	fs.DurationVar(&cfg.EtcdDowntime, "etcd-downtime", 2*time.Second, "how long etcd stays down per outage (±50%)")
	fs.DurationVar(&cfg.PartitionEvery, "partition-every", 0, "mean interval between cutting one coordinator off etcd (0: none)")
	fs.DurationVar(&cfg.PartitionFor, "partition-for", 0, "how long a coordinator stays cut off etcd (0: 2.5 lease TTLs)")
	fs.IntVar(&cfg.AmbiguousEvery, "ambiguous-every", 0, "every n-th order is placed by a client that hangs up, sees the price change and retries with the same key (0: none)")
	fs.DurationVar(&cfg.HangUpMax, "hangup-max", 150*time.Millisecond, "longest an ambiguous client waits before hanging up")
	fs.BoolVar(&cfg.StrictAnswers, "strict-answers", false, "fail on any 500 or 503 without Retry-After to POST /api/v1/orders")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *outage > 0 {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["orders"] {
			cfg.Orders = 1000
		}
		rates = faultproxy.Rates{}
		cfg.KillEvery, cfg.RestartEvery, cfg.EtcdOutageEvery, cfg.PartitionEvery, cfg.AmbiguousEvery = 0, 0, 0, 0, 0
		cfg.DBCrashEvery, cfg.DBCrashAt = 0, []int{max(1, cfg.Orders/4)}
		cfg.DBDowntime, cfg.DBDowntimeExact = *outage, true
		cfg.PrivateMySQL, cfg.StrictAnswers = true, true
	}
	cfg.Rates = rates
	if cfg.Balance == 0 && cfg.Orders > 0 && cfg.Users > 0 {
		// A rich user can pay for 1.2 times its share of orders at 2 units of the
		// harness's default price each; a poor one for an eighth of it.
		cfg.Balance = max(1000, int64(cfg.Orders)/int64(cfg.Users)*2*250*12/10)
	}
	if cfg.Stock == 0 && cfg.Orders > 0 && cfg.SKUs > 0 {
		// Quantities are 1..3 (2 on average): offer 40% of what the orders ask for.
		cfg.Stock = max(1, int64(cfg.Orders)*2*4/10/int64(cfg.SKUs))
	}
	cfg.Seed = *seed
	cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := rates.Validate(); err != nil {
		return err
	}
	if *workDir == "" {
		d, err := os.MkdirTemp("", "tccchaos-")
		if err != nil {
			return err
		}
		*workDir = d
	}
	cfg.WorkDir = *workDir
	root, err := harness.ModuleRoot(ctx)
	if err != nil {
		return err
	}
	if *src != "" {
		root = *src
	}
	fmt.Fprintf(os.Stderr, "tccchaos: seed %d, logs in %s; building binaries\n", cfg.Seed, cfg.WorkDir)
	cfg.Binaries, err = harness.BuildBinaries(ctx, root, filepath.Join(cfg.WorkDir, "bin"), *race)
	if err != nil {
		return err
	}
	start := time.Now()
	sum, err := harness.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(sum)
	} else {
		fmt.Print(sum.String())
		fmt.Printf("wall time           %s (seed %d)\n", time.Since(start).Round(time.Second), cfg.Seed)
		if *outage > 0 || cfg.StrictAnswers {
			printAnswers(os.Stdout, sum.Answers)
		}
	}
	if !sum.Pass {
		return fmt.Errorf("invariants broken; logs in %s", cfg.WorkDir)
	}
	return nil
}

// printAnswers prints every answer to POST /api/v1/orders by status and Retry-After,
// and the acceptance verdict on them. It is the command's output: a failed write has
// nowhere else to go, so it is not reported.
func printAnswers(w io.Writer, answers map[string]int) {
	keys := make([]string, 0, len(answers))
	for k := range answers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	_, _ = fmt.Fprintln(w, "answers to POST /api/v1/orders:")
	for _, k := range keys {
		_, _ = fmt.Fprintf(w, "  %-26s %d\n", k, answers[k])
	}
	if bad := harness.BadAnswers(answers); len(bad) > 0 {
		_, _ = fmt.Fprintf(w, "answers             FAIL: %s (want only 201, 4xx and 503 with Retry-After)\n", strings.Join(bad, ", "))
	} else {
		_, _ = fmt.Fprintln(w, "answers             PASS: no 500, every 503 with Retry-After")
	}
}

// envOr is the variable k, or def when it is unset or empty.
func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
