package breaker

import (
	"testing"
	"time"
)

func TestBreaker(t *testing.T) {
	now := time.Unix(1000, 0)
	var states []State
	b := New(3, time.Second, func(s State) { states = append(states, s) })
	b.now = func() time.Time { return now }
	for i := 0; i < 2; i++ {
		if !b.Allow() {
			t.Fatal("closed breaker refused")
		}
		b.Failure()
	}
	b.Success() // resets the count
	for i := 0; i < 3; i++ {
		b.Failure()
	}
	if b.State() != Open || b.Allow() {
		t.Fatal("not open after 3 failures")
	}
	now = now.Add(time.Second)
	if !b.Allow() {
		t.Fatal("no probe after cooldown")
	}
	if b.Allow() {
		t.Fatal("two probes at once")
	}
	b.Failure()
	if b.State() != Open || b.Allow() {
		t.Fatal("failed probe did not reopen")
	}
	now = now.Add(time.Second)
	if !b.Allow() {
		t.Fatal("no probe")
	}
	b.Success()
	if b.State() != Closed || !b.Allow() {
		t.Fatal("not closed after a good probe")
	}
	want := []State{Open, HalfOpen, Open, HalfOpen, Closed}
	if len(states) != len(want) {
		t.Fatalf("states %v", states)
	}
	for i := range want {
		if states[i] != want[i] {
			t.Fatalf("states %v", states)
		}
	}
	off := New(0, 0, nil)
	for i := 0; i < 10; i++ {
		off.Failure()
	}
	if !off.Allow() {
		t.Fatal("disabled breaker opened")
	}
}

// TestOnChangeUnderLock: onChange runs with the breaker's lock held (as New documents),
// so concurrent changes are reported in the order they happen.
func TestOnChangeUnderLock(t *testing.T) {
	var b *Breaker
	calls := 0
	b = New(1, time.Hour, func(State) {
		calls++
		if b.mu.TryLock() {
			b.mu.Unlock()
			t.Error("onChange ran without the breaker's lock")
		}
	})
	b.Failure()
	if calls != 1 {
		t.Fatalf("onChange called %d times, want 1", calls)
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{Closed: "closed", Open: "open", HalfOpen: "half-open", State(7): "State(7)"} {
		if got := s.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(s), got, want)
		}
	}
}
