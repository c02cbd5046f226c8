package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tccsuite/tccsuite/coordinator/internal/store"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// applyStore records each Apply; failFirst calls fail with a transient error, the first
// successful call waits for release (if set), and fenced lists the XIDs it reports
// fenced.
type applyStore struct {
	store.Store // nil: only Apply is called
	mu          sync.Mutex
	calls       []store.Results
	failFirst   int
	entered     chan struct{}
	release     chan struct{}
	fenced      []string
}

var errTransient = fmt.Errorf("database unreachable: %w", context.DeadlineExceeded)

func (s *applyStore) Apply(_ context.Context, r store.Results) ([]string, error) {
	s.mu.Lock()
	s.calls = append(s.calls, r)
	n := len(s.calls)
	s.mu.Unlock()
	if n <= s.failFirst {
		return nil, errTransient
	}
	if n == s.failFirst+1 && s.release != nil {
		s.entered <- struct{}{}
		<-s.release
	}
	return s.fenced, nil
}

type fencedCall struct{ xid, owner string }

func newTestWriter(st *applyStore) (*writer, *[]fencedCall) {
	var mu sync.Mutex
	var fenced []fencedCall
	w := newWriter(writerDeps{
		store: st, log: slog.New(slog.DiscardHandler),
		size:     prometheus.NewHistogram(prometheus.HistogramOpts{Name: "x"}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "y"}),
		onFenced: func(xid, owner string) { mu.Lock(); fenced = append(fenced, fencedCall{xid, owner}); mu.Unlock() },
		stop:     make(chan struct{}),
		jitter:   func(time.Duration) time.Duration { return 0 },
	})
	return w, &fenced
}

func branchItem(xid, owner, branch string, status tcc.BranchStatus, attempts int, done func()) resultItem {
	return resultItem{branch: &store.BranchUpdate{XID: xid, Owner: owner, BranchID: branch, Status: status, Attempts: attempts}, done: done}
}

// TestWriterCoalesces: what is queued while a write is under way goes in one write, the
// last update of a branch superseding the earlier ones, in the order first queued.
func TestWriterCoalesces(t *testing.T) {
	st := &applyStore{entered: make(chan struct{}, 1), release: make(chan struct{})}
	w, _ := newTestWriter(st)
	w.add(branchItem("x1", "o", "1", tcc.BranchTried, 1, nil))
	<-st.entered // the first write holds the writer
	w.add(branchItem("x1", "o", "1", tcc.BranchTried, 2, nil))
	w.add(branchItem("x1", "o", "2", tcc.BranchTried, 1, nil))
	w.add(branchItem("x1", "o", "1", tcc.BranchConfirmed, 3, nil))
	w.add(resultItem{attention: "x1"})
	w.add(resultItem{finish: &store.Finish{XID: "x1", Owner: "o", From: tcc.TxConfirming, To: tcc.TxConfirmed}})
	close(st.release)
	w.close()
	if len(st.calls) != 2 {
		t.Fatalf("%d writes, want 2 (the first, then everything queued behind it)", len(st.calls))
	}
	r := st.calls[1]
	want := []store.BranchUpdate{
		{XID: "x1", Owner: "o", BranchID: "1", Status: tcc.BranchConfirmed, Attempts: 3},
		{XID: "x1", Owner: "o", BranchID: "2", Status: tcc.BranchTried, Attempts: 1},
	}
	if fmt.Sprint(r.Branches) != fmt.Sprint(want) || len(r.Attention) != 1 || len(r.Finishes) != 1 {
		t.Fatalf("second write %+v, want branches %+v, one attention, one finish", r, want)
	}
}

// TestWriterRetriesTransient: a write that fails because the database is unreachable is
// retried until it succeeds; done runs once, after the successful write.
func TestWriterRetriesTransient(t *testing.T) {
	st := &applyStore{failFirst: 3}
	w, _ := newTestWriter(st)
	done := make(chan struct{})
	w.add(branchItem("x1", "o", "1", tcc.BranchConfirmed, 1, func() { close(done) }))
	<-done
	w.close()
	if len(st.calls) != 4 {
		t.Fatalf("%d attempts, want 4 (3 failures, then the write)", len(st.calls))
	}
}

// TestWriterFencing: an XID the store reports fenced stops the runs of the owners that
// wrote it in the batch (and only those).
func TestWriterFencing(t *testing.T) {
	st := &applyStore{fenced: []string{"x1"}, entered: make(chan struct{}, 1), release: make(chan struct{})}
	w, fenced := newTestWriter(st)
	w.add(branchItem("x0", "o0", "1", tcc.BranchTried, 1, nil))
	<-st.entered
	w.add(branchItem("x1", "old", "1", tcc.BranchConfirmed, 1, nil))
	w.add(resultItem{finish: &store.Finish{XID: "x1", Owner: "old", From: tcc.TxConfirming, To: tcc.TxConfirmed}})
	w.add(branchItem("x2", "o2", "1", tcc.BranchConfirmed, 1, nil))
	close(st.release)
	w.close()
	// The first write reported x1 fenced too, but it held no x1 write: nobody to stop.
	if len(*fenced) != 1 || (*fenced)[0] != (fencedCall{"x1", "old"}) {
		t.Fatalf("onFenced calls %v, want [{x1 old}]", *fenced)
	}
}
