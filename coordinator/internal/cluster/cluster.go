// Package cluster is the coordinator's membership in etcd (docs/design.md §5): one
// concurrency.Session per instance, the instance key /tccsuite/coordinators/{instance},
// a leased worker number /tccsuite/workers/{n} for local ID generation, the set of live
// owners for takeover, and business locks /tccsuite/locks/{key}.
//
// A Member lives through epochs: one epoch per session. When a session's lease is lost
// the epoch ends at once (its context is cancelled and the ID generator stops) and the
// Member joins again with a new session, a new worker number and a new owner tag.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/tccsuite/tccsuite/coordinator/internal/idgen"
)

// Key prefixes in etcd.
const (
	CoordinatorsPrefix = "/tccsuite/coordinators/"
	WorkersPrefix      = "/tccsuite/workers/"
	LocksPrefix        = "/tccsuite/locks/"
)

// Errors.
var (
	// ErrNoLease: the instance has no live session right now; it may not decide or
	// issue IDs. Callers answer "not ready" and try later.
	ErrNoLease = errors.New("cluster: no live etcd session")
	// ErrLocked: a lock was still held by another transaction when the wait ended (etcd
	// confirmed it at the end of the wait).
	ErrLocked = errors.New("cluster: locked")
	// ErrUnavailable: etcd could not be reached to take or check a lock; whether the key
	// is held is unknown. Not a refusal: the caller leaves the transaction undecided.
	ErrUnavailable = errors.New("cluster: etcd unreachable")
)

// Epoch is one session of a Member. Its Context ends the moment the lease is lost or
// the Member closes.
type Epoch struct {
	Session *concurrency.Session
	Owner   string // owner tag written into transaction rows: instance#lease
	Worker  int
	ctx     context.Context
	cancel  context.CancelFunc
}

// Context ends when the epoch's lease is lost.
func (e *Epoch) Context() context.Context { return e.ctx }

// Lease is the epoch's lease ID.
func (e *Epoch) Lease() clientv3.LeaseID { return e.Session.Lease() }

type instanceValue struct {
	Addr    string    `json:"addr"`
	Started time.Time `json:"started"`
	Owner   string    `json:"owner"`
	Worker  int       `json:"worker"`
}

// Member is an instance's membership. It is safe for concurrent use.
type Member struct {
	cfg     Config
	cli     *clientv3.Client
	ownCli  bool
	log     *slog.Logger
	gen     *idgen.Generator
	started time.Time

	mu      sync.Mutex
	cur     *Epoch
	changed chan struct{} // closed and replaced on every epoch change
	closed  bool
	// stale are leases of this Member's lost epochs not yet known to be gone: join
	// revokes them first, because after an etcd restart a lost lease is restored (with
	// its TTL re-armed) and would keep holding the instance key.
	stale []clientv3.LeaseID

	stop context.CancelFunc
	done chan struct{}
	// OnEpoch, if set before Start, is called (in its own goroutine) with each new epoch.
	OnEpoch func(*Epoch)
}

// New validates cfg and dials etcd (unless cfg.Client is given). Call Start to join.
func New(cfg Config) (*Member, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Member{cfg: cfg, cli: cfg.Client, log: cfg.Log, gen: idgen.New(), changed: make(chan struct{}), started: time.Now().UTC()}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.cli == nil {
		cli, err := clientv3.New(clientv3.Config{
			Endpoints:            cfg.Endpoints,
			DialTimeout:          cfg.DialTimeout,
			DialKeepAliveTime:    cfg.TTL,
			DialKeepAliveTimeout: cfg.TTL,
			Logger:               zapToSlog(m.log.With("component", "etcd-client")),
		})
		if err != nil {
			return nil, fmt.Errorf("cluster: dial etcd: %w", err)
		}
		m.cli, m.ownCli = cli, true
	}
	return m, nil
}

// Client is the etcd client.
func (m *Member) Client() *clientv3.Client { return m.cli }

// Start joins the cluster (waiting until the first epoch begins or ctx ends) and keeps
// re-joining in the background whenever the lease is lost, until Close.
func (m *Member) Start(ctx context.Context) error {
	ep, err := m.join(ctx)
	if err != nil {
		return err
	}
	loopCtx, stop := context.WithCancel(context.Background())
	m.stop, m.done = stop, make(chan struct{})
	m.setEpoch(ep)
	go m.loop(loopCtx, ep)
	return nil
}

func (m *Member) loop(ctx context.Context, ep *Epoch) {
	defer close(m.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ep.Session.Done():
		}
		m.log.Error("etcd lease lost: stopped deciding and issuing IDs; re-joining", "owner", ep.Owner)
		m.mu.Lock()
		m.stale = append(m.stale, ep.Lease())
		m.mu.Unlock()
		m.setEpoch(nil)
		backoff := m.cfg.RejoinBackoff
		for {
			var err error
			jctx, cancel := context.WithTimeout(ctx, m.cfg.JoinTimeout)
			ep, err = m.join(jctx)
			cancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			m.log.Warn("etcd re-join failed; retrying", "err", err, "in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(backoff*2, m.cfg.RejoinBackoffCap)
		}
		m.setEpoch(ep)
		m.log.Info("etcd session re-joined", "owner", ep.Owner, "worker", ep.Worker)
	}
}

func (m *Member) setEpoch(ep *Epoch) {
	m.mu.Lock()
	old := m.cur
	if m.closed && ep != nil {
		m.mu.Unlock()
		ep.cancel()
		_ = ep.Session.Close()
		return
	}
	m.cur = ep
	if ep == nil {
		m.gen.Stop()
	} else {
		_ = m.gen.Start(ep.Worker)
	}
	close(m.changed)
	m.changed = make(chan struct{})
	cb := m.OnEpoch
	m.mu.Unlock()
	if old != nil && old != ep {
		old.cancel()
	}
	if ep != nil && cb != nil {
		go cb(ep)
	}
}

// join opens a session, claims the instance key and a worker number. The instance key
// is claimed only if absent, so two live processes never share an instance name: a
// restarted instance waits (retrying) until its previous lease has expired. The leases
// of this Member's own lost epochs are revoked first, so a re-join after an etcd
// restart (which restores them) does not wait for them.
func (m *Member) join(ctx context.Context) (*Epoch, error) {
	if err := m.revokeStale(ctx); err != nil {
		return nil, err
	}
	// Grant under ctx (so an unreachable etcd fails the join instead of blocking), then
	// let the session keep the lease alive for its whole life.
	ttl := int64(m.cfg.TTL.Round(time.Second) / time.Second)
	lease, err := m.cli.Grant(ctx, ttl)
	if err != nil {
		return nil, fmt.Errorf("cluster: grant lease: %w", err)
	}
	sess, err := concurrency.NewSession(m.cli, concurrency.WithLease(lease.ID), concurrency.WithTTL(int(ttl)))
	if err != nil {
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _ = m.cli.Revoke(rctx, lease.ID)
		cancel()
		return nil, fmt.Errorf("cluster: session: %w", err)
	}
	fail := func(err error) (*Epoch, error) {
		_ = sess.Close()
		return nil, err
	}
	owner := m.cfg.Instance + "#" + strconv.FormatInt(int64(sess.Lease()), 16)
	worker, err := m.claimWorker(ctx, sess)
	if err != nil {
		return fail(err)
	}
	val, _ := json.Marshal(instanceValue{Addr: m.cfg.Advertise, Started: m.started, Owner: owner, Worker: worker})
	key := CoordinatorsPrefix + m.cfg.Instance
	resp, err := m.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(val), clientv3.WithLease(sess.Lease()))).
		Commit()
	if err != nil {
		return fail(fmt.Errorf("cluster: register instance: %w", err))
	}
	if !resp.Succeeded {
		return fail(fmt.Errorf("cluster: instance name %q is held by a live session (a previous run's lease has not expired yet, or two instances share a name)", m.cfg.Instance))
	}
	ectx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-sess.Done():
			cancel()
		case <-ectx.Done():
		}
	}()
	return &Epoch{Session: sess, Owner: owner, Worker: worker, ctx: ectx, cancel: cancel}, nil
}

// revokeStale revokes the leases of this Member's lost epochs (a lease already gone
// counts as revoked).
func (m *Member) revokeStale(ctx context.Context) error {
	m.mu.Lock()
	stale := append([]clientv3.LeaseID(nil), m.stale...)
	m.mu.Unlock()
	for _, id := range stale {
		_, err := m.cli.Revoke(ctx, id)
		if err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return fmt.Errorf("cluster: revoke the lost lease %x: %w", int64(id), err)
		}
		m.mu.Lock()
		for i, x := range m.stale {
			if x == id {
				m.stale = append(m.stale[:i], m.stale[i+1:]...)
				break
			}
		}
		m.mu.Unlock()
	}
	return nil
}

func (m *Member) claimWorker(ctx context.Context, sess *concurrency.Session) (int, error) {
	start := rand.IntN(idgen.MaxWorkers) //nolint:gosec // spreads the first probe over the worker numbers; guards nothing
	for i := 0; i < idgen.MaxWorkers; i++ {
		n := (start + i) % idgen.MaxWorkers
		key := WorkersPrefix + strconv.Itoa(n)
		resp, err := m.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, m.cfg.Instance, clientv3.WithLease(sess.Lease()))).
			Commit()
		if err != nil {
			return 0, fmt.Errorf("cluster: claim worker: %w", err)
		}
		if resp.Succeeded {
			return n, nil
		}
	}
	return 0, errors.New("cluster: every worker number is taken")
}

// Epoch returns the current epoch, or ErrNoLease.
func (m *Member) Epoch() (*Epoch, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur == nil {
		return nil, ErrNoLease
	}
	select {
	case <-m.cur.ctx.Done():
		return nil, ErrNoLease
	default:
	}
	return m.cur, nil
}

// Changed returns a channel closed at the next epoch change.
func (m *Member) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

// NextID returns a new XID, or ErrNoLease while the lease is lost.
func (m *Member) NextID() (string, error) {
	if _, err := m.Epoch(); err != nil {
		return "", err
	}
	id, err := m.gen.Next()
	if errors.Is(err, idgen.ErrStopped) {
		return "", ErrNoLease
	}
	return id, err
}

// LiveOwners returns the owner tags of every instance with a live session.
func (m *Member) LiveOwners(ctx context.Context) (map[string]bool, error) {
	resp, err := m.cli.Get(ctx, CoordinatorsPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("cluster: live owners: %w", err)
	}
	out := make(map[string]bool, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var v instanceValue
		if json.Unmarshal(kv.Value, &v) == nil && v.Owner != "" {
			out[v.Owner] = true
		}
	}
	return out, nil
}

// Lock takes /tccsuite/locks/{key} for xid under ep's lease, waiting while another
// transaction holds it. When ctx ends first it returns ErrLocked if etcd then confirms
// another holder, or ErrUnavailable if etcd cannot be reached (a timeout is not a
// refusal); ErrNoLease when the epoch ends. A lock already held by xid under ep's lease
// is taken again (idempotent).
func (m *Member) Lock(ctx context.Context, ep *Epoch, key, xid string) error {
	k := LocksPrefix + key
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ep.ctx, cancel)
	defer stop()
	for {
		resp, err := m.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
			Then(clientv3.OpPut(k, xid, clientv3.WithLease(ep.Lease()))).
			Else(clientv3.OpGet(k)).
			Commit()
		if err != nil {
			return m.lockErr(ctx, ep, k, xid, err)
		}
		if resp.Succeeded {
			return nil
		}
		rev := resp.Header.Revision
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 && string(kvs[0].Value) == xid {
			if clientv3.LeaseID(kvs[0].Lease) == ep.Lease() {
				return nil
			}
		}
		// Wait for the holder to let go (delete or lease expiry), then try again.
		wch := m.cli.Watch(clientv3.WithRequireLeader(ctx), k, clientv3.WithRev(rev+1), clientv3.WithFilterPut())
		deleted := false
		for wr := range wch {
			if wr.Err() != nil {
				break
			}
			if len(wr.Events) > 0 {
				deleted = true
				break
			}
		}
		if !deleted && ctx.Err() != nil {
			return m.lockErr(ctx, ep, k, xid, ctx.Err())
		}
	}
}

// lockErr classifies the end of a lock wait on k. A wait that ran out of time is
// LOCKED only if etcd answers, right then, that another holder has the key: a wait that
// ended because etcd was unreachable (a Txn or a watch that could not complete) says
// nothing about the key.
func (m *Member) lockErr(ctx context.Context, ep *Epoch, k, xid string, err error) error {
	if ep.ctx.Err() != nil {
		return ErrNoLease
	}
	if ctx.Err() == nil {
		return fmt.Errorf("cluster: lock: %w: %w", ErrUnavailable, err)
	}
	cctx, cancel := context.WithTimeout(ep.ctx, m.cfg.LockCheckTimeout)
	defer cancel()
	resp, gerr := m.cli.Get(cctx, k)
	if ep.ctx.Err() != nil {
		return ErrNoLease
	}
	if gerr != nil {
		return fmt.Errorf("cluster: lock %s: %w: %w", k, ErrUnavailable, gerr)
	}
	if len(resp.Kvs) == 1 && string(resp.Kvs[0].Value) == xid && clientv3.LeaseID(resp.Kvs[0].Lease) == ep.Lease() {
		return nil // taken by our own Txn whose answer was lost: ours after all
	}
	return ErrLocked // held by another (or freed at the very end of the wait)
}

// Unlock releases key if xid holds it under ep's lease. It is idempotent, and a no-op
// when the key has been taken again since (even by the same xid, e.g. by the new owner
// of a transaction taken over): only the epoch that took a lock releases it.
func (m *Member) Unlock(ctx context.Context, ep *Epoch, key, xid string) error {
	k := LocksPrefix + key
	_, err := m.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.Value(k), "=", xid), clientv3.Compare(clientv3.LeaseValue(k), "=", ep.Lease())).
		Then(clientv3.OpDelete(k)).
		Commit()
	if err != nil {
		return fmt.Errorf("cluster: unlock %s: %w", key, err)
	}
	return nil
}

// Close ends the current epoch and revokes its lease, so that other instances take over
// this instance's transactions at once, then closes the client (if the Member dialled it).
func (m *Member) Close(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	ep := m.cur
	m.mu.Unlock()
	if m.stop != nil {
		m.stop()
		<-m.done
	}
	m.setEpoch(nil)
	var err error
	if ep != nil {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = m.cli.Revoke(rctx, ep.Lease())
		cancel()
		ep.cancel()
		_ = ep.Session.Close()
	}
	if m.ownCli {
		if cerr := m.cli.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("cluster: close: %w", err)
	}
	return nil
}
