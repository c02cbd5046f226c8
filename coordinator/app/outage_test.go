package app_test

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/tccsuite/tccsuite/coordinator/internal/testpart"
	"github.com/tccsuite/tccsuite/internal/etcdx"
	"github.com/tccsuite/tccsuite/internal/testenv"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// TestDatabaseOutage cuts the coordinator's connection to MariaDB while one transaction
// is confirming and another is waiting on a Try: calls that need the database answer
// 503 DB_UNAVAILABLE with Retry-After (never 500); the decision and the results are
// retried (beyond the point where the writer used to drop them); after the database
// returns both transactions complete without a restart, each Confirm sent once.
func TestDatabaseOutage(t *testing.T) {
	e := newEnv(t)
	cfg, err := mysqldrv.ParseDSN(e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	px := testenv.NewProxy(t, cfg.Addr)
	cfg.Addr = px.Addr()
	c, base := e.start(t, "dbout", map[string]string{"TCC_MYSQL_DSN": cfg.FormatDSN()})
	ctx := context.Background()

	releaseConfirm, releaseTry := make(chan struct{}), make(chan struct{})
	tried := make(chan string, 1)
	e.parts["order"].SetBehave(func(call testpart.Call) testpart.Answer {
		if call.Action == "hold" && call.Phase == tcc.PhaseConfirm {
			return testpart.Block(releaseConfirm, call)
		}
		return testpart.Answer{}
	})
	e.parts["payment"].SetBehave(func(call testpart.Call) testpart.Answer {
		if call.Action == "slow" && call.Phase == tcc.PhaseTry {
			tried <- call.XID
			return testpart.Block(releaseTry, call)
		}
		return testpart.Answer{}
	})
	req := func(orderAction, paymentAction string, wait string) tcc.BeginRequest {
		r := threeBranches(wait, 30000)
		r.Branches[0].Action, r.Branches[2].Action = orderAction, paymentAction
		return r
	}
	a, err := c.Begin(ctx, req("hold", "freeze", tcc.WaitDecision), "")
	if err != nil || a.Status != tcc.TxConfirming {
		t.Fatalf("a: %+v %v", a, err)
	}
	type result struct {
		tx  *tcc.Transaction
		err error
	}
	bRes := make(chan result, 1)
	go func() {
		tx, err := c.Begin(ctx, req("create", "slow", tcc.WaitCompletion), "")
		bRes <- result{tx, err}
	}()
	bXID := <-tried

	px.Cut()
	for _, call := range []struct {
		method, path string
		body         any
	}{
		{http.MethodPost, "/v1/transactions", threeBranches(tcc.WaitCompletion, 5000)},
		{http.MethodGet, "/v1/transactions?limit=10", nil},
		{http.MethodGet, "/v1/transactions/00000000000000ff", nil},
	} {
		status, retryAfter, code := rawCall(t, call.method, base+call.path, call.body)
		if status != http.StatusServiceUnavailable || retryAfter == "" || code != "DB_UNAVAILABLE" {
			t.Fatalf("%s %s during the outage: %d %q Retry-After %q", call.method, call.path, status, code, retryAfter)
		}
	}
	// A transaction driven here is still served, from memory.
	if status, _, _ := rawCall(t, http.MethodGet, base+"/v1/transactions/"+a.XID, nil); status != http.StatusOK {
		t.Fatalf("GET a driven transaction during the outage: %d", status)
	}
	close(releaseTry)     // b's decision now fails to be recorded: retried
	close(releaseConfirm) // a's branch results and final status now fail to be written: retried
	eventually(t, 30*time.Second, "results retried past the old drop point", func() bool {
		return metric(t, base, `tcc_coordinator_store_errors_total{op="results"}`) >= 9 &&
			metric(t, base, `tcc_coordinator_store_errors_total{op="decide"}`) >= 1
	})
	if s := statusOf(c, bXID); s != tcc.TxTrying {
		t.Fatalf("b decided during the outage: %s", s)
	}
	px.Restore()

	r := <-bRes
	if r.err != nil {
		t.Fatalf("b's begin: %v", r.err)
	}
	for _, xid := range []string{a.XID, bXID} {
		eventually(t, 20*time.Second, "completed after the outage", func() bool {
			// Read the store, not this instance's memory: the final status must be durable.
			page, err := c.List(ctx, tcc.ListOptions{Status: tcc.TxConfirmed, Limit: 1000})
			if err != nil {
				return false
			}
			for _, x := range page.Transactions {
				if x.XID == xid {
					return true
				}
			}
			return false
		})
		for n, p := range e.parts {
			if k := p.Count(xid, tcc.PhaseConfirm); k != 1 {
				t.Errorf("%s: %s confirmed %d times", xid, n, k)
			}
		}
	}
	if tx, err := c.Begin(ctx, threeBranches(tcc.WaitCompletion, 5000), ""); err != nil || tx.Status != tcc.TxConfirmed {
		t.Fatalf("after the outage: %+v %v", tx, err)
	}
}

// restartableEtcd is an embedded etcd on fixed ports that a test can stop and start
// again on the same data (as an etcd restart does: leases are restored).
type restartableEtcd struct {
	t   *testing.T
	cfg etcdx.EmbedConfig
	mu  sync.Mutex
	cur *etcdx.Embedded
}

func newRestartableEtcd(t *testing.T) *restartableEtcd {
	r := &restartableEtcd{t: t, cfg: etcdx.EmbedConfig{
		Dir: filepath.Join(t.TempDir(), "etcd"), ClientAddr: freeAddr(t), PeerAddr: freeAddr(t),
	}}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *restartableEtcd) endpoint() string {
	return (&url.URL{Scheme: "http", Host: r.cfg.ClientAddr}).String()
}

func (r *restartableEtcd) start() {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e, err := etcdx.StartEmbedded(ctx, r.cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	r.mu.Lock()
	r.cur = e
	r.mu.Unlock()
}

func (r *restartableEtcd) stop() {
	r.mu.Lock()
	e := r.cur
	r.cur = nil
	r.mu.Unlock()
	if e != nil {
		e.Close()
	}
}

// TestEtcdOutage stops etcd while Confirms are in flight: the decided transactions
// still complete during the outage, begins are refused 503 NOT_READY once the session
// is lost, and after etcd restarts (restoring the old lease) the instance is ready again
// by itself.
func TestEtcdOutage(t *testing.T) {
	etcd := newRestartableEtcd(t)
	e := &env{etcd: etcd.endpoint(), dsn: testenv.NewMySQLDSN(t), parts: map[string]*testpart.Participant{}}
	for _, n := range []string{"order", "inventory", "payment"} {
		e.parts[n] = testpart.New(t, n)
	}
	c, base := e.start(t, "etcdout", nil)
	ctx := context.Background()
	release := make(chan struct{})
	held := make(chan string, 16)
	e.parts["payment"].SetBehave(func(call testpart.Call) testpart.Answer {
		if call.Action == "hold" && call.Phase == tcc.PhaseConfirm {
			held <- call.XID
			return testpart.Block(release, call)
		}
		return testpart.Answer{}
	})
	const n = 3
	var xids []string
	for i := 0; i < n; i++ {
		r := threeBranches(tcc.WaitDecision, 30000)
		r.Branches[2].Action = "hold"
		tx, err := c.Begin(ctx, r, "")
		if err != nil || tx.Status != tcc.TxConfirming {
			t.Fatalf("%+v %v", tx, err)
		}
		xids = append(xids, tx.XID)
	}
	for i := 0; i < n; i++ {
		<-held // every Confirm is in flight
	}

	etcd.stop()
	eventually(t, 20*time.Second, "begins refused", func() bool {
		status, retryAfter, code := rawCall(t, http.MethodPost, base+"/v1/transactions", threeBranches(tcc.WaitCompletion, 2000))
		return status == http.StatusServiceUnavailable && code == "NOT_READY" && retryAfter != ""
	})
	if status, _, _ := rawCall(t, http.MethodGet, base+"/readyz", nil); status != http.StatusServiceUnavailable {
		t.Fatalf("readyz during the outage: %d", status)
	}
	close(release)
	for _, xid := range xids {
		eventually(t, 20*time.Second, "confirmed during the etcd outage", func() bool { return statusOf(c, xid) == tcc.TxConfirmed })
	}
	if status, _, _ := rawCall(t, http.MethodGet, base+"/readyz", nil); status != http.StatusServiceUnavailable {
		t.Fatalf("etcd came back by itself? readyz %d", status)
	}

	etcd.start()
	eventually(t, 30*time.Second, "ready again after etcd returned", func() bool {
		status, _, _ := rawCall(t, http.MethodGet, base+"/readyz", nil)
		return status == http.StatusOK
	})
	tx, err := c.Begin(ctx, threeBranches(tcc.WaitCompletion, 5000), "")
	if err != nil || tx.Status != tcc.TxConfirmed {
		t.Fatalf("after etcd returned: %+v %v", tx, err)
	}
	for _, xid := range xids {
		if k := e.parts["payment"].Count(xid, tcc.PhaseConfirm); k != 1 {
			t.Errorf("%s confirmed %d times", xid, k)
		}
	}
}
