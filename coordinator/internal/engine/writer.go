package engine

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tccsuite/tccsuite/coordinator/internal/store"
)

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
	writerDeps
	ch   chan resultItem
	quit chan struct{}
	done chan struct{}
}

// writerDeps are what a writer writes with and reports to.
type writerDeps struct {
	store    store.Store
	log      *slog.Logger
	size     prometheus.Observer
	failures prometheus.Counter
	onFenced func(xid, owner string)
	stop     <-chan struct{} // the engine stopped its runs: a full queue no longer blocks add
	jitter   func(time.Duration) time.Duration
}

// Tuning of the writer.
const (
	flushGrace        = 5 * time.Second       // bounds the retries of the last writes after close
	writerQueue       = 1 << 16               // results queued before add blocks
	writerBatchMax    = 2000                  // most results coalesced into one write
	writerBackoffBase = 50 * time.Millisecond // first wait after a failed write
	writerBackoffCap  = time.Second           // longest wait between attempts
	writerMaxAttempts = 8                     // of a batch failing otherwise than transiently
	writeTimeout      = 30 * time.Second      // one write
)

func newWriter(d writerDeps) *writer {
	w := &writer{writerDeps: d, ch: make(chan resultItem, writerQueue), quit: make(chan struct{}), done: make(chan struct{})}
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
	for first := range w.ch {
		items := []resultItem{first}
	drain:
		for len(items) < writerBatchMax {
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
		r, owners := coalesce(items)
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

// coalesce merges items into one batch of results: the last update of a branch
// supersedes the earlier ones. owners lists, per XID, the owners its fenced writes were
// made under (a fenced XID stops the runs of those owners).
func coalesce(items []resultItem) (r store.Results, owners map[string]map[string]bool) {
	type bk struct{ xid, branch string }
	idx := map[bk]int{}
	owners = map[string]map[string]bool{}
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
				r.Branches[i] = *it.branch
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
	return r, owners
}

// apply writes r, retrying as the type comment says; it returns the fenced XIDs.
func (w *writer) apply(r store.Results, n int) []string {
	var giveUpAt time.Time
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		fenced, err := w.store.Apply(ctx, r)
		cancel()
		if err == nil {
			return fenced
		}
		w.failures.Inc()
		transient := isTransient(err)
		if !transient && attempt >= writerMaxAttempts {
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
		t := time.NewTimer(backoff(writerBackoffBase, writerBackoffCap, attempt, w.jitter)) // off the hot path: only this writer waits
		select {
		case <-t.C:
		case <-wake:
		}
		t.Stop()
	}
}

// close flushes what is queued (retrying for at most flushGrace once the database
// fails) and stops. No add may follow.
func (w *writer) close() {
	close(w.quit)
	close(w.ch)
	<-w.done
}
