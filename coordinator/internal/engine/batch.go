package engine

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tccsuite/tccsuite/coordinator/internal/store"
)

// batcher group-commits the synchronous writes (begins, decisions) of concurrent
// transactions: each worker takes one request, then whatever else is already queued (no
// timer: under no load a request goes alone at once, under load they share a commit).
type batcher[I, O any] struct {
	ch   chan batchReq[I, O]
	fn   func(ctx context.Context, in []I) []O
	max  int
	size prometheus.Observer
	wg   sync.WaitGroup
}

type batchReq[I, O any] struct {
	in  I
	out chan O
}

func newBatcher[I, O any](workers, max int, size prometheus.Observer, fn func(context.Context, []I) []O) *batcher[I, O] {
	b := &batcher[I, O]{ch: make(chan batchReq[I, O], 4096), fn: fn, max: max, size: size}
	for i := 0; i < workers; i++ {
		b.wg.Add(1)
		go b.work()
	}
	return b
}

// do submits in and waits for its result. It must not be called after close.
func (b *batcher[I, O]) do(in I) O {
	r := batchReq[I, O]{in: in, out: make(chan O, 1)}
	b.ch <- r
	return <-r.out
}

func (b *batcher[I, O]) work() {
	defer b.wg.Done()
	reqs := make([]batchReq[I, O], 0, b.max)
	ins := make([]I, 0, b.max)
	for first := range b.ch {
		reqs = append(reqs[:0], first)
	drain:
		for len(reqs) < b.max {
			select {
			case r, ok := <-b.ch:
				if !ok {
					break drain
				}
				reqs = append(reqs, r)
			default:
				break drain
			}
		}
		ins = ins[:0]
		for _, r := range reqs {
			ins = append(ins, r.in)
		}
		b.size.Observe(float64(len(ins)))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		outs := b.fn(ctx, ins)
		cancel()
		for i, r := range reqs {
			r.out <- outs[i]
		}
	}
}

func (b *batcher[I, O]) close() {
	close(b.ch)
	b.wg.Wait()
}

// resultItem is one asynchronous write; done, if set, runs after it is durable.
type resultItem struct {
	branch    *store.BranchUpdate
	attention string
	finish    *store.Finish
	done      func()
}

// writer writes results (branch statuses, attention flags, final statuses)
// asynchronously, coalescing what is queued into one database transaction.
type writer struct {
	st   store.Store
	ch   chan resultItem
	log  *slog.Logger
	size prometheus.Observer
	done chan struct{}
}

func newWriter(st store.Store, log *slog.Logger, size prometheus.Observer) *writer {
	w := &writer{st: st, ch: make(chan resultItem, 1<<16), log: log, size: size, done: make(chan struct{})}
	go w.loop()
	return w
}

func (w *writer) add(it resultItem) { w.ch <- it }

func (w *writer) loop() {
	defer close(w.done)
	const max = 2000
	for first := range w.ch {
		items := []resultItem{first}
	drain:
		for len(items) < max {
			select {
			case it, ok := <-w.ch:
				if !ok {
					break drain
				}
				items = append(items, it)
			default:
				break drain
			}
		}
		var r store.Results
		type bk struct{ xid, branch string }
		idx := map[bk]int{}
		for _, it := range items {
			switch {
			case it.branch != nil:
				k := bk{it.branch.XID, it.branch.BranchID}
				if i, ok := idx[k]; ok {
					r.Branches[i] = *it.branch // a later status supersedes an earlier one
				} else {
					idx[k] = len(r.Branches)
					r.Branches = append(r.Branches, *it.branch)
				}
			case it.attention != "":
				r.Attention = append(r.Attention, it.attention)
			case it.finish != nil:
				r.Finishes = append(r.Finishes, *it.finish)
			}
		}
		w.size.Observe(float64(len(items)))
		backoff := 50 * time.Millisecond
		for attempt := 1; ; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := w.st.Apply(ctx, r)
			cancel()
			if err == nil {
				break
			}
			// Results are redoable: after enough attempts, drop them; recovery repeats the
			// idempotent Confirm/Cancel and writes them again.
			if attempt >= 8 {
				w.log.Error("dropping a batch of results after repeated failures; recovery will redo them", "err", err, "items", len(items))
				break
			}
			w.log.Warn("writing results failed; retrying", "err", err, "attempt", attempt)
			time.Sleep(rand.N(backoff)) // off the hot path: only this writer waits
			backoff = min(backoff*2, 5*time.Second)
		}
		for _, it := range items {
			if it.done != nil {
				it.done()
			}
		}
	}
}

// close flushes what is queued and stops. No add may follow.
func (w *writer) close() {
	close(w.ch)
	<-w.done
}
