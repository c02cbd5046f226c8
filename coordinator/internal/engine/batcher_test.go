package engine

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// gate is a batch function that records each call's inputs and holds its first call
// until released, so that the requests made meanwhile queue up behind it.
type gate struct {
	mu      sync.Mutex
	calls   [][]int
	entered chan struct{}
	release chan struct{}
	answer  func(in []int) []error
}

func newGate(answer func(in []int) []error) *gate {
	return &gate{entered: make(chan struct{}, 1), release: make(chan struct{}), answer: answer}
}

func (g *gate) fn(_ context.Context, in []int) []error {
	g.mu.Lock()
	first := len(g.calls) == 0
	g.calls = append(g.calls, append([]int(nil), in...))
	g.mu.Unlock()
	if first {
		g.entered <- struct{}{}
		<-g.release
	}
	return g.answer(in)
}

// queueUntil yields until b has n requests queued (they are sent by goroutines the
// caller started; no sleep).
func queueUntil(b *batcher[int, error], n int) {
	for len(b.ch) < n {
		runtime.Gosched()
	}
}

// TestBatcherGroupCommit: requests made while a commit is under way share the next
// call, and each caller gets its own element's answer; an error of the whole call
// reaches every caller that shared it.
func TestBatcherGroupCommit(t *testing.T) {
	errOdd := errors.New("odd")
	errAll := errors.New("the whole commit failed")
	cases := []struct {
		name   string
		answer func(in []int) []error
		want   func(v int) error
	}{
		{"per-element errors", func(in []int) []error {
			out := make([]error, len(in))
			for i, v := range in {
				if v%2 == 1 {
					out[i] = errOdd
				}
			}
			return out
		}, func(v int) error {
			if v%2 == 1 {
				return errOdd
			}
			return nil
		}},
		{"one error for all", func(in []int) []error {
			out := make([]error, len(in))
			for i := range out {
				out[i] = errAll
			}
			return out
		}, func(int) error { return errAll }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGate(tc.answer)
			b := newBatcher(1, 16, prometheus.NewHistogram(prometheus.HistogramOpts{Name: "x"}), g.fn)
			defer b.close()
			got := make([]error, 9)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); got[0] = b.do(0) }()
			<-g.entered // the first commit is under way with request 0 alone
			for v := 1; v < len(got); v++ {
				wg.Add(1)
				go func() { defer wg.Done(); got[v] = b.do(v) }()
			}
			queueUntil(b, len(got)-1)
			close(g.release)
			wg.Wait()
			if len(g.calls) != 2 || len(g.calls[0]) != 1 || len(g.calls[1]) != len(got)-1 {
				t.Fatalf("calls %v, want [[0] [the 8 others]]", g.calls)
			}
			for v, err := range got {
				if !errors.Is(err, tc.want(v)) || (tc.want(v) == nil && err != nil) {
					t.Errorf("request %d answered %v, want %v", v, err, tc.want(v))
				}
			}
		})
	}
}

// TestBatcherMax: a batch never exceeds max; what is left goes in the next call.
func TestBatcherMax(t *testing.T) {
	g := newGate(func(in []int) []error { return make([]error, len(in)) })
	b := newBatcher(1, 3, prometheus.NewHistogram(prometheus.HistogramOpts{Name: "x"}), g.fn)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = b.do(0) }()
	<-g.entered
	for v := 1; v <= 5; v++ {
		wg.Add(1)
		go func() { defer wg.Done(); _ = b.do(v) }()
	}
	queueUntil(b, 5)
	close(g.release)
	wg.Wait()
	b.close()
	sizes := []int{}
	for _, c := range g.calls {
		sizes = append(sizes, len(c))
	}
	if len(sizes) != 3 || sizes[0] != 1 || sizes[1] != 3 || sizes[2] != 2 {
		t.Fatalf("batch sizes %v, want [1 3 2]", sizes)
	}
}
