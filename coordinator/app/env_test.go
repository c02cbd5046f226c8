package app_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tccsuite/tccsuite/coordinator/app"
	"github.com/tccsuite/tccsuite/coordinator/internal/testpart"
	"github.com/tccsuite/tccsuite/internal/testenv"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

const adminToken = "admin-secret"

type env struct {
	etcd  string
	dsn   string
	parts map[string]*testpart.Participant
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{etcd: testenv.Etcd(t), dsn: testenv.NewMySQLDSN(t), parts: map[string]*testpart.Participant{}}
	for _, n := range []string{"order", "inventory", "payment"} {
		e.parts[n] = testpart.New(t, n)
	}
	return e
}

func freeAddr(t testing.TB) string {
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

// vars returns the coordinator's environment for this env, with overrides.
func (e *env) vars(t testing.TB, instance string, over map[string]string) map[string]string {
	var ps []string
	for n, p := range e.parts {
		ps = append(ps, n+"="+p.URL())
	}
	v := map[string]string{
		"TCC_COORDINATOR_ADDR": freeAddr(t),
		"TCC_MYSQL_DSN":        e.dsn,
		"TCC_ETCD_ENDPOINTS":   e.etcd,
		"TCC_INSTANCE_ID":      instance,
		"TCC_LEASE_TTL":        "2s",
		"TCC_HMAC_KEY":         testpart.Key,
		"TCC_ADMIN_TOKEN":      adminToken,
		"TCC_PARTICIPANTS":     strings.Join(ps, ","),
		"TCC_SCAN_INTERVAL":    "300ms",
		"TCC_RETRY_BASE":       "10ms",
		"TCC_RETRY_CAP":        "100ms",
		"TCC_ATTENTION_AFTER":  "3",
		"TCC_CALL_TIMEOUT":     "2s",
		"TCC_SHUTDOWN_GRACE":   "2s",
		"TCC_DB_MAX_CONNS":     "32",
	}
	for k, val := range over {
		v[k] = val
	}
	return v
}

// start runs a coordinator in this process until the test ends.
func (e *env) start(t testing.TB, instance string, over map[string]string) (*tcc.Client, string) {
	t.Helper()
	vars := e.vars(t, instance, over)
	cfg, err := app.ConfigFromEnv(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("TCC_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	go func() { done <- app.Run(ctx, cfg, log) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("coordinator did not stop")
		}
	})
	base := "http://" + cfg.Addr
	waitReady(t, base, done)
	c, err := tcc.NewClient(base, tcc.WithAdminToken(adminToken), tcc.WithTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return c, base
}

func waitReady(t testing.TB, base string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := httpGet(t, base+"/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-done:
			t.Fatalf("coordinator exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("coordinator not ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// eventually polls cond until it holds or the bounded deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func threeBranches(wait string, timeoutMS int64) tcc.BeginRequest {
	return tcc.BeginRequest{
		Branches: []tcc.BranchSpec{
			{Participant: "order", Action: "create", Payload: json.RawMessage(`{"order":1}`)},
			{Participant: "inventory", Action: "reserve", Payload: json.RawMessage(`{"sku":"A","qty":1}`)},
			{Participant: "payment", Action: "freeze", Payload: json.RawMessage(`{"amount":100}`)},
		},
		TimeoutMS: timeoutMS,
		Wait:      wait,
	}
}

func statusOf(c *tcc.Client, xid string) tcc.TxStatus {
	t, err := c.Get(context.Background(), xid)
	if err != nil {
		return ""
	}
	return t.Status
}
