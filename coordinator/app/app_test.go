package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
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
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
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

func TestIntegration(t *testing.T) {
	e := newEnv(t)
	c, base := e.start(t, "itest", nil)
	ctx := context.Background()

	t.Run("all tries succeed", func(t *testing.T) {
		tx, err := c.Begin(ctx, threeBranches(tcc.WaitCompletion, 5000), "")
		if err != nil {
			t.Fatal(err)
		}
		if tx.Status != tcc.TxConfirmed || len(tx.Branches) != 3 {
			t.Fatalf("got %+v", tx)
		}
		for _, b := range tx.Branches {
			if b.Status != tcc.BranchConfirmed {
				t.Fatalf("branch %+v", b)
			}
		}
		for n, p := range e.parts {
			ph := p.Phases(tx.XID)
			if ph[tcc.PhaseTry] != 1 || ph[tcc.PhaseConfirm] != 1 || ph[tcc.PhaseCancel] != 0 {
				t.Fatalf("%s saw %v", n, ph)
			}
		}
	})

	t.Run("the request ID and deadline reach every participant", func(t *testing.T) {
		rctx := tcc.WithMeta(ctx, tcc.Meta{RequestID: "req-propagated-1"})
		tx, err := c.Begin(rctx, threeBranches(tcc.WaitCompletion, 5000), "")
		if err != nil {
			t.Fatal(err)
		}
		for n, p := range e.parts {
			calls := p.Calls(tx.XID)
			if len(calls) != 2 {
				t.Fatalf("%s saw %d calls, want a Try and a Confirm", n, len(calls))
			}
			for _, call := range calls {
				if call.RequestID != "req-propagated-1" {
					t.Errorf("%s %s carried request ID %q", n, call.Phase, call.RequestID)
				}
				if call.Phase == tcc.PhaseTry && !call.Deadline.Equal(tx.Deadline.Truncate(time.Millisecond)) {
					t.Errorf("%s try deadline %v, transaction deadline %v", n, call.Deadline, tx.Deadline)
				}
			}
		}
	})

	t.Run("wait decision", func(t *testing.T) {
		tx, err := c.Begin(ctx, threeBranches(tcc.WaitDecision, 5000), "")
		if err != nil {
			t.Fatal(err)
		}
		if tx.Status != tcc.TxConfirming && tx.Status != tcc.TxConfirmed {
			t.Fatalf("got %s", tx.Status)
		}
		eventually(t, 10*time.Second, "confirmed", func() bool { return statusOf(c, tx.XID) == tcc.TxConfirmed })
	})

	t.Run("one refusal", func(t *testing.T) {
		e.parts["inventory"].SetBehave(func(c testpart.Call) testpart.Answer {
			if c.Phase == tcc.PhaseTry {
				return testpart.Answer{Status: http.StatusConflict, Code: "OUT_OF_STOCK"}
			}
			return testpart.Answer{}
		})
		defer e.parts["inventory"].SetBehave(nil)
		tx, err := c.Begin(ctx, threeBranches(tcc.WaitCompletion, 5000), "")
		if err != nil {
			t.Fatal(err)
		}
		if tx.Status != tcc.TxCancelled || tx.Refusal == nil || tx.Refusal.Code != "OUT_OF_STOCK" || tx.Refusal.Participant != "inventory" {
			t.Fatalf("got %+v refusal %+v", tx, tx.Refusal)
		}
		for n, p := range e.parts {
			ph := p.Phases(tx.XID)
			if ph[tcc.PhaseConfirm] != 0 || ph[tcc.PhaseCancel] != 1 {
				t.Fatalf("%s saw %v", n, ph)
			}
		}
	})

	t.Run("first refusal cancels the outstanding tries", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		e.parts["payment"].SetBehave(func(c testpart.Call) testpart.Answer {
			if c.Phase == tcc.PhaseTry {
				return testpart.Block(release, c) // hangs until the coordinator gives up on it
			}
			return testpart.Answer{}
		})
		defer e.parts["payment"].SetBehave(nil)
		e.parts["inventory"].SetBehave(func(c testpart.Call) testpart.Answer {
			if c.Phase == tcc.PhaseTry {
				return testpart.Answer{Status: http.StatusConflict, Code: "OUT_OF_STOCK"}
			}
			return testpart.Answer{}
		})
		defer e.parts["inventory"].SetBehave(nil)
		t0 := time.Now()
		tx, err := c.Begin(ctx, threeBranches(tcc.WaitCompletion, 20000), "")
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(t0); took > 5*time.Second {
			t.Fatalf("the refusal did not cut the hanging Try short: %v", took)
		}
		if tx.Status != tcc.TxCancelled || tx.Refusal == nil || tx.Refusal.Code != "OUT_OF_STOCK" {
			t.Fatalf("got %+v", tx)
		}
		if e.parts["payment"].Count(tx.XID, tcc.PhaseCancel) != 1 {
			t.Fatal("the cancelled Try's branch got no Cancel")
		}
	})

	t.Run("try hangs past the deadline", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		e.parts["payment"].SetBehave(func(c testpart.Call) testpart.Answer {
			if c.Phase == tcc.PhaseTry {
				return testpart.Block(release, c)
			}
			return testpart.Answer{}
		})
		defer e.parts["payment"].SetBehave(nil)
		t0 := time.Now()
		tx, err := c.Begin(ctx, threeBranches(tcc.WaitCompletion, 300), "")
		if err != nil {
			t.Fatal(err)
		}
		if tx.Status != tcc.TxCancelled || tx.Refusal != nil {
			t.Fatalf("got %+v", tx)
		}
		if time.Since(t0) > 5*time.Second {
			t.Fatalf("took %v", time.Since(t0))
		}
		if n := e.parts["payment"].Count(tx.XID, tcc.PhaseCancel); n != 1 {
			t.Fatalf("payment got %d cancels", n)
		}
		for n, p := range e.parts {
			if p.Count(tx.XID, tcc.PhaseConfirm) != 0 {
				t.Fatalf("%s confirmed", n)
			}
		}
	})

	t.Run("participant down during confirm", func(t *testing.T) {
		var mu sync.Mutex
		down := true
		e.parts["payment"].SetBehave(func(c testpart.Call) testpart.Answer {
			mu.Lock()
			defer mu.Unlock()
			if c.Phase == tcc.PhaseConfirm && down {
				return testpart.Answer{Status: http.StatusServiceUnavailable, Code: "DOWN"}
			}
			return testpart.Answer{}
		})
		defer e.parts["payment"].SetBehave(nil)
		tx, err := c.Begin(ctx, threeBranches(tcc.WaitDecision, 5000), "")
		if err != nil {
			t.Fatal(err)
		}
		if tx.Status != tcc.TxConfirming {
			t.Fatalf("got %s", tx.Status)
		}
		yes := true
		eventually(t, 10*time.Second, "attention flag", func() bool {
			p, err := c.List(ctx, tcc.ListOptions{Attention: &yes})
			if err != nil {
				return false
			}
			for _, x := range p.Transactions {
				if x.XID == tx.XID {
					return x.Attention
				}
			}
			return false
		})
		if got, _ := c.Get(ctx, tx.XID); got.Status != tcc.TxConfirming || !got.Attention {
			t.Fatalf("while down: %+v", got)
		}
		// Admin retry: refused without the token, accepted with it.
		anon, _ := tcc.NewClient(base)
		if _, err := anon.Retry(ctx, tx.XID); !tcc.IsAPIError(err, "UNAUTHORIZED") {
			t.Fatalf("retry without token: %v", err)
		}
		mu.Lock()
		down = false
		mu.Unlock()
		if _, err := c.Retry(ctx, tx.XID); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "confirmed", func() bool { return statusOf(c, tx.XID) == tcc.TxConfirmed })
		got, _ := c.Get(ctx, tx.XID)
		if got.Attention {
			t.Fatal("attention not cleared")
		}
		if n := e.parts["payment"].Count(tx.XID, tcc.PhaseConfirm); n != 1 {
			t.Fatalf("payment confirmed %d times", n)
		}
	})

	t.Run("idempotency key", func(t *testing.T) {
		req := threeBranches(tcc.WaitCompletion, 5000)
		a, err := c.Begin(ctx, req, "idem-1")
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.Begin(ctx, req, "idem-1")
		if err != nil {
			t.Fatal(err)
		}
		if a.XID != b.XID || a.Status != tcc.TxConfirmed || b.Status != tcc.TxConfirmed {
			t.Fatalf("a %+v b %+v", a, b)
		}
		if n := e.parts["inventory"].Count(a.XID, tcc.PhaseTry); n != 1 {
			t.Fatalf("%d tries", n)
		}
		// Concurrent repeats: still one execution.
		var wg sync.WaitGroup
		xids := make([]string, 8)
		for i := range xids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tx, err := c.Begin(ctx, req, "idem-2")
				if err != nil {
					t.Error(err)
					return
				}
				xids[i] = tx.XID
			}()
		}
		wg.Wait()
		for _, x := range xids {
			if x != xids[0] {
				t.Fatalf("different XIDs %v", xids)
			}
		}
		if n := e.parts["inventory"].Count(xids[0], tcc.PhaseTry); n != 1 {
			t.Fatalf("%d tries", n)
		}
		other := threeBranches(tcc.WaitCompletion, 4000)
		if _, err := c.Begin(ctx, other, "idem-1"); !tcc.IsAPIError(err, "IDEMPOTENCY_KEY_REUSED") {
			t.Fatalf("different body: %v", err)
		}
	})
}

var (
	_ = errors.New
	_ = fmt.Sprint
)

func errorsAs(err error, target any) bool { return errors.As(err, target) }
