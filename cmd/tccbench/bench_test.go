package main

import (
	"context"
	"io"
	"strings"
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

// TestReconcile checks that the invariant check counts orders from the services: an
// order answered 503 (or not answered) may be placed, and is reported, not flagged; an
// order answered 201 that is not CONFIRMED is flagged.
func TestReconcile(t *testing.T) {
	before := map[string]string{"old": "CONFIRMED"}
	cases := []struct {
		name             string
		after, answers   map[string]string
		confirmed, by503 int
		broken           []string
	}{
		{"all answered", map[string]string{"old": "CONFIRMED", "a": "CONFIRMED", "b": "CANCELLED"},
			map[string]string{"a": "201 CONFIRMED", "b": "409 OUT_OF_STOCK"}, 1, 0, nil},
		{"503 but placed", map[string]string{"old": "CONFIRMED", "a": "CONFIRMED", "c": "CONFIRMED"},
			map[string]string{"a": "201 CONFIRMED", "c": "503 UNDECIDED"}, 2, 1, nil},
		{"no answer but placed", map[string]string{"old": "CONFIRMED", "d": "CONFIRMED"},
			map[string]string{}, 1, 0, nil},
		{"201 but cancelled", map[string]string{"old": "CONFIRMED", "e": "CANCELLED"},
			map[string]string{"e": "201 CONFIRMED"}, 0, 0, []string{"e"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := reconcile(before, tc.after, tc.answers)
			if p.Confirmed != tc.confirmed || p.placedDespite503() != tc.by503 || strings.Join(p.AnsweredNotConfirmed, ",") != strings.Join(tc.broken, ",") {
				t.Errorf("%+v", p)
			}
		})
	}
}

// TestConservation checks the bench's conservation check on two snapshots.
func TestConservation(t *testing.T) {
	before := snapshot{
		stock:    map[string]stockJSON{"A": {Available: 10}},
		accounts: map[string]accountJSON{"u": {Balance: 100}},
	}
	cases := []struct {
		name              string
		after             snapshot
		violations        int
		sold, capturedSum int64
	}{
		{"one order settled", snapshot{
			stock:    map[string]stockJSON{"A": {Available: 8, Sold: 2}},
			accounts: map[string]accountJSON{"u": {Balance: 80, Captured: 20}},
		}, 0, 2, 20},
		{"still reserved and frozen", snapshot{
			stock:    map[string]stockJSON{"A": {Available: 8, Reserved: 2}},
			accounts: map[string]accountJSON{"u": {Balance: 80, Frozen: 20}},
		}, 2, 0, 0},
		{"units and money lost", snapshot{
			stock:    map[string]stockJSON{"A": {Available: 7, Sold: 2}},
			accounts: map[string]accountJSON{"u": {Balance: 70, Captured: 20}},
		}, 2, 2, 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, sold, captured := conservation(before, tc.after)
			if len(v) != tc.violations || sold != tc.sold || captured != tc.capturedSum {
				t.Errorf("conservation = %v, sold %d, captured %d; want %d violations, sold %d, captured %d",
					v, sold, captured, tc.violations, tc.sold, tc.capturedSum)
			}
		})
	}
}
