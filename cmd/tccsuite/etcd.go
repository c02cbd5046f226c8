package main

import (
	"context"
	"path/filepath"
	"time"

	"github.com/tccsuite/tccsuite/internal/etcdx"
)

// startEtcd starts the embedded etcd on the data directory, unless TCC_ETCD_ENDPOINTS
// points at one, and returns the endpoints the coordinator uses and a stop (a no-op
// for an external etcd). It waits a minute at most for the server.
func startEtcd(ctx context.Context, c config) (endpoints string, stop func(), err error) {
	if c.EtcdEndpoints != "" {
		return c.EtcdEndpoints, func() {}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	etcd, err := etcdx.StartEmbedded(ctx, etcdx.EmbedConfig{
		Dir: filepath.Join(c.DataDir, "etcd"), ClientAddr: c.EtcdClientAddr, PeerAddr: c.EtcdPeerAddr,
	})
	if err != nil {
		return "", func() {}, err
	}
	return etcd.Endpoint(), etcd.Close, nil
}
