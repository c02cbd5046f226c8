// Package faultproxy is an HTTP proxy that injects the network faults a TCC coordinator
// must survive between itself and a participant: added latency, an answer lost after the
// participant processed the request, a connection refused before it reached the
// participant, and a request delivered twice. Each request draws at most one fault, at
// the configured rates, from a seeded generator.
package faultproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Rates are per-request probabilities (0..1) of each fault; their sum must not exceed 1.
type Rates struct {
	Latency    float64       // delay the request by up to MaxLatency, then forward it
	MaxLatency time.Duration // default 200ms
	LoseAnswer float64       // forward, then drop the connection instead of answering
	Refuse     float64       // drop the connection without forwarding
	Duplicate  float64       // forward twice at once; answer with the first reply
}

// Validate reports rates that make no sense.
func (r Rates) Validate() error {
	for _, p := range []float64{r.Latency, r.LoseAnswer, r.Refuse, r.Duplicate} {
		if p < 0 || p > 1 {
			return errors.New("faultproxy: rates must be within 0..1")
		}
	}
	if r.Latency+r.LoseAnswer+r.Refuse+r.Duplicate > 1 {
		return errors.New("faultproxy: rates add up to more than 1")
	}
	return nil
}

// Fault kinds, as counted by Stats.
const (
	KindLatency    = "latency"
	KindLoseAnswer = "lost_answer"
	KindRefuse     = "refused"
	KindDuplicate  = "duplicated"
	KindClean      = "clean"
)

// Proxy forwards to one upstream base URL with faults.
type Proxy struct {
	upstream string
	ln       net.Listener
	srv      *http.Server
	client   *http.Client

	mu    sync.Mutex
	rng   *rand.Rand
	rates Rates

	counts sync.Map // kind → *atomic.Int64
}

// New listens on addr ("127.0.0.1:0" for a free port) and forwards to upstream (e.g.
// "http://127.0.0.1:8081") until Close. ctx bounds the listen only. The same seed and
// the same sequence of requests draw the same faults.
func New(ctx context.Context, addr, upstream string, rates Rates, seed uint64) (*Proxy, error) {
	if err := rates.Validate(); err != nil {
		return nil, err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	//nolint:gosec // G404: seeded on purpose, so that a seed repeats a run's faults; nothing secret is drawn
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	p := &Proxy{
		upstream: upstream,
		ln:       ln,
		rng:      rng,
		rates:    rates,
		client: &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     30 * time.Second,
		}},
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// URL is the proxy's base URL.
func (p *Proxy) URL() string { return "http://" + p.ln.Addr().String() }

// SetRates changes the rates for the requests that follow.
func (p *Proxy) SetRates(r Rates) error {
	if err := r.Validate(); err != nil {
		return err
	}
	p.mu.Lock()
	p.rates = r
	p.mu.Unlock()
	return nil
}

// Stats returns how many requests met each kind of fault (KindClean: none).
func (p *Proxy) Stats() map[string]int64 {
	out := map[string]int64{}
	p.counts.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// Close stops the proxy and drops its connections.
func (p *Proxy) Close() error {
	err := p.srv.Close()
	p.client.CloseIdleConnections()
	return err
}

func (p *Proxy) count(kind string) {
	v, _ := p.counts.LoadOrStore(kind, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// draw picks the fault of one request and, for latency, its delay.
func (p *Proxy) draw() (string, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.rates
	x := p.rng.Float64()
	switch {
	case x < r.Refuse:
		return KindRefuse, 0
	case x < r.Refuse+r.LoseAnswer:
		return KindLoseAnswer, 0
	case x < r.Refuse+r.LoseAnswer+r.Duplicate:
		return KindDuplicate, 0
	case x < r.Refuse+r.LoseAnswer+r.Duplicate+r.Latency:
		maxLatency := r.MaxLatency
		if maxLatency <= 0 {
			maxLatency = 200 * time.Millisecond
		}
		return KindLatency, time.Duration(p.rng.Int64N(int64(maxLatency)) + 1)
	default:
		return KindClean, 0
	}
}

// ServeHTTP draws one fault for the request and forwards it accordingly.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "faultproxy: read body", http.StatusBadGateway)
		return
	}
	kind, delay := p.draw()
	p.count(kind)
	switch kind {
	case KindRefuse:
		drop(w)
		return
	case KindLatency:
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if kind == KindDuplicate {
		// The copy goes at the same time as the original: the participant sees two
		// identical signed calls racing each other. Its answer is discarded, and it
		// outlives the original's request.
		go func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
			defer cancel()
			if resp, err := p.forward(ctx, r, body); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
		}()
	}
	resp, err := p.forward(r.Context(), r, body)
	if err != nil {
		// The participant is down or the call was cut: the client sees a dropped
		// connection, as it would without the proxy.
		drop(w)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	if kind == KindLoseAnswer {
		_, _ = io.Copy(io.Discard, resp.Body) // the participant finished its work
		drop(w)
		return
	}
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// forward sends a copy of r, with body, to the upstream. The caller closes the answer's
// body.
func (p *Proxy) forward(ctx context.Context, r *http.Request, body []byte) (*http.Response, error) {
	//nolint:gosec // G704: the upstream is the proxy's own configuration; only the path comes from the request
	req, err := http.NewRequestWithContext(ctx, r.Method, p.upstream+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, vs := range r.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	req.Header.Del("Connection")
	return p.client.Do(req) //nolint:gosec // G704: see above: a request to the configured upstream
}

// drop closes the client's connection without an answer.
func drop(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // a reset, not a polite close
	}
	_ = conn.Close()
}
