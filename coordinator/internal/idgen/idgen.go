// Package idgen makes globally unique, time-ordered transaction IDs locally: 42 bits of
// milliseconds since 2024-01-01 UTC, 10 bits of worker number (leased from etcd, so no
// two live coordinators share one), 12 bits of sequence. An ID is 16 lowercase hex
// digits, so string order is numeric order is (millisecond) time order.
package idgen

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Layout of an ID.
const (
	WorkerBits = 10
	SeqBits    = 12
	MaxWorkers = 1 << WorkerBits
	maxSeq     = 1<<SeqBits - 1
)

// Epoch is the zero of the ID clock.
var Epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// MaxBackwardsSkew is how far the wall clock may step back before Next refuses: up to
// it, IDs keep increasing on a logical clock; beyond it, Next fails until the clock has
// caught up, rather than risk reusing an ID.
const MaxBackwardsSkew = 5 * time.Second

// Errors of Next.
var (
	// ErrStopped: the generator holds no worker number (its lease is lost or not yet
	// granted). No ID is issued.
	ErrStopped = errors.New("idgen: no worker lease")
	// ErrClockBackwards: the clock went back more than MaxBackwardsSkew.
	ErrClockBackwards = errors.New("idgen: clock went backwards")
)

// Generator issues IDs for one worker number at a time. It is safe for concurrent use.
type Generator struct {
	mu     sync.Mutex
	worker int64
	active bool
	lastMS int64
	seq    int64
	now    func() time.Time
}

// New returns a stopped generator; Start gives it a worker number.
func New() *Generator { return &Generator{now: time.Now} }

// Start makes g issue IDs with worker number w (0..MaxWorkers-1).
func (g *Generator) Start(w int) error {
	if w < 0 || w >= MaxWorkers {
		return fmt.Errorf("idgen: worker %d out of range", w)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.worker, g.active = int64(w), true
	return nil
}

// Stop makes Next fail with ErrStopped until the next Start. It takes effect for every
// Next that starts after it returns.
func (g *Generator) Stop() {
	g.mu.Lock()
	g.active = false
	g.mu.Unlock()
}

// Next returns a new ID. IDs of one generator strictly increase.
func (g *Generator) Next() (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.active {
		return "", ErrStopped
	}
	ms := g.now().Sub(Epoch).Milliseconds()
	switch {
	case ms > g.lastMS:
		g.lastMS, g.seq = ms, 0
	case g.lastMS-ms > MaxBackwardsSkew.Milliseconds():
		return "", ErrClockBackwards
	default:
		// Same millisecond, or the clock stepped back a little: keep counting on the
		// logical clock, borrowing the next millisecond when the sequence is spent.
		g.seq++
		if g.seq > maxSeq {
			g.lastMS++
			g.seq = 0
		}
	}
	id := uint64(g.lastMS)<<(WorkerBits+SeqBits) | uint64(g.worker)<<SeqBits | uint64(g.seq) //nolint:gosec // lastMS is milliseconds since the epoch (positive), worker and seq are bounded by their bits
	return Format(id), nil
}

// Format renders an ID as 16 hex digits.
func Format(id uint64) string {
	s := strconv.FormatUint(id, 16)
	const zeros = "0000000000000000"
	return zeros[:16-len(s)] + s
}
