package engine

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	top := func(d time.Duration) time.Duration { return d - 1 } // the largest jitter
	zero := func(time.Duration) time.Duration { return 0 }
	ms := time.Millisecond
	cases := []struct {
		name          string
		base, ceiling time.Duration
		attempt       int
		jitter        func(time.Duration) time.Duration
		want          time.Duration
	}{
		{"first attempt, top of the range", 100 * ms, time.Second, 1, top, 100*ms - 1 + minBackoff},
		{"doubles per attempt", 100 * ms, time.Second, 3, top, 400*ms - 1 + minBackoff},
		{"capped", 100 * ms, time.Second, 10, top, time.Second - 1 + minBackoff},
		{"huge attempt does not overflow", 100 * ms, time.Hour, 1 << 30, top, time.Hour - 1 + minBackoff},
		{"full jitter reaches the floor", 100 * ms, time.Second, 5, zero, minBackoff},
		{"zero base never spins", 0, 0, 1, top, 2*minBackoff - 1},
		{"zero base, zero jitter", 0, 0, 7, zero, minBackoff},
		{"ceiling below base counts as base", 50 * ms, ms, 4, top, 50*ms - 1 + minBackoff},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := backoff(tc.base, tc.ceiling, tc.attempt, tc.jitter); got != tc.want {
				t.Fatalf("backoff(%v, %v, %d) = %v, want %v", tc.base, tc.ceiling, tc.attempt, got, tc.want)
			}
		})
	}
}

// TestUniformJitterRange: the production jitter stays in [0, d).
func TestUniformJitterRange(t *testing.T) {
	for i := 0; i < 1000; i++ {
		if j := uniformJitter(10 * time.Millisecond); j < 0 || j >= 10*time.Millisecond {
			t.Fatalf("jitter %v out of [0, 10ms)", j)
		}
	}
}
