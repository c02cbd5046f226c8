package engine

import (
	"context"
	"time"

	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// KickScan asks the recovery scanner to run now (e.g. on a new etcd epoch).
func (e *Engine) KickScan() {
	select {
	case e.scanKick <- struct{}{}:
	default:
	}
}

// scanLoop runs recovery every ScanInterval, and when kicked.
func (e *Engine) scanLoop(ctx context.Context) {
	defer close(e.scanDone)
	t := time.NewTicker(e.cfg.ScanInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-e.scanKick:
		}
		if err := e.Scan(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("recovery scan failed", "err", err)
		}
	}
}

// Scan takes over the unfinished transactions of dead owners (a conditional update per
// row: of several scanners, one wins each) and resumes this instance's own unfinished
// transactions that nothing drives (e.g. after a lost asynchronous write).
//
// An owner is judged dead on a membership snapshot taken after the page of rows was
// read: an owner registers before it writes any row and a lost owner tag never comes
// back, so every owner of a row on the page that is live when it is claimed appears in
// that snapshot (a snapshot taken before the page could miss an instance that joined
// meanwhile, and its rows would be claimed from under it). A database or etcd error
// ends the scan; the next one (every ScanInterval) starts over.
func (e *Engine) Scan(ctx context.Context) error {
	ep, ok := e.epoch()
	if !ok {
		return nil // no lease: this instance judges no one
	}
	stopped := func() bool { return ctx.Err() != nil || ep.Context().Err() != nil }
	after := ""
	for {
		hs, err := e.st.Unfinished(ctx, after, e.cfg.ScanPage)
		if err != nil {
			return err
		}
		live, err := e.mem.LiveOwners(ctx)
		if err != nil {
			return err
		}
		if !live[ep.Owner()] {
			return nil // our own key is not visible yet (or any more): do not judge others
		}
		for _, h := range hs {
			if stopped() {
				return nil
			}
			if e.lookup(h.XID) != nil {
				continue
			}
			switch {
			case h.Owner == ep.Owner():
				// Ours but not driven: resume, except a TRYING one still within its
				// deadline, which may be a begin racing with this scan.
				if h.Status == tcc.TxTrying && time.Now().Before(h.Deadline) {
					continue
				}
			case live[h.Owner]:
				continue
			default:
				ok, err := e.st.Claim(ctx, h.XID, h.Owner, ep.Owner())
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
				e.m.Takeovers.Inc()
				e.log.Info("took over a transaction of a dead coordinator", "xid", h.XID, "from", h.Owner, "status", string(h.Status))
			}
			t, err := e.st.Get(ctx, h.XID)
			if err != nil {
				return err
			}
			if t.Status.Final() || t.Owner != ep.Owner() {
				continue
			}
			e.adopt(ep, t)
		}
		if len(hs) < e.cfg.ScanPage {
			return nil
		}
		after = hs[len(hs)-1].XID
	}
}

// epoch returns the current epoch, or false while this instance holds no lease.
func (e *Engine) epoch() (Epoch, bool) {
	ep, err := e.mem.Epoch()
	return ep, err == nil
}

// backoff is the delay before retry number attempt (1-based) of a Confirm/Cancel or a
// decision (see the package function backoff).
func (e *Engine) backoff(attempt int) time.Duration {
	return backoff(e.cfg.RetryBase, e.cfg.RetryCap, attempt, e.jitter)
}
