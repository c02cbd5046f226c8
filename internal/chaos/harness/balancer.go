package harness

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// coordBalancer spreads the order service's calls over the live coordinators, round
// robin, as a Kubernetes Service would: a coordinator that refuses the connection is
// skipped; a call that was sent and then lost answers 502, and the order service must
// cope (a balancer cannot know whether a lost call was applied, so it never resends
// one). With no coordinator listening it answers 503.
type coordBalancer struct {
	coords []*proc
	ln     net.Listener
	srv    *http.Server
	client *http.Client
	n      atomic.Uint64
}

// newCoordBalancer listens on a free loopback port and serves until close.
func newCoordBalancer(ctx context.Context, coords []*proc) (*coordBalancer, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	lb := &coordBalancer{coords: coords, ln: ln, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}}
	lb.srv = &http.Server{Handler: lb, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = lb.srv.Serve(ln) }()
	return lb, nil
}

// url is the balancer's base URL.
func (lb *coordBalancer) url() string { return "http://" + lb.ln.Addr().String() }

// close stops serving and drops every connection.
func (lb *coordBalancer) close() { _ = lb.srv.Close(); lb.client.CloseIdleConnections() }

func (lb *coordBalancer) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	start := lb.n.Add(1)
	for i := range uint64(len(lb.coords)) {
		c := lb.coords[(start+i)%uint64(len(lb.coords))]
		//nolint:gosec // G704: the target is one of the harness's own coordinators; only the path comes from the request
		out, err := http.NewRequestWithContext(req.Context(), req.Method, c.url()+req.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, `{"code":"BAD_GATEWAY","message":"cannot forward the request"}`, http.StatusBadGateway)
			return
		}
		out.Header = req.Header.Clone()
		resp, err := lb.client.Do(out) //nolint:gosec // G704: see above
		if err != nil {
			var op *net.OpError
			if errors.As(err, &op) && op.Op == "dial" {
				continue // not listening: try the next one
			}
			http.Error(w, `{"code":"BAD_GATEWAY","message":"coordinator connection lost"}`, http.StatusBadGateway)
			return
		}
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		_ = resp.Body.Close()
		return
	}
	http.Error(w, `{"code":"NO_COORDINATOR","message":"no coordinator is listening"}`, http.StatusServiceUnavailable)
}
