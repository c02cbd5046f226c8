// Command tccbench measures the suite. In orders mode (the default) it drives
// POST /api/v1/orders of a running suite at a chosen concurrency for a chosen duration,
// prints orders per second, latency percentiles and errors by kind, and then checks the
// invariants of docs/design.md §6 through the public GET endpoints. The check counts orders from
// the services (the order service's lists, the inventory's sold units, the payment
// captures), not from its own 201 answers: an order answered 503 may still have been
// placed, and the report says how many ("answered 503 but placed: N").
//
//	go run ./cmd/tccbench -concurrency 50 -duration 30s -setup -admin-token demo-admin-token
//
// With -setup it first creates (or resets) its own SKUs and accounts through the admin
// API, so that a run starts from known figures; without it, it uses what is there.
//
// In coordinator mode it measures the coordinator alone, with no-op participants: it
// starts an embedded etcd, a coordinator on a fresh database of the MySQL server given
// by -mysql, and three no-op participants in its own process, and drives
// POST /v1/transactions:
//
//	go run ./cmd/tccbench -mode coordinator -wait decision -concurrency 50 -duration 20s
//
// -json prints the report as JSON.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// config is the command line.
type config struct {
	orderURL, inventoryURL, paymentURL string
	concurrency                        int
	duration, settle                   time.Duration
	skus, users                        []string
	quantity                           int
	setup                              bool
	adminToken                         string
	stock, balance, price              int64
	idempotency                        bool
	mode, wait, mysql                  string
	branches                           int
	json                               bool
}

func main() {
	var c config
	var skus, users string
	flag.StringVar(&c.orderURL, "order", "http://127.0.0.1:8080", "order service base URL")
	flag.StringVar(&c.inventoryURL, "inventory", "http://127.0.0.1:8081", "inventory service base URL")
	flag.StringVar(&c.paymentURL, "payment", "http://127.0.0.1:8082", "payment service base URL")
	flag.IntVar(&c.concurrency, "concurrency", 50, "concurrent clients")
	flag.DurationVar(&c.duration, "duration", 30*time.Second, "how long to place orders")
	flag.DurationVar(&c.settle, "settle", 60*time.Second, "how long to wait for in-flight transactions to finish before checking")
	flag.StringVar(&skus, "skus", "BENCH-1,BENCH-2,BENCH-3,BENCH-4", "SKUs to order (comma-separated)")
	flag.StringVar(&users, "users", "", "users to order as (comma-separated; default bench-u0..bench-u{concurrency-1})")
	flag.IntVar(&c.quantity, "quantity", 1, "quantity per order")
	flag.BoolVar(&c.setup, "setup", false, "create or reset the SKUs and accounts first (needs -admin-token)")
	flag.StringVar(&c.adminToken, "admin-token", os.Getenv("TCC_ADMIN_TOKEN"), "admin token for -setup")
	flag.Int64Var(&c.stock, "stock", 10_000_000, "with -setup: available units per SKU")
	flag.Int64Var(&c.balance, "balance", 1_000_000_000_000, "with -setup: balance per account")
	flag.Int64Var(&c.price, "price", 100, "with -setup: unit price")
	flag.BoolVar(&c.idempotency, "idempotency", true, "send a fresh Idempotency-Key with each order")
	flag.StringVar(&c.mode, "mode", "orders", "orders: the full order path of a running suite; coordinator: the coordinator alone with no-op participants")
	flag.StringVar(&c.wait, "wait", "completion", "coordinator mode: wait for the decision or for completion")
	flag.IntVar(&c.branches, "branches", 3, "coordinator mode: branches per transaction")
	flag.StringVar(&c.mysql, "mysql", envOr("TCC_TEST_MYSQL_DSN", "root@tcp(127.0.0.1:3306)/"), "coordinator mode: the MySQL server (a fresh database is created and dropped)")
	flag.BoolVar(&c.json, "json", false, "print the report as JSON")
	flag.Parse()
	c.skus = split(skus)
	if users == "" {
		for i := 0; i < c.concurrency; i++ {
			c.users = append(c.users, fmt.Sprintf("bench-u%d", i))
		}
	} else {
		c.users = split(users)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Progress goes to stderr when the report is JSON, so stdout stays parseable.
	progress := io.Writer(os.Stdout)
	if c.json {
		progress = os.Stderr
	}
	var rep report
	var err error
	switch c.mode {
	case "orders":
		rep, err = ordersBench(ctx, c, progress)
	case "coordinator":
		if c.wait != "decision" && c.wait != "completion" {
			err = errors.New("-wait must be decision or completion")
		} else if c.concurrency < 1 || c.duration <= 0 || c.branches < 1 {
			err = errors.New("need concurrency ≥ 1, a positive duration and branches ≥ 1")
		} else {
			rep, err = coordBench(ctx, c, progress)
		}
	default:
		err = fmt.Errorf("unknown -mode %q", c.mode)
	}
	if rep.Mode != "" {
		rep.print(os.Stdout, c.json)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tccbench:", err)
		os.Exit(1)
	}
}

// envOr is the variable k, or def when it is unset or empty.
func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// split splits a comma-separated list, dropping blanks.
func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
