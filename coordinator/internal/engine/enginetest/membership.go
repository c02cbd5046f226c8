package enginetest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/tccsuite/tccsuite/coordinator/internal/engine"
)

// ErrNoLease is answered while the Membership has no live epoch.
var ErrNoLease = errors.New("enginetest: no live lease")

// Membership is an in-memory engine.Membership for one instance, with its epochs, other
// instances' liveness, and leased locks shared by every Membership of one Locks. It is
// safe for concurrent use. IDs are "x" followed by 15 hex digits, in order.
type Membership struct {
	name  string
	locks *Locks

	mu     sync.Mutex
	cur    *Epoch
	n      int // epochs begun
	nextID uint64
	live   map[string]bool // other owners declared live
}

var _ engine.Membership = (*Membership)(nil)

// NewMembership returns a membership of instance name with a live first epoch (owner
// tag "name#1"), taking its locks in locks (nil: a private set).
func NewMembership(name string, locks *Locks) *Membership {
	if locks == nil {
		locks = NewLocks()
	}
	m := &Membership{name: name, locks: locks, live: map[string]bool{}}
	m.Rejoin()
	return m
}

// Epoch returns the live epoch, or ErrNoLease.
func (m *Membership) Epoch() (engine.Epoch, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur == nil || m.cur.ctx.Err() != nil {
		return nil, ErrNoLease
	}
	return m.cur, nil
}

// Current returns the live epoch's concrete value (nil while none), for tests that end it.
func (m *Membership) Current() *Epoch {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur
}

// NextID returns the next ID, or ErrNoLease.
func (m *Membership) NextID() (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur == nil || m.cur.ctx.Err() != nil {
		return "", ErrNoLease
	}
	m.nextID++
	return fmt.Sprintf("x%015x", m.nextID), nil
}

// LiveOwners returns this instance's live owner tag and those set live by SetLive.
func (m *Membership) LiveOwners(context.Context) (map[string]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]bool{}
	for o, ok := range m.live {
		if ok {
			out[o] = true
		}
	}
	if m.cur != nil && m.cur.ctx.Err() == nil {
		out[m.cur.owner] = true
	}
	return out, nil
}

// SetLive declares another instance's owner tag live (or dead).
func (m *Membership) SetLive(owner string, live bool) {
	m.mu.Lock()
	m.live[owner] = live
	m.mu.Unlock()
}

// LoseLease ends the current epoch, as an expired lease does: its context ends and its
// locks are freed. Until Rejoin there is no epoch.
func (m *Membership) LoseLease() {
	m.mu.Lock()
	ep := m.cur
	m.cur = nil
	m.mu.Unlock()
	if ep != nil {
		ep.end()
	}
}

// Rejoin ends the current epoch (if any) and begins a new one with a new owner tag
// ("name#n" for the n-th epoch), which it returns.
func (m *Membership) Rejoin() *Epoch {
	m.LoseLease()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	ctx, cancel := context.WithCancel(context.Background())
	m.cur = &Epoch{owner: fmt.Sprintf("%s#%d", m.name, m.n), locks: m.locks, ctx: ctx, cancel: cancel}
	return m.cur
}

// Epoch is one lease of a Membership.
type Epoch struct {
	owner  string
	locks  *Locks
	ctx    context.Context
	cancel context.CancelFunc
}

var _ engine.Epoch = (*Epoch)(nil)

// Owner is the epoch's owner tag.
func (e *Epoch) Owner() string { return e.owner }

// Context ends when the epoch does.
func (e *Epoch) Context() context.Context { return e.ctx }

// Lock takes key for xid under this epoch, waiting while another holds it; when ctx
// ends first it answers an error wrapping engine.ErrLocked, and ErrNoLease when the
// epoch ends first.
func (e *Epoch) Lock(ctx context.Context, key, xid string) error {
	return e.locks.lock(ctx, e, key, xid)
}

// Unlock releases key if xid holds it under this epoch.
func (e *Epoch) Unlock(_ context.Context, key, xid string) error {
	e.locks.unlock(e, key, xid)
	return nil
}

func (e *Epoch) end() {
	e.cancel()
	e.locks.release(e)
}

// Locks is a set of leased lock keys shared by the Memberships of several instances.
type Locks struct {
	mu      sync.Mutex
	held    map[string]holder
	changed chan struct{} // closed and replaced whenever a key is freed
}

type holder struct {
	xid string
	ep  *Epoch
}

// NewLocks returns an empty set.
func NewLocks() *Locks { return &Locks{held: map[string]holder{}, changed: make(chan struct{})} }

// Holder returns the XID holding key ("" if free).
func (l *Locks) Holder(key string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held[key].xid
}

func (l *Locks) lock(ctx context.Context, ep *Epoch, key, xid string) error {
	for {
		l.mu.Lock()
		h, taken := l.held[key]
		if !taken || (h.xid == xid && h.ep == ep) {
			if ep.ctx.Err() != nil {
				l.mu.Unlock()
				return ErrNoLease
			}
			l.held[key] = holder{xid, ep}
			l.mu.Unlock()
			return nil
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-ep.ctx.Done():
			return ErrNoLease
		case <-ctx.Done():
			return fmt.Errorf("enginetest: key %s held by %s: %w", key, h.xid, engine.ErrLocked)
		}
	}
}

func (l *Locks) unlock(ep *Epoch, key, xid string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h := l.held[key]; h.xid == xid && h.ep == ep {
		delete(l.held, key)
		l.freed()
	}
}

// release frees every key held under ep (its lease ended).
func (l *Locks) release(ep *Epoch) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, h := range l.held {
		if h.ep == ep {
			delete(l.held, k)
		}
	}
	l.freed()
}

// freed wakes the lock waiters; l.mu is held.
func (l *Locks) freed() {
	close(l.changed)
	l.changed = make(chan struct{})
}
