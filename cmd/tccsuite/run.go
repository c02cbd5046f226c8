package main

import (
	"context"
	"fmt"
	"io"
)

// run is the quick start: it reads its configuration through getenv, starts etcd and
// every component, seeds the demo data, prints the addresses on out, and runs until
// ctx ends (Ctrl-C) or a component fails; then it stops everything. An error is a
// start-up that failed or a component's failure.
func run(ctx context.Context, getenv func(string) string, out io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	if err := prepareDataDir(cfg.DataDir); err != nil {
		return err
	}
	env, coordEnv, err := componentEnv(getenv, cfg)
	if err != nil {
		return err
	}
	svcs, err := configureServices(ctx, env)
	if err != nil {
		return err
	}
	etcdEndpoints, stopEtcd, err := startEtcd(ctx, cfg)
	if err != nil {
		svcs.close()
		return err
	}
	defer stopEtcd()
	coordCfg, err := configureCoordinator(coordEnv, etcdEndpoints, svcs)
	if err != nil {
		svcs.close()
		return err
	}
	addrs := addresses{coordinator: localURL(coordCfg.Addr), order: svcs.orderURL, inventory: svcs.invURL, payment: svcs.payURL, etcd: etcdEndpoints}
	svcs.pointOrderAt(cfg, addrs.coordinator)

	comps := startComponents(ctx, cfg.logger(), coordCfg, svcs)
	defer comps.cancel()
	defer servePprof(cfg.PprofAddr)()
	if err := seedWhenReady(comps.ctx, addrs, cfg.AdminToken); err != nil {
		if serr := comps.shutdown(); serr != nil {
			return serr // a component's failure explains the rest
		}
		return err
	}
	printBanner(out, cfg, addrs)

	select {
	case <-ctx.Done():
		_, _ = fmt.Fprintln(out, "stopping...")
	case <-comps.ctx.Done():
	}
	if err := comps.shutdown(); err != nil {
		return err
	}
	_, _ = fmt.Fprintln(out, "stopped")
	return nil
}

// seedWhenReady waits for every component's readiness and seeds the demo data.
func seedWhenReady(ctx context.Context, a addresses, adminToken string) error {
	urls := map[string]string{"coordinator": a.coordinator, "order": a.order, "inventory": a.inventory, "payment": a.payment}
	if err := waitReady(ctx, urls); err != nil {
		return err
	}
	if err := seed(ctx, a.inventory, a.payment, adminToken); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return nil
}
