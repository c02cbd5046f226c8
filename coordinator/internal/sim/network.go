package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// errNet is the transport error of a lost request or answer.
var errNet = errors.New("sim: connection reset")

// errCrashed is answered to a call made by a crashed instance: nothing leaves it.
var errCrashed = errors.New("sim: the calling process has crashed")

// sentCall is one call as it left a coordinator, with the stored status of its
// transaction at that moment.
type sentCall struct {
	from     string
	xid      string
	branch   string
	phase    tcc.Phase
	statusAt tcc.TxStatus
}

// netStats counts the network faults injected.
type netStats struct {
	calls, lostRequests, lostAnswers, duplicated, delayed, unavailable int
}

// network routes the coordinators' branch calls to the in-memory participants, with
// seeded faults while faulty is set. Each call's fault is drawn from a generator seeded
// by (run seed, request ID, branch, phase, n-th such call), not from one shared stream,
// so that it does not depend on the order in which concurrent calls are made.
type network struct {
	seed   uint64
	parts  map[string]*participant
	status func(xid string) tcc.TxStatus
	faulty atomic.Bool

	mu    sync.Mutex
	nth   map[string]int
	sent  []sentCall
	stats netStats
}

func newNetwork(seed uint64, parts map[string]*participant, status func(string) tcc.TxStatus) *network {
	return &network{seed: seed, parts: parts, status: status, nth: map[string]int{}}
}

// rngFor returns the generator of the n-th call with key.
func (n *network) rngFor(key string) *rand.Rand {
	n.mu.Lock()
	n.nth[key]++
	c := n.nth[key]
	n.mu.Unlock()
	return rand.New(rand.NewPCG(n.seed, hashKey(key)^uint64(c)*0x9e3779b97f4a7c15)) //nolint:gosec // a simulation's seeded choices
}

// transport is one coordinator process's view of the network; crashed ends its calls.
type transport struct {
	n       *network
	from    string
	crashed *atomic.Bool
}

// RoundTrip delivers req to its participant after a delay, possibly losing the request
// or the answer, or delivering it twice; it answers when the (first) answer comes back
// or req's context ends. A delivery under way goes on after the caller gave up: it lands
// late, as a packet in flight does.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer func() { _ = req.Body.Close() }()
	}
	if t.crashed.Load() {
		return nil, errCrashed
	}
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		body = b
	}
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	p := t.n.parts[req.URL.Hostname()]
	if len(parts) != 3 || parts[0] != "tcc" || p == nil {
		return reply(req, answer{status: http.StatusNotFound, code: "NOT_FOUND"}), nil
	}
	phase := tcc.Phase(parts[2])
	xid, branch := req.Header.Get(tcc.HeaderXID), req.Header.Get(tcc.HeaderBranchID)
	deadline, _ := tcc.ParseDeadline(req.Header.Get(tcc.HeaderDeadline))
	var pl struct {
		Amount int64 `json:"amount"`
	}
	if json.Unmarshal(body, &pl) != nil {
		return reply(req, answer{status: http.StatusBadRequest, code: tcc.CodeBadPayload}), nil
	}
	n := t.n
	n.mu.Lock()
	n.sent = append(n.sent, sentCall{from: t.from, xid: xid, branch: branch, phase: phase, statusAt: n.status(xid)})
	n.stats.calls++
	n.mu.Unlock()

	rng := n.rngFor(req.Header.Get(tcc.HeaderRequestID) + "/" + branch + "/" + string(phase))
	faulty := n.faulty.Load()
	delay := time.Duration(rng.Int64N(int64(20 * time.Millisecond)))
	var loseReq, loseAns, dup, unavailable bool
	if faulty {
		x := rng.Float64()
		switch {
		case x < 0.08:
			loseReq = true
		case x < 0.16:
			loseAns = true
		case x < 0.24:
			dup = true
		case x < 0.28:
			unavailable = true
		}
		if rng.Float64() < 0.12 {
			delay = 200*time.Millisecond + time.Duration(rng.Int64N(int64(2800*time.Millisecond))) // overtaken by later calls
		}
	}
	dupDelay := time.Duration(rng.Int64N(int64(3 * time.Second)))
	hang := rng.IntN(2) == 0 // a lost message ends in a timeout, or in a reset after the delay
	n.mu.Lock()
	switch {
	case loseReq:
		n.stats.lostRequests++
	case loseAns:
		n.stats.lostAnswers++
	case dup:
		n.stats.duplicated++
	case unavailable:
		n.stats.unavailable++
	}
	if delay >= 200*time.Millisecond {
		n.stats.delayed++
	}
	n.mu.Unlock()

	deliver := func(d time.Duration) answer {
		time.Sleep(d)
		if unavailable {
			return answer{status: http.StatusServiceUnavailable, code: tcc.CodeRetry}
		}
		return p.handle(phase, xid, branch, deadline, pl.Amount)
	}
	ch := make(chan answer, 1)
	switch {
	case loseReq:
		if !hang {
			go func() { time.Sleep(delay); ch <- answer{} }()
		}
	default:
		go func() {
			a := deliver(delay)
			if loseAns {
				if hang {
					return
				}
				a = answer{}
			}
			ch <- a
		}()
		if dup {
			go deliver(delay + dupDelay)
		}
	}
	select {
	case a := <-ch:
		if a.status == 0 {
			return nil, errNet
		}
		return reply(req, a), nil
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
}

func reply(req *http.Request, a answer) *http.Response {
	var body []byte
	if a.status/100 == 2 {
		body, _ = json.Marshal(tcc.PhaseResult{XID: req.Header.Get(tcc.HeaderXID), BranchID: req.Header.Get(tcc.HeaderBranchID), Outcome: a.outcome})
	} else {
		body, _ = json.Marshal(tcc.ErrorBody{Code: a.code, Message: "sim"})
	}
	return &http.Response{
		Status: http.StatusText(a.status), StatusCode: a.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": []string{"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)), Request: req,
	}
}
