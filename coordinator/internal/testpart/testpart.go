// Package testpart is a scriptable fake participant for the coordinator's tests: an
// httptest server that verifies the coordinator's signature, records every call, and
// answers as the test's Behave function says (which may block on a channel to freeze the
// coordinator at a chosen moment).
package testpart

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// Key is the HMAC key the tests share with the coordinator.
const Key = "test-hmac-key-0123456789abcdef"

// Call is one recorded call.
type Call struct {
	XID, BranchID, Action string
	Phase                 tcc.Phase
	Deadline              time.Time
	RequestID             string
	Ctx                   context.Context `json:"-"`
}

// Answer is what a call gets: Status (0 means 200) and an error Code for non-2xx.
type Answer struct {
	Status int
	Code   string
}

// Participant is a fake participant.
type Participant struct {
	Name   string
	Server *httptest.Server
	mu     sync.Mutex
	behave func(c Call) Answer
	calls  []Call
	all    []Call    // every call, whatever it was answered
	seen   chan Call // every call, as it arrives (buffered)
}

// New starts a participant; it is closed at the end of the test.
func New(t testing.TB, name string) *Participant {
	v, err := tcc.NewVerifier(time.Minute, []byte(Key))
	if err != nil {
		t.Fatal(err)
	}
	p := &Participant{Name: name, seen: make(chan Call, 100000)}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := v.Verify(r.Header, r.Method, r.URL.Path, body, time.Now()); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		if len(parts) != 3 || parts[0] != "tcc" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		dl, _ := tcc.ParseDeadline(r.Header.Get(tcc.HeaderDeadline))
		c := Call{XID: r.Header.Get(tcc.HeaderXID), BranchID: r.Header.Get(tcc.HeaderBranchID), Action: parts[1],
			Phase: tcc.Phase(parts[2]), Deadline: dl, RequestID: r.Header.Get(tcc.HeaderRequestID), Ctx: r.Context()}
		p.seen <- c
		p.mu.Lock()
		p.all = append(p.all, c)
		p.mu.Unlock()
		a := Answer{}
		p.mu.Lock()
		behave := p.behave
		p.mu.Unlock()
		if behave != nil {
			a = behave(c)
		}
		if a.Status == 0 {
			a.Status = http.StatusOK
		}
		if a.Status < 300 {
			p.mu.Lock()
			p.calls = append(p.calls, c)
			p.mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.Status)
		if a.Status >= 300 {
			_ = json.NewEncoder(w).Encode(tcc.ErrorBody{Code: a.Code, Message: "scripted"})
			return
		}
		_ = json.NewEncoder(w).Encode(tcc.PhaseResult{XID: c.XID, BranchID: c.BranchID, Phase: c.Phase, Outcome: tcc.OutcomeApplied})
	}))
	t.Cleanup(p.Server.Close)
	return p
}

// SetBehave sets the function deciding each answer (nil: 200). It runs before the call
// is recorded as answered and may block (it must honour c.Ctx).
func (p *Participant) SetBehave(f func(c Call) Answer) {
	p.mu.Lock()
	p.behave = f
	p.mu.Unlock()
}

// URL is the participant's base URL.
func (p *Participant) URL() string { return p.Server.URL }

// Seen delivers every call as it arrives.
func (p *Participant) Seen() <-chan Call { return p.seen }

// Count returns how many calls of phase for xid were answered 2xx.
func (p *Participant) Count(xid string, phase tcc.Phase) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.calls {
		if c.XID == xid && c.Phase == phase {
			n++
		}
	}
	return n
}

// Attempts returns how many calls of phase for xid arrived, whatever they were answered.
func (p *Participant) Attempts(xid string, phase tcc.Phase) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.all {
		if c.XID == xid && c.Phase == phase {
			n++
		}
	}
	return n
}

// Phases returns the set of phases answered 2xx for xid.
func (p *Participant) Phases(xid string) map[tcc.Phase]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[tcc.Phase]int{}
	for _, c := range p.calls {
		if c.XID == xid {
			out[c.Phase]++
		}
	}
	return out
}

// Block returns a Behave step that blocks until release is closed or the call's
// context ends (then it answers 503).
func Block(release <-chan struct{}, c Call) Answer {
	select {
	case <-release:
		return Answer{}
	case <-c.Ctx.Done():
		return Answer{Status: http.StatusServiceUnavailable, Code: "GONE"}
	}
}

// Calls returns the recorded calls of one transaction, in arrival order.
func (p *Participant) Calls(xid string) []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Call
	for _, c := range p.calls {
		if c.XID == xid {
			out = append(out, c)
		}
	}
	return out
}
