package engine

import (
	"math/rand/v2"
	"time"
)

// minBackoff is the shortest wait between two attempts: even a zero base never retries
// in a tight loop.
const minBackoff = time.Millisecond

// backoff is the delay before retry number attempt (1-based): exponential from base
// (doubling per attempt), capped at ceiling, with full jitter: uniform in
// [minBackoff, d+minBackoff) where d is the capped exponential. A base below minBackoff
// counts as minBackoff, and a ceiling below the base as the base. jitter(d) must answer
// a duration in [0, d) (rand.N in production; tests pass a fixed one).
func backoff(base, ceiling time.Duration, attempt int, jitter func(time.Duration) time.Duration) time.Duration {
	d := max(base, minBackoff)
	ceiling = max(ceiling, d)
	for i := 1; i < attempt && d < ceiling; i++ {
		if d > ceiling/2 {
			d = ceiling
			break
		}
		d *= 2
	}
	d = min(d, ceiling)
	return jitter(d) + minBackoff
}

// uniformJitter is the production jitter: uniform in [0, d).
func uniformJitter(d time.Duration) time.Duration { return rand.N(d) } //nolint:gosec // jitter spreads retries; it guards nothing
