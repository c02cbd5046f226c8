// Command tccsuite is the quick start: one process running an embedded etcd, the
// coordinator and the order, inventory and payment services on their default ports,
// on embedded SQLite files (or, when TCC_MYSQL_DSN is set, one MySQL schema per
// component, created if missing), seeded with a demo catalogue and accounts. It prints
// where everything is and a curl that places an order, and stops cleanly on Ctrl-C.
//
// It is for trying the suite on a laptop: the HMAC key and admin token default to fixed,
// printed demo values. Production runs each component as its own binary.
//
// Files by step: config.go reads the quick start's variables and gives each component
// its environment; run.go is the order of the steps; services.go binds the services;
// etcd.go starts the embedded etcd; components.go configures the coordinator and runs
// every component; ready.go waits for them; seed.go writes the demo data; banner.go
// prints the addresses.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tccsuite:", err)
		stop()
		os.Exit(1)
	}
}
