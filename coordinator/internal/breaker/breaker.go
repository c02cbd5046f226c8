// Package breaker is a small per-participant circuit breaker. After Threshold
// consecutive failures it opens for Cooldown: Allow answers false, so Tries fail fast and
// their transactions are cancelled at once instead of waiting for a timeout. After the
// cooldown one probe at a time is let through (half-open); a success closes it.
package breaker

import (
	"strconv"
	"sync"
	"time"
)

// State of a breaker.
type State int

// States.
const (
	Closed State = iota
	Open
	HalfOpen
)

// String is "closed", "open" or "half-open".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Breaker is safe for concurrent use.
type Breaker struct {
	threshold int
	cooldown  time.Duration
	now       func() time.Time

	mu       sync.Mutex
	failures int
	state    State
	openedAt time.Time
	probing  bool
	onChange func(State)
}

// New returns a closed breaker. threshold <= 0 disables it (always closed). onChange,
// if not nil, is called on every state change with the breaker's lock held, so the
// changes are reported in the order they happen (a gauge set from it never ends on a
// stale state); it must be quick and must not call the breaker.
func New(threshold int, cooldown time.Duration, onChange func(State)) *Breaker {
	return &Breaker{threshold: threshold, cooldown: cooldown, now: time.Now, onChange: onChange}
}

// Allow reports whether a call may go out now. In half-open state it lets one probe
// through at a time; the probe's Success or Failure settles the state.
func (b *Breaker) Allow() bool {
	if b.threshold <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case Closed:
		return true
	case Open:
		if b.now().Sub(b.openedAt) < b.cooldown {
			return false
		}
		b.setState(HalfOpen)
		b.probing = true
		return true
	default: // HalfOpen
		if b.probing {
			return false
		}
		b.probing = true
		return true
	}
}

// Success records a call that got an answer (any answer that proves the participant is
// up, including a refusal).
func (b *Breaker) Success() {
	if b.threshold <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures = 0
	b.probing = false
	if b.state != Closed {
		b.setState(Closed)
	}
}

// Failure records a call whose outcome is unknown (connection error, timeout, 5xx).
func (b *Breaker) Failure() {
	if b.threshold <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures++
	b.probing = false
	if b.state == HalfOpen || (b.state == Closed && b.failures >= b.threshold) {
		b.openedAt = b.now()
		b.setState(Open)
	}
}

// State returns the current state.
func (b *Breaker) State() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

// setState changes the state and reports it; b.mu is held.
func (b *Breaker) setState(s State) {
	b.state = s
	if b.onChange != nil {
		b.onChange(s)
	}
}
