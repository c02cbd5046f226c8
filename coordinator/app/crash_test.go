package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tccsuite/tccsuite/coordinator/internal/testpart"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// buildCoordinator builds the real coordinator binary for process tests.
func buildCoordinator(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "coordinator")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/tccsuite/tccsuite/coordinator") //nolint:gosec // builds this repository's coordinator into the test's temporary directory
	cmd.Env = os.Environ()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type proc struct {
	cmd    *exec.Cmd
	c      *tcc.Client
	logs   *bytes.Buffer
	mu     *sync.Mutex
	done   chan error
	exited chan struct{}
	err    error
}

// wait waits for the process to exit and returns its exit error; it may be called
// any number of times.
func (p *proc) wait() error {
	<-p.exited
	return p.err
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (e *env) spawn(t *testing.T, bin, instance string, over map[string]string) *proc {
	t.Helper()
	vars := e.vars(t, instance, over)
	cmd := exec.Command(bin) //nolint:gosec,noctx // the coordinator binary this test built; its life is the test's (killed by the test, not by a context)
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &proc{cmd: cmd, logs: &bytes.Buffer{}, mu: &sync.Mutex{}, done: make(chan error, 1), exited: make(chan struct{})}
	cmd.Stderr = lockedWriter{p.mu, p.logs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
		p.done <- p.err
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = p.wait()
		if t.Failed() {
			p.mu.Lock()
			t.Logf("logs of %s:\n%s", instance, p.logs.String())
			p.mu.Unlock()
		}
	})
	base := "http://" + vars["TCC_COORDINATOR_ADDR"]
	waitReady(t, base, p.done)
	c, err := tcc.NewClient(base, tcc.WithTimeout(60*time.Second), tcc.WithAdminToken(adminToken))
	if err != nil {
		t.Fatal(err)
	}
	p.c = c
	return p
}

// TestCrashAndTakeover kills a coordinator process with SIGKILL (a) while its Tries
// are in flight and (b) after its decision but before Confirm reached the participants,
// and checks that a second instance finishes every transaction correctly within the
// lease TTL plus the scan interval. It then stops a third instance gracefully while it
// is retrying a Confirm, and checks the survivor takes over at once.
func TestCrashAndTakeover(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the coordinator binary")
	}
	bin := buildCoordinator(t)
	e := newEnv(t)
	var frozen atomic.Bool
	frozen.Store(true)
	var flaky atomic.Bool
	flaky.Store(true)
	// (a) payment's Try of action "hang" blocks; (b) order's Confirm of action "hold"
	// blocks; (c) order's Confirm of action "flaky" fails while flaky is set.
	e.parts["payment"].SetBehave(func(c testpart.Call) testpart.Answer {
		if c.Action == "hang" && c.Phase == tcc.PhaseTry && frozen.Load() {
			return testpart.Block(nil, c)
		}
		return testpart.Answer{}
	})
	e.parts["order"].SetBehave(func(c testpart.Call) testpart.Answer {
		if c.Action == "hold" && c.Phase == tcc.PhaseConfirm && frozen.Load() {
			return testpart.Block(nil, c)
		}
		if c.Action == "flaky" && c.Phase == tcc.PhaseConfirm && flaky.Load() {
			return testpart.Answer{Status: 503, Code: "DOWN"}
		}
		return testpart.Answer{}
	})
	a := e.spawn(t, bin, "crash-a", nil)
	b := e.spawn(t, bin, "crash-b", nil)

	req := func(orderAction, paymentAction string) tcc.BeginRequest {
		return tcc.BeginRequest{
			Branches: []tcc.BranchSpec{
				{Participant: "order", Action: orderAction, Payload: json.RawMessage(`{"o":1}`)},
				{Participant: "inventory", Action: "reserve", Payload: json.RawMessage(`{"sku":"A"}`)},
				{Participant: "payment", Action: paymentAction, Payload: json.RawMessage(`{"amount":1}`)},
			},
			TimeoutMS: 30000, Wait: tcc.WaitCompletion,
		}
	}
	const n = 3
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(2)
		go func() { defer wg.Done(); _, _ = a.c.Begin(context.Background(), req("create", "hang"), "") }()
		go func() { defer wg.Done(); _, _ = a.c.Begin(context.Background(), req("hold", "freeze"), "") }()
	}
	// Wait until A is frozen at both points: n hanging Tries, n held Confirms.
	trying, confirming := map[string]bool{}, map[string]bool{}
	timeout := time.After(30 * time.Second)
	for len(trying) < n || len(confirming) < n {
		select {
		case c := <-e.parts["payment"].Seen():
			if c.Action == "hang" && c.Phase == tcc.PhaseTry {
				trying[c.XID] = true
			}
		case c := <-e.parts["order"].Seen():
			if c.Action == "hold" && c.Phase == tcc.PhaseConfirm {
				confirming[c.XID] = true
			}
		case <-timeout:
			t.Fatalf("coordinator A never froze: %d trying, %d confirming", len(trying), len(confirming))
		}
	}
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	_ = a.wait()
	frozen.Store(false)
	wg.Wait() // A's clients got their connection errors

	finished := func(set map[string]bool, want tcc.TxStatus) bool {
		for xid := range set {
			if statusOf(b.c, xid) != want {
				return false
			}
		}
		return true
	}
	eventually(t, 20*time.Second, "B finishes A's transactions", func() bool {
		return finished(trying, tcc.TxCancelled) && finished(confirming, tcc.TxConfirmed)
	})
	took := time.Since(killed)
	limit := 2*time.Second + 300*time.Millisecond + 2*time.Second // TTL + scan + slack for calls and polling
	t.Logf("takeover finished %d transactions %v after SIGKILL", 2*n, took)
	if took > limit {
		t.Fatalf("takeover took %v, over %v", took, limit)
	}
	for xid := range trying {
		for name, p := range e.parts {
			ph := p.Phases(xid)
			if ph[tcc.PhaseConfirm] != 0 || ph[tcc.PhaseCancel] == 0 {
				t.Fatalf("(a) %s: %s saw %v", xid, name, ph)
			}
		}
	}
	for xid := range confirming {
		for name, p := range e.parts {
			ph := p.Phases(xid)
			if ph[tcc.PhaseConfirm] == 0 || ph[tcc.PhaseCancel] != 0 {
				t.Fatalf("(b) %s: %s saw %v", xid, name, ph)
			}
		}
	}

	// (c) Graceful stop hands over at once: the lease is revoked, so the survivor does not
	// wait for the (long) TTL: only for the short grace and its next scan.
	c3 := e.spawn(t, bin, "crash-c", map[string]string{"TCC_LEASE_TTL": "30s", "TCC_SHUTDOWN_GRACE": "200ms"})
	tx, err := c3.c.Begin(context.Background(), func() tcc.BeginRequest {
		r := req("flaky", "freeze")
		r.Wait = tcc.WaitDecision
		return r
	}(), "")
	if err != nil || tx.Status != tcc.TxConfirming {
		t.Fatalf("flaky begin: %+v %v", tx, err)
	}
	if err := c3.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	select {
	case <-c3.exited:
		if c3.err != nil {
			t.Fatalf("graceful stop exited with %v", c3.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("graceful stop hung")
	}
	flaky.Store(false)
	eventually(t, 10*time.Second, "B takes over the handed-over transaction", func() bool {
		return statusOf(b.c, tx.XID) == tcc.TxConfirmed
	})
	took = time.Since(stopped)
	t.Logf("handover finished %v after SIGTERM", took)
	if took > 5*time.Second {
		t.Fatalf("handover took %v: the lease was not revoked", took)
	}
}
