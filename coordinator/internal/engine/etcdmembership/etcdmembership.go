// Package etcdmembership adapts the coordinator's etcd membership (package cluster) to
// the engine's Membership port: the one production implementation of the port, next to
// the in-memory one of package enginetest.
package etcdmembership

import (
	"context"
	"errors"
	"fmt"

	"github.com/tccsuite/tccsuite/coordinator/internal/cluster"
	"github.com/tccsuite/tccsuite/coordinator/internal/engine"
)

// New adapts m. Its epochs are m's; their locks are etcd keys under their lease, and
// cluster.ErrLocked is reported as engine.ErrLocked (wrapping both).
func New(m *cluster.Member) engine.Membership { return membership{m} }

type membership struct{ m *cluster.Member }

func (a membership) Epoch() (engine.Epoch, error) {
	ep, err := a.m.Epoch()
	if err != nil {
		return nil, err
	}
	return epoch{m: a.m, ep: ep}, nil
}

func (a membership) NextID() (string, error) { return a.m.NextID() }

func (a membership) LiveOwners(ctx context.Context) (map[string]bool, error) {
	return a.m.LiveOwners(ctx)
}

// epoch adapts one cluster epoch; its locks are etcd keys under the epoch's lease.
type epoch struct {
	m  *cluster.Member
	ep *cluster.Epoch
}

func (e epoch) Owner() string            { return e.ep.Owner }
func (e epoch) Context() context.Context { return e.ep.Context() }

func (e epoch) Lock(ctx context.Context, key, xid string) error {
	err := e.m.Lock(ctx, e.ep, key, xid)
	if errors.Is(err, cluster.ErrLocked) {
		return fmt.Errorf("%w: %w", engine.ErrLocked, err)
	}
	return err
}

func (e epoch) Unlock(ctx context.Context, key, xid string) error {
	return e.m.Unlock(ctx, e.ep, key, xid)
}
