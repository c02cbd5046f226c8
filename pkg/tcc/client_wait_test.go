package tcc_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// TestBeginWaitBudget: Begin tells the coordinator how long it will wait for the answer
// (HeaderWaitBudget, ms): the earlier of the client's timeout and ctx's deadline, less a
// tenth of it (within [20ms, 1s]) for the answer's way back, so a coordinator that waits
// no longer always answers in time.
func TestBeginWaitBudget(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get(tcc.HeaderWaitBudget)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"xid":"x1","status":"CONFIRMED"}`))
	}))
	defer srv.Close()
	cases := []struct {
		name     string
		timeout  time.Duration
		deadline time.Duration // of ctx; 0: none
		min, max int64         // ms announced
	}{
		{"client timeout", 11 * time.Second, 0, 10_000, 10_000},
		{"ctx deadline sooner", 11 * time.Second, 2 * time.Second, 1_700, 1_800},
		{"client timeout sooner", 1200 * time.Millisecond, 5 * time.Second, 1_080, 1_080},
		{"short budget keeps a 20ms margin", 100 * time.Millisecond, 0, 80, 80},
		{"no client timeout: ctx deadline", 0, 2 * time.Second, 1_700, 1_800},
		{"no bound at all: nothing announced", 0, 0, -1, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tcc.NewClient(srv.URL, tcc.WithTimeout(tc.timeout))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			if _, err := c.Begin(ctx, tcc.BeginRequest{}, "k"); err != nil {
				t.Fatal(err)
			}
			h := <-got
			if tc.max < 0 {
				if h != "" {
					t.Fatalf("announced %q for an unbounded call", h)
				}
				return
			}
			ms, err := strconv.ParseInt(h, 10, 64)
			if err != nil || ms < tc.min || ms > tc.max {
				t.Fatalf("announced %d ms (%v), want %d..%d", ms, err, tc.min, tc.max)
			}
		})
	}
}
