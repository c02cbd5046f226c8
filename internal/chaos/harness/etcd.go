package harness

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/tccsuite/tccsuite/internal/etcdx"
)

// etcdServer is the run's embedded etcd, restartable on the same data directory and the
// same client and peer ports, so that its clients (reaching it through one tcpproxy.Proxy per
// coordinator) see an outage and then the same cluster again, with every key and lease
// it had persisted.
type etcdServer struct {
	cfg etcdx.EmbedConfig

	mu  sync.Mutex
	srv *etcdx.Embedded // nil while down
}

// startEtcd picks the two ports once and starts the server.
func startEtcd(ctx context.Context, workDir string) (*etcdServer, error) {
	client, err := freePort(ctx)
	if err != nil {
		return nil, err
	}
	peer, err := freePort(ctx)
	if err != nil {
		return nil, err
	}
	e := &etcdServer{cfg: etcdx.EmbedConfig{Dir: filepath.Join(workDir, "etcd"), ClientAddr: client, PeerAddr: peer}}
	if err := e.start(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// clientAddr is the host:port clients dial.
func (e *etcdServer) clientAddr() string { return e.cfg.ClientAddr }

func (e *etcdServer) start(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.srv != nil {
		return nil
	}
	// A port just released can take a moment to be bindable again: retry, bounded.
	deadline := time.Now().Add(30 * time.Second)
	for {
		srv, err := etcdx.StartEmbedded(ctx, e.cfg)
		if err == nil {
			e.srv = srv
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("harness: restart etcd: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop closes the server (every client connection drops; its data stays on disk).
func (e *etcdServer) stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.srv != nil {
		e.srv.Close()
		e.srv = nil
	}
}

func (e *etcdServer) running() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.srv != nil
}

// etcdOutage stops etcd for about EtcdDowntime and starts it again on the same data
// directory and ports. One at a time, and never together with a partition's restore
// racing it: both take etcdMu.
func (r *chaosRun) etcdOutage(ctx context.Context) {
	r.etcdMu.Lock()
	defer r.etcdMu.Unlock()
	r.etcd.stop()
	r.etcdOutages.Add(1)
	r.cfg.Log.Info("chaos: etcd stopped")
	r.pause(ctx, r.jitter(r.cfg.EtcdDowntime))
	if err := r.etcd.start(context.WithoutCancel(ctx)); err != nil {
		r.cfg.Log.Error("chaos: etcd restart failed", "err", err)
		r.harnessErr(err)
		return
	}
	r.cfg.Log.Info("chaos: etcd restarted")
}

// partitionOne cuts one random coordinator off etcd (its proxy resets every connection
// and refuses new ones) for PartitionFor, longer than the lease TTL, while it still
// reaches MySQL, the participants and its clients; then restores the link.
func (r *chaosRun) partitionOne(ctx context.Context) {
	r.partitionMu.Lock()
	defer r.partitionMu.Unlock()
	i := r.intn(len(r.coords))
	px := r.etcdProxies[i]
	px.Cut()
	r.partitions.Add(1)
	r.cfg.Log.Info("chaos: coordinator cut off etcd", "name", r.coords[i].name, "for", r.cfg.PartitionFor)
	r.pause(ctx, r.cfg.PartitionFor)
	px.Restore()
	r.cfg.Log.Info("chaos: coordinator reconnected to etcd", "name", r.coords[i].name)
}
