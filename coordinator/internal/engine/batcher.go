package engine

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// batcher group-commits the synchronous writes (begins, decisions) of concurrent
// transactions: each worker takes one request, then whatever else is already queued (no
// timer: under no load a request goes alone at once, under load they share a commit).
// fn answers one output per input, in order; each caller gets its own, so an error of
// one element reaches its caller only, and an error of the whole call (every element
// the same) reaches every caller that shared it.
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

// batchTimeout bounds one group commit: past it the commit's outcome is unknown and
// its callers retry (a decision) or answer ErrUnavailable (a begin).
const batchTimeout = 30 * time.Second

func newBatcher[I, O any](workers, limit int, size prometheus.Observer, fn func(context.Context, []I) []O) *batcher[I, O] {
	b := &batcher[I, O]{ch: make(chan batchReq[I, O], 4096), fn: fn, max: limit, size: size}
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
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
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
