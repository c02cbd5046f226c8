// Package app assembles and runs the coordinator. It is public so that the all-in-one
// quick start can embed a coordinator in its own process.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/coordinator/internal/breaker"
	"github.com/tccsuite/tccsuite/coordinator/internal/cluster"
	"github.com/tccsuite/tccsuite/coordinator/internal/engine"
	"github.com/tccsuite/tccsuite/coordinator/internal/engine/etcdmembership"
	"github.com/tccsuite/tccsuite/coordinator/internal/httpapi"
	"github.com/tccsuite/tccsuite/coordinator/internal/metrics"
	"github.com/tccsuite/tccsuite/coordinator/internal/registry"
	"github.com/tccsuite/tccsuite/coordinator/internal/store"
	"github.com/tccsuite/tccsuite/internal/conf"
	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/internal/httpx"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// Run serves the coordinator until ctx is done, then shuts down gracefully: it stops
// taking requests, lets in-flight transactions finish (up to ShutdownGrace) and leaves
// the rest to recovery, revokes its etcd lease so another instance takes them over at
// once, and closes the database. It returns nil when ctx ended it (even while it was
// still joining etcd), an error when it could not start or the listener failed.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log = log.With("instance", cfg.InstanceID)
	logStart(cfg, log)
	st, closeStore, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeStore()
	m := metrics.New()
	reg, err := newRegistry(cfg, m, log)
	if err != nil {
		return err
	}
	defer reg.Close()
	mem, eng, err := buildEngine(cfg, st, reg, m, log)
	if err != nil {
		return err
	}
	defer shutDown(cfg, eng, mem, log)
	if !joinCluster(ctx, mem, log) {
		return nil
	}
	return serve(ctx, cfg, newHandler(cfg, eng, reg, st, mem, m, log), log)
}

// logStart logs the configuration (secrets masked) and warns of insecure settings.
func logStart(cfg Config, log *slog.Logger) {
	log.Info("coordinator starting", conf.Attrs(cfg)...)
	if cfg.ClientToken == "" {
		log.Warn("TCC_CLIENT_TOKEN is not set: anyone who can reach the coordinator API can start transactions on the registered participants; restrict it by network policy or set a token")
	}
	if cfg.Insecure && cfg.HMACKey == "" {
		log.Warn("TCC_INSECURE: participant calls are NOT signed; never run this way outside local development")
	}
}

// openStore opens the database (creating a MySQL database if missing) and migrates
// it. closeStore closes it.
func openStore(ctx context.Context, cfg Config, log *slog.Logger) (st store.Store, closeStore func(), err error) {
	dcfg := cfg.dbConfig()
	var db *gorm.DB
	// An unreachable database is waited for (TCC_DB_CONNECT_WAIT): a coordinator started
	// while its database restarts comes up once it is back.
	err = dbx.WaitAvailable(ctx, cfg.DBConnectWait, log, func(ctx context.Context) error {
		if dcfg.IsMySQL() {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := dbx.CreateMySQLDatabase(cctx, cfg.MySQLDSN)
			cancel()
			if dbx.IsUnavailable(err) {
				return err
			}
			if err != nil {
				log.Warn("could not create the database (it may exist already)", "err", err)
			}
		}
		var err error
		db, err = dbx.Open(ctx, dcfg)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	closeStore = func() {
		if err := dbx.Close(db); err != nil {
			log.Warn("closing the database", "err", err)
		}
	}
	if st, err = store.New(db); err == nil {
		err = st.Migrate(ctx)
	}
	if err != nil {
		closeStore()
		return nil, nil, err
	}
	return st, closeStore, nil
}

// dbConfig is the database part of the configuration.
func (cfg Config) dbConfig() dbx.Config {
	return dbx.Config{MySQLDSN: cfg.MySQLDSN, SQLitePath: cfg.SQLitePath, MaxOpenConns: cfg.DBMaxConns}
}

// newRegistry builds the participants' clients; breaker changes go to the metrics and
// the log.
func newRegistry(cfg Config, m *metrics.Metrics, log *slog.Logger) (*registry.Registry, error) {
	var signer *tcc.Signer
	if cfg.HMACKey != "" {
		var err error
		if signer, err = tcc.NewSigner([]byte(cfg.HMACKey)); err != nil {
			return nil, err
		}
	}
	return registry.New(cfg.Participants, registry.Options{
		Signer: signer, MaxIdlePerHost: cfg.MaxIdleConnsHost,
		BreakerThreshold: cfg.BreakerFailures, BreakerCooldown: cfg.BreakerCooldown,
		OnBreaker: func(p string, s breaker.State) {
			v := 0.0
			if s != breaker.Closed {
				v = 1
			}
			m.BreakerOpen.WithLabelValues(p).Set(v)
			log.Warn("circuit breaker changed", "participant", p, "state", s.String())
		},
	})
}

// buildEngine creates the etcd membership (not joined yet) and the engine on it; each
// new epoch kicks a recovery scan. The engine's and the membership's settings are their
// defaults overlaid with cfg.
func buildEngine(cfg Config, st store.Store, reg *registry.Registry, m *metrics.Metrics, log *slog.Logger) (*cluster.Member, *engine.Engine, error) {
	ccfg := cluster.DefaultConfig()
	ccfg.Endpoints, ccfg.Instance, ccfg.Advertise, ccfg.TTL, ccfg.Log = cfg.EtcdEndpoints, cfg.InstanceID, cfg.AdvertiseAddr, cfg.LeaseTTL, log
	mem, err := cluster.New(ccfg)
	if err != nil {
		return nil, nil, err
	}
	ecfg := engine.DefaultConfig()
	ecfg.CallTimeout, ecfg.RetryBase, ecfg.RetryCap = cfg.CallTimeout, cfg.RetryBase, cfg.RetryCap
	ecfg.AttentionAfter, ecfg.ScanInterval, ecfg.CompletionWait = cfg.AttentionAfter, cfg.ScanInterval, cfg.CompletionWait
	ecfg.BatchWorkers = cfg.BatchWorkers
	if !cfg.dbConfig().IsMySQL() {
		ecfg.BatchWorkers = 1 // SQLite has one writer
	}
	eng, err := engine.New(ecfg, engine.Deps{Store: st, Registry: reg, Membership: etcdmembership.New(mem), Metrics: m, Log: log})
	if err != nil {
		_ = mem.Close(context.Background())
		return nil, nil, err
	}
	var epochs atomic.Int64
	mem.OnEpoch = func(ep *cluster.Epoch) {
		if epochs.Add(1) > 1 {
			m.LeaseLost.Inc()
		}
		log.Info("etcd session live", "owner", ep.Owner, "worker", ep.Worker)
		eng.KickScan()
	}
	return mem, eng, nil
}

// joinCluster joins etcd, retrying with backoff for as long as it takes; false if ctx
// ended first.
func joinCluster(ctx context.Context, mem *cluster.Member, log *slog.Logger) bool {
	for backoff := 200 * time.Millisecond; ; backoff = min(backoff*2, 5*time.Second) {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := mem.Start(sctx)
		cancel()
		if err == nil {
			return true
		}
		log.Warn("joining etcd failed; retrying", "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

// newHandler builds the HTTP API; it is ready while the database answers and the etcd
// session is live.
func newHandler(cfg Config, eng *engine.Engine, reg *registry.Registry, st store.Store, mem *cluster.Member, m *metrics.Metrics, log *slog.Logger) http.Handler {
	return httpapi.New(httpapi.Deps{
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
}

// serve serves handler on cfg.Addr until ctx ends (nil) or the listener fails, then
// stops taking requests and waits up to ShutdownGrace (plus a second) for the running
// ones.
func serve(ctx context.Context, cfg Config, handler http.Handler, log *slog.Logger) error {
	return httpx.Serve(ctx, log, "coordinator", cfg.Addr, nil, handler, cfg.ShutdownGrace+time.Second, nil)
}

// shutDown closes the engine first (in-flight transactions finish or are handed over
// within ShutdownGrace), then the membership (revoking the lease, so that another
// instance takes the rest over at once).
func shutDown(cfg Config, eng *engine.Engine, mem *cluster.Member, log *slog.Logger) {
	eng.Close(cfg.ShutdownGrace)
	if err := mem.Close(context.Background()); err != nil {
		log.Warn("closing the etcd session", "err", err)
	}
}
