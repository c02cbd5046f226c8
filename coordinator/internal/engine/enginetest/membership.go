package enginetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/tccsuite/tccsuite/coordinator/internal/engine"
)

// ErrNoLease is answered while the Membership has no live epoch.
var ErrNoLease = errors.New("enginetest: no live lease")

// Membership is an in-memory engine.Membership for one instance, with its epochs, other
// instances' liveness, and leased locks shared by every Membership of one Locks. It is
// safe for concurrent use. IDs are "x" followed by 15 hex digits, in order.
type Membership struct {
	name    string
	locks   *Locks
	cluster *Cluster // nil: alone

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
	if m.cluster != nil {
		return m.cluster.nextXID(), nil
	}
	m.nextID++
	return fmt.Sprintf("x%015x", m.nextID), nil
}

// LiveOwners returns this instance's live owner tag, those set live by SetLive, and, in
// a Cluster, the live owner tag of every member.
func (m *Membership) LiveOwners(context.Context) (map[string]bool, error) {
	m.mu.Lock()
	out := map[string]bool{}
	for o, ok := range m.live {
		if ok {
			out[o] = true
		}
	}
	if o := m.liveOwner(); o != "" {
		out[o] = true
	}
	c := m.cluster
	m.mu.Unlock()
	if c != nil {
		for _, o := range c.liveOwners() {
			out[o] = true
		}
	}
	return out, nil
}

// liveOwner is the live epoch's owner tag, or ""; m.mu is held.
func (m *Membership) liveOwner() string {
	if m.cur != nil && m.cur.ctx.Err() == nil && !m.cur.expired.Load() {
		return m.cur.owner
	}
	return ""
}

// Cluster is a set of Memberships, one per instance, that see each other's live epochs
// (as etcd shows every live lease: no SetLive needed, and a lost or re-joined epoch is
// seen by all at once), share one set of lock keys, and draw transaction IDs from one
// sequence ("x" followed by 15 hex digits, in order across the cluster).
type Cluster struct {
	locks *Locks

	mu      sync.Mutex
	members []*Membership
	nextID  uint64
}

// NewCluster returns an empty cluster.
func NewCluster() *Cluster { return &Cluster{locks: NewLocks()} }

// Locks returns the cluster's lock keys.
func (c *Cluster) Locks() *Locks { return c.locks }

// Join returns the membership of a new instance name, with a live first epoch.
func (c *Cluster) Join(name string) *Membership {
	m := &Membership{name: name, locks: c.locks, cluster: c, live: map[string]bool{}}
	m.Rejoin()
	c.mu.Lock()
	c.members = append(c.members, m)
	c.mu.Unlock()
	return m
}

func (c *Cluster) nextXID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	return fmt.Sprintf("x%015x", c.nextID)
}

// liveOwners lists the owner tag of every member's live epoch. It takes each member's
// lock alone (never c.mu with one), so it may run under no lock of a member.
func (c *Cluster) liveOwners() []string {
	c.mu.Lock()
	ms := append([]*Membership(nil), c.members...)
	c.mu.Unlock()
	var out []string
	for _, m := range ms {
		m.mu.Lock()
		if o := m.liveOwner(); o != "" {
			out = append(out, o)
		}
		m.mu.Unlock()
	}
	return out
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

// Expire ends the current epoch's lease as the cluster sees it, without this instance
// noticing: it is no longer among the live owners (of a Cluster's members, or of
// LiveOwners), its lock keys are freed and it can take no more, but its Context stays
// live and Epoch still answers it, until LoseLease or Rejoin. This is an instance cut off
// from etcd whose lease expired before its keep-alive noticed: the window the store's
// owner fence exists for.
func (m *Membership) Expire() {
	m.mu.Lock()
	ep := m.cur
	m.mu.Unlock()
	if ep != nil {
		ep.expired.Store(true)
		ep.locks.release(ep)
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
	owner   string
	locks   *Locks
	ctx     context.Context
	cancel  context.CancelFunc
	expired atomic.Bool // Expire: dead to the cluster, not yet to the instance
}

var _ engine.Epoch = (*Epoch)(nil)

// Owner is the epoch's owner tag.
func (e *Epoch) Owner() string { return e.owner }

// Expired reports whether Expire ended the epoch's lease for the cluster.
func (e *Epoch) Expired() bool { return e.expired.Load() }

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
			if ep.ctx.Err() != nil || ep.expired.Load() {
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
