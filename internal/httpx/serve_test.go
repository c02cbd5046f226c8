package httpx

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

var discard = slog.New(slog.DiscardHandler)

// notifyListener reports its Close on closed (once).
type notifyListener struct {
	net.Listener
	once   sync.Once
	closed chan struct{}
}

func newNotifyListener(t *testing.T) *notifyListener {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return &notifyListener{Listener: ln, closed: make(chan struct{})}
}

func (l *notifyListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() { close(l.closed) })
	return err
}

// failingListener fails its first Accept with a permanent error.
type failingListener struct{ addr net.Addr }

func (l failingListener) Accept() (net.Conn, error) { return nil, errors.New("accept exploded") }
func (l failingListener) Close() error              { return nil }
func (l failingListener) Addr() net.Addr            { return l.addr }

func text(s string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, s) })
}

func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func noKeepAlive() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
}

// Two servers on addresses: each serves its handler; cancelling ctx stops both, and
// ServeAll returns nil.
func TestServeAllServesEachAndStopsAll(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs := make(chan net.Addr, 2)
	ready := func(a net.Addr) { addrs <- a }
	done := make(chan error, 1)
	go func() {
		done <- ServeAll(ctx, discard, 5*time.Second,
			Server{Name: "api", Addr: "127.0.0.1:0", Handler: text("api"), Ready: ready},
			Server{Name: "tcc", Addr: "127.0.0.1:0", Handler: text("tcc"), Ready: ready})
	}()
	a, b := <-addrs, <-addrs
	c := noKeepAlive()
	if got := get(t, c, "http://"+a.String()+"/"); got != "api" {
		t.Errorf("first server answered %q", got)
	}
	if got := get(t, c, "http://"+b.String()+"/"); got != "tcc" {
		t.Errorf("second server answered %q", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ServeAll: %v", err)
	}
	for _, addr := range []net.Addr{a, b} {
		if conn, err := (&net.Dialer{}).DialContext(context.Background(), "tcp", addr.String()); err == nil {
			_ = conn.Close()
			t.Errorf("%s still accepts after ServeAll returned", addr)
		}
	}
}

// Shutdown is graceful and joint: once ctx ends both listeners close, a request in
// flight on one of them still completes, and only then does ServeAll return.
func TestServeAllDrainsInFlight(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	entered, release := make(chan struct{}), make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "late")
	})
	l1, l2 := newNotifyListener(t), newNotifyListener(t)
	done := make(chan error, 1)
	go func() {
		done <- ServeAll(ctx, discard, 10*time.Second,
			Server{Name: "api", Listener: l1, Handler: text("api")},
			Server{Name: "tcc", Listener: l2, Handler: slow})
	}()
	answer := make(chan string, 1)
	go func() {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+l2.Addr().String()+"/", nil)
		if err != nil {
			answer <- "error: " + err.Error()
			return
		}
		resp, err := noKeepAlive().Do(req)
		if err != nil {
			answer <- "error: " + err.Error()
			return
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		answer <- string(b)
	}()
	<-entered
	cancel()
	<-l1.closed
	<-l2.closed
	select {
	case err := <-done:
		t.Fatalf("ServeAll returned with a request in flight: %v", err)
	default:
	}
	close(release)
	if got := <-answer; got != "late" {
		t.Errorf("the in-flight request got %q, want it to complete", got)
	}
	if err := <-done; err != nil {
		t.Fatalf("ServeAll: %v", err)
	}
}

// One server failing stops the others and ServeAll reports the failure.
func TestServeAllOneFailsStopsAll(t *testing.T) {
	good := newNotifyListener(t)
	err := ServeAll(context.Background(), discard, 5*time.Second,
		Server{Name: "api", Listener: good, Handler: text("api")},
		Server{Name: "tcc", Listener: failingListener{addr: good.Addr()}, Handler: text("tcc")})
	if err == nil || !strings.Contains(err.Error(), "accept exploded") || !strings.Contains(err.Error(), "tcc") {
		t.Fatalf("ServeAll = %v, want the tcc server's accept error", err)
	}
	select {
	case <-good.closed:
	default:
		t.Fatal("the healthy server's listener is still open")
	}
}

// A listen error serves nothing and closes the listeners already bound or given.
func TestServeAllListenErrorClosesOthers(t *testing.T) {
	busy := newNotifyListener(t)
	defer func() { _ = busy.Close() }()
	given, after := newNotifyListener(t), newNotifyListener(t)
	err := ServeAll(context.Background(), discard, time.Second,
		Server{Name: "api", Listener: given, Handler: text("api")},
		Server{Name: "tcc", Addr: busy.Addr().String(), Handler: text("tcc")},
		Server{Name: "more", Listener: after, Handler: text("more")})
	if err == nil || !strings.Contains(err.Error(), "tcc: listen") {
		t.Fatalf("ServeAll = %v, want a listen error", err)
	}
	for _, l := range []*notifyListener{given, after} {
		select {
		case <-l.closed:
		default:
			t.Errorf("listener %s left open", l.Addr())
		}
	}
}
