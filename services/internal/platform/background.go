package platform

import (
	"context"
	"time"
)

// Background runs fn in a goroutine with a context that the returned stop cancels; stop
// then waits for fn to return, so a service calls it before closing what fn uses.
// Calling stop more than once is harmless.
func Background(fn func(ctx context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// Job is work a service runs in the background while it serves (Parts.Jobs): it runs
// until ctx ends, and Run waits for it to return before the database closes.
type Job func(ctx context.Context)

// Every returns a Job that calls run every interval (the first call one interval after
// the start) until its context ends; a call in progress then finishes first. An interval
// of zero or less disables it: Every returns nil, which Run skips.
func Every(interval time.Duration, run func(ctx context.Context)) Job {
	if interval <= 0 {
		return nil
	}
	return func(ctx context.Context) {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				run(ctx)
			}
		}
	}
}
