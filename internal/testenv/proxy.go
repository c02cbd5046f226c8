package testenv

import (
	"context"
	"testing"

	"github.com/tccsuite/tccsuite/internal/tcpproxy"
)

// Proxy is a TCP proxy in front of one dependency that a test can take away (Cut: every
// connection reset, new ones reset) and give back (Restore), on a stable address.
type Proxy = tcpproxy.Proxy

// NewProxy starts a proxy to target on a free loopback port; it stops when the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	p, err := tcpproxy.New(context.Background(), target)
	if err != nil {
		t.Fatalf("testenv: proxy: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}
