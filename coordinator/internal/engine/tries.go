package engine

import (
	"context"
	"errors"
	"time"

	"github.com/tccsuite/tccsuite/coordinator/internal/registry"
	"github.com/tccsuite/tccsuite/coordinator/internal/store"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// tries calls every Try in parallel under the deadline. The first failure cancels the
// outstanding Tries. It reports whether all succeeded, and the first business refusal.
func (r *txRun) tries() (bool, *tcc.Refusal) {
	tctx, cancel := context.WithDeadline(r.lease, r.tx.Deadline)
	defer cancel()
	n := len(r.tx.Branches)
	type res struct {
		i   int
		ok  bool
		ref *tcc.Refusal
	}
	ch := make(chan res, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			ok, ref := r.try(tctx, i)
			ch <- res{i, ok, ref}
		}(i)
	}
	allOK := true
	var refusal *tcc.Refusal
	for k := 0; k < n; k++ {
		x := <-ch
		if !x.ok {
			if allOK {
				cancel() // the first failure cancels the outstanding Tries
			}
			allOK = false
			if refusal == nil && x.ref != nil {
				refusal = x.ref
			}
		}
	}
	return allOK, refusal
}

func (r *txRun) try(ctx context.Context, i int) (bool, *tcc.Refusal) {
	b := r.branch(i)
	p, ok := r.e.reg.Get(b.Participant)
	if !ok {
		r.setBranch(i, tcc.BranchFailed, 1, "participant not configured", true)
		return false, nil
	}
	if !p.Breaker.Allow() {
		r.e.m.BranchCalls.WithLabelValues(p.Name, "try", "breaker_open").Inc()
		r.setBranch(i, tcc.BranchFailed, 0, registry.ErrBreakerOpen.Error(), true)
		return false, nil
	}
	t0 := time.Now()
	res := p.Do(ctx, r.call(b, tcc.PhaseTry, r.tx.Deadline))
	r.observe(p, tcc.PhaseTry, res, t0)
	switch res.Class {
	case tcc.ClassDone:
		p.Breaker.Success()
		r.setBranch(i, tcc.BranchTried, 1, "", true)
		return true, nil
	case tcc.ClassRefused:
		p.Breaker.Success()
		r.setBranch(i, tcc.BranchRefused, 1, res.Error(), true)
		code := res.Code
		if code == "" {
			code = tcc.CodeRejected
		}
		return false, &tcc.Refusal{BranchID: b.BranchID, Participant: b.Participant, Action: b.Action, Code: code, Message: res.Message}
	case tcc.ClassBadCall:
		p.Breaker.Success()
		r.log.Error("participant answered a Try as a malformed call: a bug", "branch", b.BranchID, "participant", p.Name, "status", res.Status, "code", res.Code)
		r.setBranch(i, tcc.BranchFailed, 1, res.Error(), true)
		return false, nil
	default:
		// Cancelled by us because another branch failed: not the participant's fault.
		if !errors.Is(ctx.Err(), context.Canceled) || r.lease.Err() != nil {
			p.Breaker.Failure()
		}
		r.setBranch(i, tcc.BranchFailed, 1, res.Error(), true)
		return false, nil
	}
}

func (r *txRun) call(b store.Branch, phase tcc.Phase, deadline time.Time) registry.Call {
	return registry.Call{
		XID: r.xid, BranchID: b.BranchID, Action: b.Action, Phase: phase, Payload: b.Payload,
		Deadline: deadline, RequestID: r.meta.RequestID, TraceParent: r.meta.TraceParent, TraceState: r.meta.TraceState,
	}
}

func (r *txRun) observe(p *registry.Participant, phase tcc.Phase, res registry.Result, t0 time.Time) {
	outcome := "unknown"
	switch res.Class {
	case tcc.ClassDone:
		outcome = "done"
	case tcc.ClassRefused:
		outcome = "refused"
	case tcc.ClassBadCall:
		outcome = "bad_call"
	}
	r.e.m.BranchCalls.WithLabelValues(p.Name, string(phase), outcome).Inc()
	r.e.m.BranchCallSeconds.WithLabelValues(p.Name, string(phase)).Observe(time.Since(t0).Seconds())
}
