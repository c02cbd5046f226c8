package engine

import (
	"context"
	"errors"
)

// Membership is the engine's port to the cluster: this instance's current lease (epoch),
// transaction IDs, and who else is alive. The coordinator adapts package cluster (etcd)
// to it; tests and simulations use an in-memory one (package enginetest). An
// implementation is safe for concurrent use.
type Membership interface {
	// Epoch returns the current epoch, or an error while this instance holds no live
	// lease (the engine then answers ErrNotReady and decides nothing).
	Epoch() (Epoch, error)
	// NextID returns a new transaction ID, unique across every instance and every epoch,
	// or an error while there is no live lease.
	NextID() (string, error)
	// LiveOwners returns the owner tags of every instance with a live lease. An owner
	// that is not in it is dead for good: its transactions may be taken over.
	LiveOwners(ctx context.Context) (map[string]bool, error)
}

// Epoch is one lease of this instance's membership. A lost lease never comes back: the
// next one is a new Epoch with a new owner tag.
type Epoch interface {
	// Owner is the owner tag written into the rows of the transactions begun or taken
	// over in this epoch; the store fences writes on it.
	Owner() string
	// Context ends the moment the lease is lost (or the membership closes).
	Context() context.Context
	// Lock takes the business lock key for xid under this epoch's lease, waiting while
	// another transaction holds it. When ctx ends first it answers an error wrapping
	// ErrLocked only if the key is known to be held by another transaction; any other
	// error (the lock service unreachable, the lease lost) says nothing about the key.
	// Taking a key xid already holds in this epoch succeeds (idempotent).
	Lock(ctx context.Context, key, xid string) error
	// Unlock releases key if xid holds it in this epoch; idempotent, and a no-op when
	// the key was taken again since (by anyone, even by xid in a later epoch).
	Unlock(ctx context.Context, key, xid string) error
}

// ErrLocked is wrapped by Epoch.Lock's error when the key stayed held by another
// transaction until the wait ended.
var ErrLocked = errors.New("engine: lock key held by another transaction")
