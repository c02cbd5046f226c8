package service

import (
	"testing"
	"time"
)

// TestBudgetsNest: for every transaction timeout T the order's waits nest with margins:
// the participant's deadline T inside the wait budget announced to the coordinator
// (the call less its tenth, at most 1s), inside the order's coordinator call, inside the
// whole request.
func TestBudgetsNest(t *testing.T) {
	cases := []struct {
		tx                           time.Duration
		lookup, coordinator, request time.Duration
	}{
		{100 * time.Millisecond, 500 * time.Millisecond, 1200 * time.Millisecond, 4200 * time.Millisecond},
		{time.Second, time.Second, 3 * time.Second, 7 * time.Second},
		{5 * time.Second, 3 * time.Second, 11 * time.Second, 19 * time.Second},
		{5 * time.Minute, 3 * time.Second, 601 * time.Second, 609 * time.Second},
	}
	for _, tc := range cases {
		b := BudgetsFor(tc.tx)
		if b.Lookup != tc.lookup || b.Coordinator != tc.coordinator || b.Request != tc.request {
			t.Errorf("T=%v: %+v", tc.tx, b)
		}
		margin := min(max(b.Coordinator/10, 20*time.Millisecond), time.Second)
		announced := b.Coordinator - margin
		if tc.tx >= announced || announced >= b.Coordinator || b.Coordinator+2*b.Lookup >= b.Request {
			t.Errorf("T=%v: T %v, announced %v, call %v, request %v do not nest", tc.tx, tc.tx, announced, b.Coordinator, b.Request)
		}
	}
}
