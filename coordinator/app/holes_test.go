package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/tccsuite/tccsuite/coordinator/internal/testpart"
	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/internal/etcdx"
	"github.com/tccsuite/tccsuite/internal/testenv"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// rawCall makes one HTTP call to the coordinator (no client-side retries) and returns
// the status, the Retry-After header and the error code of a non-2xx answer.
func rawCall(t testing.TB, method, u string, body any) (status int, retryAfter, code string) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	var eb tcc.ErrorBody
	if resp.StatusCode >= 300 {
		_ = json.NewDecoder(resp.Body).Decode(&eb)
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), eb.Code
}

// metric returns the value of the sample whose line starts with prefix (name and
// labels as /metrics prints them), or -1 if there is none.
func metric(t testing.TB, base, prefix string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, prefix+" ") {
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(l, prefix)), 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", l, err)
			}
			return v
		}
	}
	return -1
}

func branchOf(tx *tcc.Transaction, participant string) tcc.BranchInfo {
	for _, b := range tx.Branches {
		if b.Participant == participant {
			return b
		}
	}
	return tcc.BranchInfo{}
}

// TestSecondPhaseRefusedAsFinal: a Confirm or Cancel answered 409 TCC_NOT_TRIED or
// TCC_PHASE_CONFLICT makes its branch NOT_APPLIED (with the answer as last_error), flags
// the transaction, is never called again (not even by the admin retry), and the
// transaction still finishes once the other branches are done, keeping its flag. Any
// other 409 on the second phase is retried as before.
func TestSecondPhaseRefusedAsFinal(t *testing.T) {
	e := newEnv(t)
	c, base := e.start(t, "notapplied", nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		phase tcc.Phase
		code  string
		final bool
	}{
		{"confirm not tried", tcc.PhaseConfirm, tcc.CodeNotTried, true},
		{"confirm after cancel", tcc.PhaseConfirm, tcc.CodePhaseConflict, true},
		{"cancel after confirm", tcc.PhaseCancel, tcc.CodePhaseConflict, true},
		{"another 409 on confirm is retried", tcc.PhaseConfirm, "SOMETHING_ELSE", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var inventoryDown, paymentRefuses atomic.Bool
			inventoryDown.Store(true)
			paymentRefuses.Store(true)
			// payment answers the tested 409 to the tested phase; inventory's second phase
			// fails (503) until released, so the transaction stays unfinished meanwhile;
			// order refuses its Try when the tested phase is Cancel.
			e.parts["payment"].SetBehave(func(call testpart.Call) testpart.Answer {
				if call.Phase == tc.phase && paymentRefuses.Load() {
					return testpart.Answer{Status: http.StatusConflict, Code: tc.code}
				}
				return testpart.Answer{}
			})
			e.parts["inventory"].SetBehave(func(call testpart.Call) testpart.Answer {
				if call.Phase != tcc.PhaseTry && inventoryDown.Load() {
					return testpart.Answer{Status: http.StatusServiceUnavailable, Code: "DOWN"}
				}
				return testpart.Answer{}
			})
			e.parts["order"].SetBehave(func(call testpart.Call) testpart.Answer {
				if call.Phase == tcc.PhaseTry && tc.phase == tcc.PhaseCancel {
					return testpart.Answer{Status: http.StatusConflict, Code: "OUT_OF_STOCK"}
				}
				return testpart.Answer{}
			})
			defer func() {
				for _, p := range e.parts {
					p.SetBehave(nil)
				}
			}()
			tx, err := c.Begin(ctx, threeBranches(tcc.WaitDecision, 5000), "")
			if err != nil {
				t.Fatal(err)
			}
			decided, done := tcc.TxConfirming, tcc.TxConfirmed
			if tc.phase == tcc.PhaseCancel {
				decided, done = tcc.TxCancelling, tcc.TxCancelled
			}
			if tx.Status != decided {
				t.Fatalf("decided %s, want %s", tx.Status, decided)
			}
			pay := e.parts["payment"]
			if !tc.final {
				eventually(t, 10*time.Second, "payment retried", func() bool { return pay.Attempts(tx.XID, tc.phase) >= 3 })
				got, _ := c.Get(ctx, tx.XID)
				if b := branchOf(got, "payment"); b.Status == tcc.BranchNotApplied || got.Status != decided {
					t.Fatalf("a %s 409 was taken as final: %+v", tc.code, got)
				}
				paymentRefuses.Store(false)
				inventoryDown.Store(false)
				eventually(t, 10*time.Second, "finished", func() bool { return statusOf(c, tx.XID) == done })
				return
			}
			eventually(t, 10*time.Second, "payment's branch NOT_APPLIED", func() bool {
				got, err := c.Get(ctx, tx.XID)
				return err == nil && branchOf(got, "payment").Status == tcc.BranchNotApplied
			})
			got, _ := c.Get(ctx, tx.XID)
			if b := branchOf(got, "payment"); !strings.Contains(b.LastError, tc.code) || !got.Attention || got.Status != decided {
				t.Fatalf("after the final 409: %+v, payment %+v", got, b)
			}
			// The admin retry makes the waiting branch fire again, never the NOT_APPLIED one.
			before := e.parts["inventory"].Attempts(tx.XID, tc.phase)
			if _, err := c.Retry(ctx, tx.XID); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "inventory retried", func() bool {
				return e.parts["inventory"].Attempts(tx.XID, tc.phase) > before+1
			})
			inventoryDown.Store(false)
			eventually(t, 10*time.Second, "finished", func() bool { return statusOf(c, tx.XID) == done })
			if _, err := c.Retry(ctx, tx.XID); err != nil {
				t.Fatal(err)
			}
			// Stored: final status, still flagged, the branch NOT_APPLIED.
			yes := true
			eventually(t, 10*time.Second, "stored flagged and final", func() bool {
				page, err := c.List(ctx, tcc.ListOptions{Attention: &yes, Status: done})
				if err != nil {
					return false
				}
				for _, x := range page.Transactions {
					if x.XID == tx.XID {
						return branchOf(&x, "payment").Status == tcc.BranchNotApplied
					}
				}
				return false
			})
			if n := pay.Attempts(tx.XID, tc.phase); n != 1 {
				t.Fatalf("payment's refused %s was called %d times", tc.phase, n)
			}
			want := `tcc_coordinator_branches_not_applied_total{code="` + tc.code + `",participant="payment",phase="` + string(tc.phase) + `"}`
			if v := metric(t, base, want); v < 1 {
				t.Fatalf("%s = %v", want, v)
			}
		})
	}
}

// TestTakenOverRunStops: once the row of a transaction this instance drives is owned by
// another coordinator (a takeover), its next write is fenced and the run stops calling
// and does not finish the transaction: the row stays the new owner's to finish.
func TestTakenOverRunStops(t *testing.T) {
	e := newEnv(t)
	c, base := e.start(t, "fenced", nil)
	ctx := context.Background()
	e.parts["payment"].SetBehave(func(call testpart.Call) testpart.Answer {
		if call.Phase == tcc.PhaseConfirm {
			return testpart.Answer{Status: http.StatusServiceUnavailable, Code: "DOWN"}
		}
		return testpart.Answer{}
	})
	tx, err := c.Begin(ctx, threeBranches(tcc.WaitDecision, 5000), "")
	if err != nil || tx.Status != tcc.TxConfirming {
		t.Fatalf("%+v %v", tx, err)
	}
	db, err := dbx.Open(ctx, dbx.Config{MySQLDSN: e.dsn, MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer dbx.Close(db)
	// Another coordinator takes the row over (as its recovery scan's claim would).
	if err := db.Exec("UPDATE global_transactions SET owner = ? WHERE xid = ?", "elsewhere#1", tx.XID).Error; err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the run stopped", func() bool { return metric(t, base, "tcc_coordinator_in_flight") == 0 })
	e.parts["payment"].SetBehave(nil)
	var row struct{ Status, Owner string }
	if err := db.Raw("SELECT status, owner FROM global_transactions WHERE xid = ?", tx.XID).Scan(&row).Error; err != nil {
		t.Fatal(err)
	}
	if row.Status != string(tcc.TxConfirming) || row.Owner != "elsewhere#1" {
		t.Fatalf("row after the takeover: %+v", row)
	}
	got, err := c.Get(ctx, tx.XID)
	if err != nil || got.Status != tcc.TxConfirming {
		t.Fatalf("served %+v %v", got, err)
	}
}

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
