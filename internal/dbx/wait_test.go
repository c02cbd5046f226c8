package dbx_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/tccsuite/tccsuite/internal/dbx"
)

// TestWaitAvailable: an unreachable database is waited for (and the call made again once
// it answers); any other error, or an exhausted wait, ends it at once.
func TestWaitAvailable(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	down := &mysqldrv.MySQLError{Number: 1053} // server shutdown in progress
	other := errors.New("syntax")
	cases := []struct {
		name      string
		wait      time.Duration
		results   []error
		wantCalls int
		wantErr   error
	}{
		{"up at once", time.Minute, []error{nil}, 1, nil},
		{"down, then up", time.Minute, []error{down, down, nil}, 3, nil},
		{"another error is not waited on", time.Minute, []error{other, nil}, 1, other},
		{"no wait asked", 0, []error{down, nil}, 1, down},
		{"the wait runs out", 150 * time.Millisecond, []error{down, down, down, down, down, down}, 0, down},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := dbx.WaitAvailable(context.Background(), tc.wait, quiet, func(context.Context) error {
				calls++
				if calls > len(tc.results) {
					return down
				}
				return tc.results[calls-1]
			})
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if tc.wantCalls > 0 && calls != tc.wantCalls {
				t.Fatalf("%d calls, want %d", calls, tc.wantCalls)
			}
			if tc.wantCalls == 0 && calls < 2 {
				t.Fatalf("%d calls: the wait was not used", calls)
			}
		})
	}
}

// TestWaitAvailableCtxDone: the end of ctx stops the wait at once with the last error.
func TestWaitAvailableCtxDone(t *testing.T) {
	down := &mysqldrv.MySQLError{Number: 1053}
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	start := time.Now()
	err := dbx.WaitAvailable(ctx, time.Minute, slog.New(slog.DiscardHandler), func(context.Context) error {
		calls++
		cancel()
		return down
	})
	if !errors.Is(err, down) || calls != 1 {
		t.Fatalf("err %v after %d calls, want %v after 1", err, calls, down)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %s: the wait did not end with ctx", d)
	}
}
