// Package tcpproxy is a TCP proxy that can be cut, for tests and fault injection that take
// a dependency away (a database, etcd) and give it back.
package tcpproxy

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// Proxy forwards TCP connections from its own loopback address to a target, and can
// be cut: Cut closes every forwarded connection at once (with a reset) and answers every
// new one with a reset until Restore. It models a network partition between one client
// (a coordinator) and a server (etcd) that both stay up and reachable by everyone else.
//
// Guarantees: after Cut returns, no byte flows through the proxy in either direction
// until Restore is called; a connection accepted before Cut never outlives it.
type Proxy struct {
	ln     net.Listener
	target string
	ctx    context.Context // ends with Close, aborting dials in flight
	cancel context.CancelFunc

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

// New listens on a free loopback port and forwards to target (host:port) until Close.
// ctx bounds the listen only.
func New(ctx context.Context, target string) (*Proxy, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}, done: make(chan struct{})}
	p.ctx, p.cancel = context.WithCancel(context.WithoutCancel(ctx))
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			select {
			case <-p.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // a transient accept error (EMFILE): back off
			continue
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			reset(c)
			continue
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(1)
		go p.forward(c)
	}
}

func (p *Proxy) forward(c net.Conn) {
	defer p.wg.Done()
	up, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(p.ctx, "tcp", p.target)
	if err != nil {
		p.drop(c)
		reset(c)
		return
	}
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		reset(up)
		p.drop(c)
		reset(c)
		return
	}
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			p.drop(c)
			p.drop(up)
			_ = c.Close()
			_ = up.Close()
		})
	}
	p.wg.Add(1)
	go func() { defer p.wg.Done(); _, _ = io.Copy(up, c); closeBoth() }()
	_, _ = io.Copy(c, up)
	closeBoth()
}

func (p *Proxy) drop(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// reset closes c with SO_LINGER 0, so the peer sees a reset rather than an orderly end.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// Cut closes every forwarded connection (with a reset) and resets new ones until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.cut = true
	conns := p.conns
	p.conns = map[net.Conn]struct{}{}
	p.mu.Unlock()
	for c := range conns {
		reset(c)
	}
}

// Restore lets connections through again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

// Close stops the proxy, closes every connection and waits for its goroutines. It is
// idempotent.
func (p *Proxy) Close() {
	p.once.Do(func() {
		close(p.done)
		p.cancel()
		_ = p.ln.Close()
		p.Cut()
	})
	p.wg.Wait()
}
