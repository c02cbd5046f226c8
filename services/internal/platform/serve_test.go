package platform

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

	"github.com/gin-gonic/gin"
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
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
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
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
		if conn, err := net.Dial("tcp", addr.String()); err == nil {
			conn.Close()
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
		resp, err := noKeepAlive().Get("http://" + l2.Addr().String() + "/")
		if err != nil {
			answer <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
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
	defer busy.Close()
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

func TestValidateListeners(t *testing.T) {
	ln := newNotifyListener(t)
	defer ln.Close()
	other := newNotifyListener(t)
	defer other.Close()
	for _, tc := range []struct {
		name    string
		c       Common
		addr    string
		ln      net.Listener
		wantErr string
	}{
		{"unset", Common{}, ":8081", nil, ""},
		{"distinct ports", Common{TCCAddr: ":9081"}, ":8081", nil, ""},
		{"distinct hosts", Common{TCCAddr: "127.0.0.2:8081"}, "127.0.0.1:8081", nil, ""},
		{"both ephemeral", Common{TCCAddr: "127.0.0.1:0"}, "127.0.0.1:0", nil, "must differ"},
		{"any ephemeral", Common{TCCAddr: ":0"}, "127.0.0.1:0", nil, ""},
		{"same", Common{TCCAddr: ":8081"}, ":8081", nil, "must differ"},
		{"wildcard covers host", Common{TCCAddr: "127.0.0.1:8081"}, ":8081", nil, "must differ"},
		{"ipv4 wildcard", Common{TCCAddr: "0.0.0.0:8081"}, "10.0.0.1:8081", nil, "must differ"},
		{"no port", Common{TCCAddr: "9081"}, ":8081", nil, "host:port"},
		{"main listener given", Common{TCCAddr: ":8081"}, ":8081", ln, ""},
		{"tcc listener given", Common{TCCListener: other}, ":8081", ln, ""},
		{"same listener", Common{TCCListener: ln}, "", ln, "must not be the main listener"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.ValidateListeners("INVENTORY_", tc.addr, tc.ln)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "INVENTORY_TCC_ADDR")) {
				t.Fatalf("error %v, want one naming INVENTORY_TCC_ADDR with %q", err, tc.wantErr)
			}
		})
	}
}

func TestEnginesAndServers(t *testing.T) {
	m := NewMetrics("test")
	api, tcc := Common{}.Engines(discard, m, nil, nil)
	if api != tcc {
		t.Error("without a TCC address the TCC routes must go on the API engine")
	}
	if s := (Common{}).Servers("svc", ":1", nil, api, tcc); len(s) != 1 {
		t.Errorf("one listener wanted, got %d servers", len(s))
	}
	c := Common{TCCAddr: ":9081"}
	api, tcc = c.Engines(discard, NewMetrics("test2"), nil, nil)
	if api == tcc {
		t.Fatal("with a TCC address the TCC routes need their own engine")
	}
	s := c.Servers("svc", ":8081", nil, api, tcc)
	if len(s) != 2 || s[0].Addr != ":8081" || s[0].Handler != api || s[1].Addr != ":9081" || s[1].Handler != tcc || s[1].Name != "svc tcc" {
		t.Errorf("servers %+v", s)
	}
	api.GET("/only-api", func(*gin.Context) {})
	got := map[string]bool{}
	for _, r := range RouteUnion(api, tcc) {
		k := r.Method + " " + r.Path
		if got[k] {
			t.Errorf("%s listed twice", k)
		}
		got[k] = true
	}
	for _, want := range []string{"GET /healthz", "GET /readyz", "GET /metrics", "GET /only-api"} {
		if !got[want] {
			t.Errorf("union lacks %s", want)
		}
	}
}
