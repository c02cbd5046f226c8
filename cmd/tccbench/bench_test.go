package main

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/tccsuite/tccsuite/internal/testenv"
)

func TestReportFill(t *testing.T) {
	var res results
	for i := 1; i <= 100; i++ {
		kind := "201 CONFIRMED"
		if i%10 == 0 {
			kind = "503 UNAVAILABLE"
		}
		res.all = append(res.all, result{kind, time.Duration(i) * time.Millisecond})
	}
	res.elapsed = 2 * time.Second
	var r report
	r.fill(res, func(k string) bool { return k == "201 CONFIRMED" })
	if r.Requests != 100 || r.OK != 90 || r.PerSecond != 50 || r.OKPerSecond != 45 {
		t.Errorf("counts %+v", r)
	}
	if r.P50ms != 51 || r.P99ms != 100 || r.MaxMs != 100 || r.Answers["503 UNAVAILABLE"] != 10 {
		t.Errorf("latencies %+v", r)
	}
}

// TestCoordinatorMode runs the coordinator benchmark briefly on MariaDB: it must start
// everything it needs, confirm every transaction, and clean up.
func TestCoordinatorMode(t *testing.T) {
	cfg := config{mysql: testenv.MySQLServerDSN(), concurrency: 2, duration: time.Second, branches: 3, wait: "completion"}
	rep, err := coordBench(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK == 0 || rep.OK != rep.Requests || rep.P50ms <= 0 {
		t.Fatalf("report %+v", rep)
	}
}
