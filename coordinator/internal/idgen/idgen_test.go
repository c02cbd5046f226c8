package idgen

import (
	"errors"
	"testing"
	"time"
)

func TestMonotonicAndBackwards(t *testing.T) {
	g := New()
	if _, err := g.Next(); !errors.Is(err, ErrStopped) {
		t.Fatalf("unstarted: %v", err)
	}
	now := Epoch.Add(time.Hour)
	g.now = func() time.Time { return now }
	if err := g.Start(7); err != nil {
		t.Fatal(err)
	}
	prev := ""
	for i := 0; i < 10000; i++ { // spans several sequence overflows in one millisecond
		id, err := g.Next()
		if err != nil {
			t.Fatal(err)
		}
		if id <= prev {
			t.Fatalf("not increasing: %s after %s", id, prev)
		}
		prev = id
	}
	now = now.Add(-time.Second) // small step back: still increasing
	id, err := g.Next()
	if err != nil || id <= prev {
		t.Fatalf("small step back: %s %v", id, err)
	}
	now = now.Add(-time.Minute)
	if _, err := g.Next(); !errors.Is(err, ErrClockBackwards) {
		t.Fatalf("big step back: %v", err)
	}
	g.Stop()
	if _, err := g.Next(); !errors.Is(err, ErrStopped) {
		t.Fatalf("stopped: %v", err)
	}
	if err := g.Start(MaxWorkers); err == nil {
		t.Fatal("worker out of range accepted")
	}
}
