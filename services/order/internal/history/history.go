// Package history records the history of concurrent order placements (POST
// /api/v1/orders with an Idempotency-Key) and checks it for linearizability with
// porcupine against Model, the sequential specification of idempotent placement. Only
// tests use it.
//
// The model, per key (the history is partitioned by key: keys are independent):
//
//   - the key is free, or claimed by a body (its fingerprint) with an outcome that is
//     fixed from the claim on but may not have been observed yet;
//   - a definite answer for a body is 201 with an order ID, or a refusal (409/422 with
//     its code and the order ID), or 422 IDEMPOTENCY_KEY_REUSED. On a free key, 201 or a
//     refusal claims the key for the body and fixes the outcome; a reuse is illegal
//     (nobody claimed the key). On a key claimed by the same body, 201 or a refusal must
//     be the outcome already observed (the same order ID), or fixes it if none was; a
//     reuse is illegal. On a key claimed by another body only the reuse is legal;
//   - an answer whose effect is unknown (503, a timeout, the client hanging up) matches
//     any state: it may have done nothing, claimed a free key for its body (the outcome
//     to be observed by a later answer), or, the transaction having failed technically
//     (503 TRANSACTION_FAILED), released its body's claim whose outcome was never
//     observed. Model is nondeterministic (porcupine's power-set construction) so that
//     the checker tries every one of these. An operation whose client hung up may take
//     effect after the client left (the order goes on without it): Recorder gives it an
//     infinite return time, so it may be linearized anywhere after its call.
package history

import (
	"cmp"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Input is a placement: its Idempotency-Key and its body (any canonical rendering: two
// requests have the same body if and only if these strings are equal).
type Input struct {
	Key  string
	Body string
}

// Kind is the kind of an answer.
type Kind uint8

// Kinds of answers.
const (
	// Unknown: 503, a timeout, the client hanging up; the effect is unknown.
	Unknown Kind = iota
	// Placed: 201 with an order ID.
	Placed
	// Refused: a business refusal (409, or 422 UNKNOWN_SKU/UNKNOWN_USER after a
	// transaction) with its code and the order ID.
	Refused
	// KeyReused: 422 IDEMPOTENCY_KEY_REUSED.
	KeyReused
)

// Output is an answer.
type Output struct {
	Kind    Kind
	Code    string // the refusal's code; for Unknown, the 503's code or why there is no answer
	OrderID string // Placed and Refused
}

func (o Output) String() string {
	switch o.Kind {
	case Placed:
		return "201 " + o.OrderID
	case Refused:
		return "refused " + o.Code + " " + o.OrderID
	case KeyReused:
		return "422 IDEMPOTENCY_KEY_REUSED"
	}
	return "unknown (" + o.Code + ")"
}

// outcome is what a replay must repeat: Placed or Refused with its code and order ID.
func (o Output) outcome() string { return o.String() }

// state is one key's state. It is comparable: porcupine's default equality applies.
type state struct {
	Claimed bool
	Body    string
	Outcome string // "" while not observed
}

func (s state) String() string {
	switch {
	case !s.Claimed:
		return "free"
	case s.Outcome == "":
		return fmt.Sprintf("claimed by %s, outcome not observed", s.Body)
	}
	return fmt.Sprintf("claimed by %s: %s", s.Body, s.Outcome)
}

func step(st, in, out any) []any {
	s, i, o := st.(state), in.(Input), out.(Output)
	switch o.Kind {
	case Unknown:
		next := []any{s} // no effect (or the one already there)
		switch {
		case !s.Claimed:
			next = append(next, state{Claimed: true, Body: i.Body})
		case s.Body == i.Body && s.Outcome == "":
			next = append(next, state{})
		}
		return next
	case KeyReused:
		if s.Claimed && s.Body != i.Body {
			return []any{s}
		}
		return nil
	case Placed, Refused:
		switch {
		case !s.Claimed || s.Body == i.Body && s.Outcome == "":
			return []any{state{Claimed: true, Body: i.Body, Outcome: o.outcome()}}
		case s.Body == i.Body && s.Outcome == o.outcome():
			return []any{s}
		}
		return nil
	}
	return nil
}

// partition splits a history by key.
func partition(ops []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	var keys []string
	for _, op := range ops {
		k := op.Input.(Input).Key
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], op)
	}
	out := make([][]porcupine.Operation, 0, len(keys))
	for _, k := range keys {
		out = append(out, byKey[k])
	}
	return out
}

// Model is the sequential specification of idempotent placement (see the package
// comment), partitioned by key.
var Model = (&porcupine.NondeterministicModel{
	Partition: partition,
	Init:      func() []any { return []any{state{}} },
	Step:      step,
	DescribeOperation: func(in, out any) string {
		i := in.(Input)
		return fmt.Sprintf("%s %s → %s", i.Key, i.Body, out.(Output))
	},
	DescribeState:             func(s any) string { return s.(state).String() },
	DescribeOperationMetadata: func(m any) string { s, _ := m.(string); return s },
}).ToModel()

// Infinity is the return time of an operation whose client hung up: its effect may come
// at any time after its call.
const Infinity = math.MaxInt64

// Recorder records a history from any number of goroutines.
type Recorder struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

// NewRecorder returns a Recorder whose clock starts now.
func NewRecorder() *Recorder { return &Recorder{start: time.Now()} }

// Now is the recorder's clock (monotonic nanoseconds since NewRecorder).
func (r *Recorder) Now() int64 { return int64(time.Since(r.start)) }

// Call records the invocation of in by client (0-based, for the visualization) now; call
// the returned function with the answer once it came. With pending (the client hung up
// or timed out: there is no answer, out must be Unknown) the operation gets an infinite
// return time. meta describes the operation in the visualization.
func (r *Recorder) Call(client int, in Input, meta string) func(out Output, pending bool) {
	call := r.Now()
	return func(out Output, pending bool) {
		ret := r.Now()
		if pending {
			ret = Infinity
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.ops = append(r.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret, Metadata: meta})
	}
}

// Operations returns the history recorded so far.
func (r *Recorder) Operations() []porcupine.Operation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ops)
}

// Report is the result of Check.
type Report struct {
	Result porcupine.CheckResult
	Info   porcupine.LinearizationInfo
	// Pairs are, when the history is not linearizable, its IllegalPairs: Pairs[0] is the
	// shortest offending pair.
	Pairs [][2]porcupine.Operation
	// Visualization is the path of porcupine's visualization, written when the history
	// is not linearizable (or the check timed out) and a directory was given.
	Visualization string
}

// Check checks ops against Model within timeout. When the history is not linearizable
// or the check timed out, it writes porcupine's visualization to dir/name.html (dir
// non-empty) and looks for the offending pairs.
func Check(ops []porcupine.Operation, timeout time.Duration, dir, name string) (Report, error) {
	res, info := porcupine.CheckOperationsVerbose(Model, ops, timeout)
	rep := Report{Result: res, Info: info}
	if res == porcupine.Ok {
		return rep, nil
	}
	if res == porcupine.Illegal {
		rep.Pairs = IllegalPairs(ops)
	}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return rep, err
		}
		rep.Visualization = filepath.Join(dir, name+".html")
		if err := porcupine.VisualizePath(Model, info, rep.Visualization); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// IllegalPairs returns the pairs of answers on one key that contradict each other
// whatever the other operations did: the key's history with every other answer made
// Unknown (same times) is not linearizable. They come shortest first (the time spanned
// from the earlier call to the later return; then the earliest), each earlier call
// first; none if the violation needs more than two answers.
func IllegalPairs(ops []porcupine.Operation) [][2]porcupine.Operation {
	var pairs [][2]porcupine.Operation
	for _, part := range partition(ops) {
		if porcupine.CheckOperations(Model, part) {
			continue
		}
		for i := range part {
			for j := i + 1; j < len(part); j++ {
				a, b := part[i], part[j]
				if a.Output.(Output).Kind == Unknown || b.Output.(Output).Kind == Unknown {
					continue
				}
				rest := slices.Clone(part)
				for k := range rest {
					if k != i && k != j {
						rest[k].Output = Output{Kind: Unknown, Code: "ignored"}
					}
				}
				if porcupine.CheckOperations(Model, rest) {
					continue
				}
				if b.Call < a.Call {
					a, b = b, a
				}
				pairs = append(pairs, [2]porcupine.Operation{a, b})
			}
		}
	}
	span := func(p [2]porcupine.Operation) int64 { return max(p[0].Return, p[1].Return) - p[0].Call }
	slices.SortStableFunc(pairs, func(p, q [2]porcupine.Operation) int {
		if c := cmp.Compare(span(p), span(q)); c != 0 {
			return c
		}
		return cmp.Compare(p[0].Call, q[0].Call)
	})
	return pairs
}

// Describe renders an operation for a log: client, times (ms since the recorder's
// start; ∞ for a pending one), input, output and metadata.
func Describe(op porcupine.Operation) string {
	ret := "∞"
	if op.Return != Infinity {
		ret = fmt.Sprintf("%.3fms", float64(op.Return)/1e6)
	}
	meta, _ := op.Metadata.(string)
	i := op.Input.(Input)
	return fmt.Sprintf("client %d [%.3fms, %s] %s %s → %s (%s)", op.ClientId, float64(op.Call)/1e6, ret, i.Key, i.Body, op.Output.(Output), meta)
}

// Summary counts a history's operations by answer kind, for a log line.
func Summary(ops []porcupine.Operation) string {
	var placed, refused, reused, unknown, pending int
	keys := map[string]bool{}
	for _, op := range ops {
		keys[op.Input.(Input).Key] = true
		switch op.Output.(Output).Kind {
		case Placed:
			placed++
		case Refused:
			refused++
		case KeyReused:
			reused++
		default:
			unknown++
			if op.Return == Infinity {
				pending++
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d operations on %d keys: %d placed (201), %d refused, %d key reused (422), %d unknown (%d hung up, pending)",
		len(ops), len(keys), placed, refused, reused, unknown, pending)
	return b.String()
}
