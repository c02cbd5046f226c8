package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	coordinator "github.com/tccsuite/tccsuite/coordinator/app"
	inventory "github.com/tccsuite/tccsuite/services/inventory/app"
	order "github.com/tccsuite/tccsuite/services/order/app"
	payment "github.com/tccsuite/tccsuite/services/payment/app"
)

// configureCoordinator reads the coordinator's configuration through coordEnv, its
// etcd and participants defaulting to the quick start's, and validates it.
func configureCoordinator(coordEnv func(string) string, etcdEndpoints string, svcs *services) (coordinator.Config, error) {
	defaults := map[string]string{
		"TCC_ETCD_ENDPOINTS": etcdEndpoints,
		"TCC_PARTICIPANTS":   svcs.participants(),
		"TCC_INSTANCE_ID":    "tccsuite",
	}
	cfg, err := coordinator.ConfigFromEnv(overlay(coordEnv, defaults))
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return cfg, fmt.Errorf("coordinator: %w", err)
	}
	return cfg, nil
}

// running is the four components running in this process.
type running struct {
	ctx     context.Context // ends when shutdown starts or a component fails
	cancel  context.CancelFunc
	stopped chan struct{} // closed once every component has returned
	errs    chan error    // the components' failures
	svcs    *services
}

// startComponents runs the coordinator and the three services until ctx ends, shutdown
// is called, or one of them fails (which stops the others).
func startComponents(ctx context.Context, log *slog.Logger, coordCfg coordinator.Config, svcs *services) *running {
	r := &running{stopped: make(chan struct{}), errs: make(chan error, 4), svcs: svcs}
	r.ctx, r.cancel = context.WithCancel(ctx)
	var wg sync.WaitGroup
	for name, f := range map[string]func(context.Context) error{
		"coordinator": func(c context.Context) error { return coordinator.Run(c, coordCfg, log) },
		"inventory":   func(c context.Context) error { return inventory.Run(c, svcs.inv, log) },
		"payment":     func(c context.Context) error { return payment.Run(c, svcs.pay, log) },
		"order":       func(c context.Context) error { return order.Run(c, svcs.ord, log) },
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(r.ctx); err != nil {
				r.errs <- fmt.Errorf("%s: %w", name, err)
				r.cancel()
			}
		}()
	}
	go func() { wg.Wait(); close(r.stopped) }()
	return r
}

// shutdown stops every component, waits for them, closes the listeners, and returns
// the first failure of a component (nil when all stopped cleanly). It is meant to be
// called once.
func (r *running) shutdown() error {
	r.cancel()
	<-r.stopped
	r.svcs.close()
	select {
	case err := <-r.errs:
		return err
	default:
		return nil
	}
}

// servePprof serves Go's profiler on addr (loopback only, for tuning) when addr is set,
// and returns its stop.
func servePprof(addr string) (stop func()) {
	if addr == "" {
		return func() {}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.ListenAndServe() }()
	return func() { _ = srv.Close() }
}
