package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Config configures a Member. Start from DefaultConfig, set Instance (and what else you
// need); New refuses a Config that Validate refuses.
type Config struct {
	// Endpoints are the etcd endpoints dialled when Client is nil.
	Endpoints []string
	// Instance is this instance's name, unique among the live instances: the key
	// /tccsuite/coordinators/{Instance} is held by one live session at a time.
	Instance string
	// Advertise is the address other instances and operators can reach this one at.
	Advertise string
	// TTL is the session lease's time to live (whole seconds, at least one). A lost
	// instance's transactions are taken over at most TTL after it stopped.
	TTL time.Duration
	// DialTimeout bounds the first connection to etcd.
	DialTimeout time.Duration
	// JoinTimeout bounds one attempt to (re-)join after the lease was lost.
	JoinTimeout time.Duration
	// RejoinBackoff and RejoinBackoffCap shape the wait between re-join attempts
	// (doubling from RejoinBackoff up to RejoinBackoffCap).
	RejoinBackoff    time.Duration
	RejoinBackoffCap time.Duration
	// LockCheckTimeout bounds the check, at the end of a lock wait, that the key is
	// really held by another transaction.
	LockCheckTimeout time.Duration
	// Log receives the Member's logs and the etcd client's (nil: slog.Default()).
	Log *slog.Logger
	// Client, when set, is used instead of dialling Endpoints (tests); the Member does
	// not close it.
	Client *clientv3.Client
}

// DefaultConfig returns the defaults: a local etcd, a 5s lease. Instance is left empty:
// it must be set.
func DefaultConfig() Config {
	return Config{
		Endpoints:        []string{"http://127.0.0.1:2379"},
		TTL:              5 * time.Second,
		DialTimeout:      5 * time.Second,
		JoinTimeout:      10 * time.Second,
		RejoinBackoff:    100 * time.Millisecond,
		RejoinBackoffCap: 5 * time.Second,
		LockCheckTimeout: time.Second,
	}
}

// Validate reports every field out of its range, joined in one error (nil if none).
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, a ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("cluster: "+format, a...))
		}
	}
	check(c.Instance != "" && !strings.Contains(c.Instance, "/"), "Instance must be a non-empty name without '/', not %q", c.Instance)
	check(c.Client != nil || len(c.Endpoints) > 0, "Endpoints are required (or a Client)")
	check(c.TTL >= time.Second, "TTL must be at least 1s, not %v", c.TTL)
	check(c.DialTimeout > 0, "DialTimeout must be positive, not %v", c.DialTimeout)
	check(c.JoinTimeout > 0, "JoinTimeout must be positive, not %v", c.JoinTimeout)
	check(c.RejoinBackoff > 0, "RejoinBackoff must be positive, not %v (a zero backoff would re-join in a tight loop)", c.RejoinBackoff)
	check(c.RejoinBackoffCap >= c.RejoinBackoff, "RejoinBackoffCap (%v) must be at least RejoinBackoff (%v)", c.RejoinBackoffCap, c.RejoinBackoff)
	check(c.LockCheckTimeout > 0, "LockCheckTimeout must be positive, not %v", c.LockCheckTimeout)
	return errors.Join(errs...)
}
