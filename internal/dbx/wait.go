package dbx

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// WaitAvailable runs fn, and again while it fails because the database is unreachable
// (IsUnavailable) and wait has not run out, backing off from 100 ms to 2 s and logging
// each failure: a component started while its database is down (or restarting) comes up
// once it is back instead of exiting. Any other error, the end of ctx, or wait running
// out returns the last error. wait <= 0 runs fn once.
func WaitAvailable(ctx context.Context, wait time.Duration, log *slog.Logger, fn func(context.Context) error) error {
	deadline := time.Now().Add(wait)
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil || !IsUnavailable(err) || wait <= 0 {
			return err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("database unreachable for %s: %w", wait, err)
		}
		d := min(backoff, left)
		log.Warn("database unreachable; waiting for it", "attempt", attempt, "retry_in", d.String(), "err", err)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}
