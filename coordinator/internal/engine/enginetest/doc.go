// Package enginetest has in-memory implementations of the engine's ports, for tests and
// simulations that run the engine without MariaDB or etcd: Store (store.Store, with its
// decision history, Decisions) and Membership (engine.Membership; a Cluster joins several
// so that they see each other's live epochs and share lock keys and one ID sequence).
// They keep the contracts their production counterparts document (compare-and-set
// decisions, owner-fenced writes, leased locks). Faults are injected by wrapping them:
// FaultyStore's crash points (a call that fails before writing, or that writes and loses
// its answer), Membership.LoseLease, Rejoin and Expire (a lease the cluster saw expire
// before the instance noticed), or by embedding the Store and overriding a method.
package enginetest
