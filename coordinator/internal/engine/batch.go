package engine

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tccsuite/tccsuite/coordinator/internal/store"
	"github.com/tccsuite/tccsuite/internal/dbx"
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

// resultItem is one asynchronous write; done, if set, runs after it is durable (or was
// fenced, or given up at shutdown).
type resultItem struct {
	branch    *store.BranchUpdate
	attention string
	finish    *store.Finish
	done      func()
}

// writer writes results (branch statuses, attention flags, final statuses)
// asynchronously, coalescing what is queued into one database transaction.
//
// A batch that fails because the database is unreachable (or busy) is retried, with
// backoff, until it is written: results are never dropped while the database is away,
// so a finished transaction needs no repeated Confirm/Cancel once it is back. (A full
// queue then blocks the runs adding to it: back-pressure, not loss.) A batch that fails
// otherwise (a bug) is dropped after a few attempts and recovery redoes it. After close
// the writer keeps retrying for at most flushGrace, then gives up what is left to
// recovery. Writes fenced by owner are reported to onFenced with their XID and owner.
type writer struct {
	st       store.Store
	ch       chan resultItem
	log      *slog.Logger
	size     prometheus.Observer
	failures prometheus.Counter
	onFenced func(xid, owner string)
	stop     <-chan struct{} // the engine stopped its runs: a full queue no longer blocks add
	quit     chan struct{}
	done     chan struct{}
}

// flushGrace bounds the retries of the last writes after close.
const flushGrace = 5 * time.Second

func newWriter(st store.Store, log *slog.Logger, size prometheus.Observer, failures prometheus.Counter,
	onFenced func(xid, owner string), stop <-chan struct{}) *writer {
	w := &writer{st: st, ch: make(chan resultItem, 1<<16), log: log, size: size, failures: failures, onFenced: onFenced,
		stop: stop, quit: make(chan struct{}), done: make(chan struct{})}
	go w.loop()
	return w
}

// add queues it, waiting while the queue is full; once the engine has stopped its runs
// (shutdown) it drops it instead of waiting (recovery redoes it), so that a writer stuck
// on an unreachable database cannot hold the shutdown.
func (w *writer) add(it resultItem) {
	select {
	case w.ch <- it:
		return
	default:
	}
	select {
	case w.ch <- it:
	case <-w.stop:
		w.log.Warn("shutting down with the result queue full: dropping a result; recovery will redo it")
		if it.done != nil {
			it.done()
		}
	}
}

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
		owners := map[string]map[string]bool{}
		own := func(xid, owner string) {
			if owners[xid] == nil {
				owners[xid] = map[string]bool{}
			}
			owners[xid][owner] = true
		}
		for _, it := range items {
			switch {
			case it.branch != nil:
				own(it.branch.XID, it.branch.Owner)
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
				own(it.finish.XID, it.finish.Owner)
				r.Finishes = append(r.Finishes, *it.finish)
			}
		}
		w.size.Observe(float64(len(items)))
		fenced := w.apply(r, len(items))
		for _, x := range fenced {
			for o := range owners[x] {
				w.onFenced(x, o)
			}
		}
		for _, it := range items {
			if it.done != nil {
				it.done()
			}
		}
	}
}

// apply writes r, retrying as the type comment says; it returns the fenced XIDs.
func (w *writer) apply(r store.Results, n int) []string {
	backoff := 50 * time.Millisecond
	var giveUpAt time.Time
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		fenced, err := w.st.Apply(ctx, r)
		cancel()
		if err == nil {
			return fenced
		}
		w.failures.Inc()
		transient := dbx.IsTransient(err) || errors.Is(err, context.DeadlineExceeded)
		if !transient && attempt >= 8 {
			w.log.Error("dropping a batch of results after repeated failures; recovery will redo them", "err", err, "items", n)
			return nil
		}
		select {
		case <-w.quit:
			if giveUpAt.IsZero() {
				giveUpAt = time.Now().Add(flushGrace)
			}
		default:
		}
		if !giveUpAt.IsZero() && time.Now().After(giveUpAt) {
			w.log.Error("shutting down with results not written; recovery will redo them", "err", err, "items", n)
			return nil
		}
		w.log.Warn("writing results failed; retrying", "err", err, "attempt", attempt, "transient", transient)
		wake := w.quit // closing cuts the first wait short, not the following ones
		if !giveUpAt.IsZero() {
			wake = nil
		}
		t := time.NewTimer(rand.N(backoff) + time.Millisecond) // off the hot path: only this writer waits
		select {
		case <-t.C:
		case <-wake:
		}
		t.Stop()
		backoff = min(backoff*2, time.Second)
	}
}

// close flushes what is queued (retrying for at most flushGrace once the database
// fails) and stops. No add may follow.
func (w *writer) close() {
	close(w.quit)
	close(w.ch)
	<-w.done
}
