// Package enginetest has in-memory implementations of the engine's ports, for tests and
// simulations that run the engine without MariaDB or etcd: Store (store.Store) and
// Membership (engine.Membership). They keep the contracts their production
// counterparts document (compare-and-set decisions, owner-fenced writes, leased locks);
// faults are injected by wrapping them (embed the Store and override a method).
package enginetest
