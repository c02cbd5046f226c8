// Package app assembles and runs the coordinator. It is public so that the all-in-one
// quick start can embed a coordinator in its own process.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/tccsuite/tccsuite/coordinator/internal/breaker"
	"github.com/tccsuite/tccsuite/coordinator/internal/cluster"
	"github.com/tccsuite/tccsuite/coordinator/internal/engine"
	"github.com/tccsuite/tccsuite/coordinator/internal/httpapi"
	"github.com/tccsuite/tccsuite/coordinator/internal/metrics"
	"github.com/tccsuite/tccsuite/coordinator/internal/registry"
	"github.com/tccsuite/tccsuite/coordinator/internal/store"
	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// Run serves the coordinator until ctx is done, then shuts down gracefully: it stops
// taking requests, lets in-flight transactions finish (up to ShutdownGrace) and leaves
// the rest to recovery, revokes its etcd lease so another instance takes them over at
// once, and closes the database.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log = log.With("instance", cfg.InstanceID)
	log.Info("coordinator starting", "config", fmt.Sprintf("%+v", cfg.Redacted()))
	if cfg.ClientToken == "" {
		log.Warn("TCC_CLIENT_TOKEN is not set: anyone who can reach the coordinator API can start transactions on the registered participants; restrict it by network policy or set a token")
	}
	if cfg.Insecure && cfg.HMACKey == "" {
		log.Warn("TCC_INSECURE: participant calls are NOT signed; never run this way outside local development")
	}

	dcfg := dbx.Config{MySQLDSN: cfg.MySQLDSN, SQLitePath: cfg.SQLitePath, MaxOpenConns: cfg.DBMaxConns}
	if dcfg.IsMySQL() {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := dbx.CreateMySQLDatabase(cctx, cfg.MySQLDSN); err != nil {
			log.Warn("could not create the database (it may exist already)", "err", err)
		}
		cancel()
	}
	db, err := dbx.Open(ctx, dcfg)
	if err != nil {
		return err
	}
	defer func() {
		if err := dbx.Close(db); err != nil {
			log.Warn("closing the database", "err", err)
		}
	}()
	st, err := store.New(db)
	if err != nil {
		return err
	}
	if err := st.Migrate(ctx); err != nil {
		return err
	}

	var signer *tcc.Signer
	if cfg.HMACKey != "" {
		if signer, err = tcc.NewSigner([]byte(cfg.HMACKey)); err != nil {
			return err
		}
	}
	m := metrics.New()
	reg, err := registry.New(cfg.Participants, registry.Options{
		Signer: signer, MaxIdlePerHost: cfg.MaxIdleConnsHost,
		BreakerThreshold: cfg.BreakerFailures, BreakerCooldown: cfg.BreakerCooldown,
		OnBreaker: func(p string, s breaker.State) {
			v := 0.0
			if s != breaker.Closed {
				v = 1
			}
			m.BreakerOpen.WithLabelValues(p).Set(v)
			log.Warn("circuit breaker changed", "participant", p, "state", [...]string{"closed", "open", "half-open"}[s])
		},
	})
	if err != nil {
		return err
	}
	defer reg.Close()

	mem, err := cluster.New(cluster.Config{
		Endpoints: cfg.EtcdEndpoints, Instance: cfg.InstanceID, Advertise: cfg.AdvertiseAddr, TTL: cfg.LeaseTTL, Log: log,
	})
	if err != nil {
		return err
	}
	workers := cfg.BatchWorkers
	if !dcfg.IsMySQL() {
		workers = 1
	}
	eng := engine.New(engine.Config{
		CallTimeout: cfg.CallTimeout, RetryBase: cfg.RetryBase, RetryCap: cfg.RetryCap,
		AttentionAfter: cfg.AttentionAfter, ScanInterval: cfg.ScanInterval, CompletionWait: cfg.CompletionWait,
		BatchWorkers: workers, BatchMax: 128,
	}, st, reg, mem, m, log)
	var epochs atomic.Int64
	mem.OnEpoch = func(ep *cluster.Epoch) {
		if epochs.Add(1) > 1 {
			m.LeaseLost.Inc()
		}
		log.Info("etcd session live", "owner", ep.Owner, "worker", ep.Worker)
		eng.KickScan()
	}
	engineClosed := false
	closeEngine := func() {
		if !engineClosed {
			engineClosed = true
			eng.Close(cfg.ShutdownGrace)
		}
	}
	defer closeEngine()

	for backoff := 200 * time.Millisecond; ; backoff = min(backoff*2, 5*time.Second) {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := mem.Start(sctx)
		cancel()
		if err == nil {
			break
		}
		log.Warn("joining etcd failed; retrying", "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			_ = mem.Close(context.Background())
			return nil
		case <-t.C:
		}
	}
	defer func() {
		closeEngine() // finish or hand over first, then revoke the lease
		if err := mem.Close(context.Background()); err != nil {
			log.Warn("closing the etcd session", "err", err)
		}
	}()

	handler := httpapi.New(httpapi.Deps{
		Engine: eng, Registry: reg, Metrics: m,
		Limits: httpapi.Limits{
			MaxBranches: cfg.MaxBranches, MaxPayloadBytes: cfg.MaxPayloadBytes, MaxBodyBytes: cfg.MaxBodyBytes,
			MinTimeout: cfg.MinTimeout, MaxTimeout: cfg.MaxTimeout, DefaultTimeout: cfg.DefaultTimeout, MaxLockKeys: cfg.MaxLockKeys,
		},
		AdminToken: cfg.AdminToken, AllowAdminWithoutToken: cfg.Insecure, ClientToken: cfg.ClientToken,
		Ready: func(ctx context.Context) error {
			if err := st.Ping(ctx); err != nil {
				return err
			}
			_, err := mem.Epoch()
			return err
		},
		Log: log,
	})
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler: handler, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("coordinator serving", "addr", ln.Addr().String())

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			runErr = fmt.Errorf("serve: %w", err)
		}
	}
	log.Info("coordinator shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace+time.Second)
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("some requests were still running at shutdown", "err", err)
		_ = srv.Close()
	}
	cancel()
	return runErr
}
