// Package etcdx runs an embedded single-member etcd server, for the quick start and for
// tests. Production deployments point at a real etcd cluster instead.
package etcdx

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// EmbedConfig says where the embedded server keeps its data and listens.
type EmbedConfig struct {
	Dir        string // data directory; created if missing
	ClientAddr string // host:port for clients; port 0 picks a free port
	PeerAddr   string // host:port for the (unused) peer listener; port 0 picks a free port
}

// Embedded is a running embedded etcd server.
type Embedded struct {
	e        *embed.Etcd
	endpoint string
}

// StartEmbedded starts the server and waits until it serves, or ctx ends.
func StartEmbedded(ctx context.Context, c EmbedConfig) (*Embedded, error) {
	clientAddr, err := resolvePort(ctx, c.ClientAddr)
	if err != nil {
		return nil, err
	}
	peerAddr, err := resolvePort(ctx, c.PeerAddr)
	if err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Dir = c.Dir
	cfg.Name = "tccsuite"
	cu := url.URL{Scheme: "http", Host: clientAddr}
	pu := url.URL{Scheme: "http", Host: peerAddr}
	cfg.ListenClientUrls = []url.URL{cu}
	cfg.AdvertiseClientUrls = []url.URL{cu}
	cfg.ListenPeerUrls = []url.URL{pu}
	cfg.AdvertisePeerUrls = []url.URL{pu}
	cfg.InitialCluster = cfg.Name + "=" + pu.String()
	cfg.Logger = "zap"
	// The embedded server's own log is noise for the suite (it reports its own shutdown
	// as errors); its failures still surface through StartEmbedded and Err.
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcdx: start embedded etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcdx: embedded etcd failed: %w", err)
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("etcdx: embedded etcd not ready: %w", ctx.Err())
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("etcdx: embedded etcd not ready after 60s")
	}
	slog.Debug("embedded etcd ready", "endpoint", cu.String())
	return &Embedded{e: e, endpoint: cu.String()}, nil
}

// Endpoint is the client URL, e.g. "http://127.0.0.1:2379".
func (m *Embedded) Endpoint() string { return m.endpoint }

// Close stops the server and waits for it to release its files.
func (m *Embedded) Close() { m.e.Close() }

// resolvePort turns a ":0" port into a concrete free one, because etcd must advertise the
// address it listens on. The port is free when chosen; another process could take it
// before etcd binds, which start-up then reports as an error.
func resolvePort(ctx context.Context, addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("etcdx: bad address %q: %w", addr, err)
	}
	if port != "0" {
		return addr, nil
	}
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("etcdx: pick a port: %w", err)
	}
	picked := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("etcdx: pick a port: %w", err)
	}
	return picked, nil
}
