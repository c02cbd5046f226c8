package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tccsuite/tccsuite/internal/testenv"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// BenchmarkCoordinator measures three-branch transactions through the HTTP API against
// MariaDB, with no-op participants, waiting for the decision or for completion, at
// concurrency 1 and 50. It reports transactions per second and p50/p99 latency.
//
//	go test -run '^$' -bench Coordinator -benchtime 3000x ./coordinator/app/
func BenchmarkCoordinator(b *testing.B) {
	noop := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"outcome":"applied"}`))
	})
	e := &env{etcd: testenv.Etcd(b), dsn: testenv.NewMySQLDSN(b)}
	var ps []string
	for _, n := range []string{"order", "inventory", "payment"} {
		s := httptest.NewServer(noop)
		b.Cleanup(s.Close)
		ps = append(ps, n+"="+s.URL)
	}
	c, _ := e.start(b, "bench", map[string]string{"TCC_PARTICIPANTS": strings.Join(ps, ","), "TCC_DB_MAX_CONNS": "64"})
	for _, wait := range []string{tcc.WaitDecision, tcc.WaitCompletion} {
		for _, conc := range []int{1, 50} {
			b.Run(fmt.Sprintf("wait=%s/conc=%d", wait, conc), func(b *testing.B) {
				req := threeBranches(wait, 5000)
				lat := make([]time.Duration, b.N)
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				start := time.Now()
				for g := 0; g < conc; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := next.Add(1) - 1
							if i >= int64(b.N) {
								return
							}
							t0 := time.Now()
							tx, err := c.Begin(context.Background(), req, "")
							if err != nil {
								b.Error(err)
								return
							}
							if (wait == tcc.WaitCompletion && tx.Status != tcc.TxConfirmed) ||
								(wait == tcc.WaitDecision && tx.Status != tcc.TxConfirming && tx.Status != tcc.TxConfirmed) {
								b.Errorf("status %s", tx.Status)
								return
							}
							lat[i] = time.Since(t0)
						}
					}()
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
				pct := func(p float64) float64 {
					return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) / 1000
				}
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "tx/s")
				b.ReportMetric(pct(0.50), "p50-ms")
				b.ReportMetric(pct(0.99), "p99-ms")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
	_ = json.RawMessage(nil)
}
