package app_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tccsuite/tccsuite/coordinator/internal/testpart"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// TestBreakerAndMetrics: while a participant is down its Tries fail fast (no call goes
// out) and the transactions are cancelled; its Cancels keep being sent; /metrics shows
// the counters.
func TestBreakerAndMetrics(t *testing.T) {
	e := newEnv(t)
	c, base := e.start(t, "breaker", map[string]string{"TCC_BREAKER_FAILURES": "3", "TCC_BREAKER_COOLDOWN": "1m"})
	ctx := context.Background()
	var down atomic.Bool
	down.Store(true)
	e.parts["payment"].SetBehave(func(testpart.Call) testpart.Answer {
		if down.Load() {
			return testpart.Answer{Status: http.StatusServiceUnavailable, Code: "DOWN"}
		}
		return testpart.Answer{}
	})
	var xids []string
	for i := 0; i < 3; i++ {
		tx, err := c.Begin(ctx, threeBranches(tcc.WaitDecision, 5000), "")
		if err != nil || tx.Status != tcc.TxCancelling {
			t.Fatalf("%+v %v", tx, err)
		}
		xids = append(xids, tx.XID)
	}
	drain := func() (tries int) {
		for {
			select {
			case call := <-e.parts["payment"].Seen():
				if call.Phase == tcc.PhaseTry {
					tries++
				}
			default:
				return tries
			}
		}
	}
	drain()
	t0 := time.Now()
	tx, err := c.Begin(ctx, threeBranches(tcc.WaitDecision, 5000), "")
	if err != nil || tx.Status != tcc.TxCancelling {
		t.Fatalf("%+v %v", tx, err)
	}
	t.Logf("fail-fast transaction decided in %v", time.Since(t0))
	if n := drain(); n != 0 {
		t.Fatalf("open breaker let %d Tries through", n)
	}
	if !strings.Contains(tx.Branches[2].LastError, "breaker") {
		t.Fatalf("branch %+v", tx.Branches[2])
	}
	// Cancels go on through the open breaker and finish once the participant is back.
	down.Store(false)
	xids = append(xids, tx.XID)
	for _, x := range xids {
		eventually(t, 10*time.Second, "cancelled", func() bool { return statusOf(c, x) == tcc.TxCancelled })
		if e.parts["payment"].Count(x, tcc.PhaseCancel) != 1 {
			t.Fatal("cancel not delivered")
		}
	}

	resp, err := httpGet(t, base+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	for _, want := range []string{
		`tcc_coordinator_transactions_total{status="CANCELLED"} 4`,
		`tcc_coordinator_branch_calls_total{outcome="breaker_open",participant="payment",phase="try"}`,
		`tcc_coordinator_in_flight`, `tcc_coordinator_attention`, `tcc_coordinator_branch_call_seconds_bucket`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s in\n%s", want, grepLines(string(body), "tcc_coordinator_branch_calls_total"))
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
