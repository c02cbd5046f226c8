// Package sim is a deterministic-clock simulation of the coordinator (issue 16): the
// real engine code of several coordinator instances, on one shared in-memory store
// (enginetest.Store) and one in-memory cluster (enginetest.Cluster), calling in-memory
// participants through the real registry (resty over an http.RoundTripper that routes
// each call to a participant model), under seeded faults. It runs inside a
// testing/synctest bubble, so every timeout, backoff, deadline and delay is simulated
// time: a run covers minutes in well under a second.
//
// One run (Run, driven by Config.Seed):
//
//   - 2 or 3 instances, each with its own membership epoch and engine (short real-looking
//     timeouts: 1 s calls, 0.5 s recovery scans, 0.5–5 s transaction deadlines);
//   - 3 participants, each one pooled resource (30–150 units) behind a model of
//     pkg/tcc's barrier (docs/design.md §3: at most once per phase, empty compensation,
//     suspension of a Try after its Cancel, TCC_EXPIRED, TCC_NOT_TRIED,
//     TCC_PHASE_CONFLICT); a Try reserves units or is refused (OUT_OF_STOCK);
//   - a workload of Config.Txs begins (1–3 branches, some with a lock key, wait for the
//     decision or completion), each from a client that retries on another instance with
//     the same idempotency key while it is answered "not ready" or "unavailable";
//   - for Config.FaultFor: network faults on every branch call (request lost, answer
//     lost after the participant applied it, duplicated delivery, 503, long delays that
//     reorder calls and land them after the caller gave up), store crash points
//     (enginetest.FaultyStore: a write that fails, or that commits and loses its answer;
//     reads that fail) and store latency (sometimes up to 150 ms), and instance faults
//     every 0.2–2 s: lease loss then re-join; lease loss with an immediate recovery scan
//     of the others (takeover); partition from etcd (Membership.Expire: the others see
//     the lease expire and take the rows over at once, the instance notices only 50 ms–1 s
//     later and meanwhile drives and writes under its old owner tag); crash then restart
//     (nothing of the crashed process reaches the store or a participant any more, its
//     in-memory runs and queued writes vanish; a new engine, registry and epoch);
//   - then faults stop, every instance comes back with a lease, and time advances until
//     every transaction is final (at most 15 simulated minutes); then the invariants are
//     checked (check.go: the Inv constants).
//
// "No Try applied after the decision", made precise from docs/design.md §3: a Try whose
// business step runs when its transaction's stored status has already left TRYING (a
// delivery that lands late, before its deadline and before its branch's Cancel, so the
// barrier lets it in) is allowed only under a CANCELLING decision, and only if that
// branch's Cancel then runs its business step (compensates it). Under CONFIRMING it
// cannot happen (every Try answered 2xx before the decision, so a late copy is a
// duplicate); a Try after its Cancel is suspended, one after its deadline expired.
// (late-try-compensated; pool-conserved and branch-finished check the same from the
// resources' side.)
//
// Every write to the shared store goes through an audit (stores.go) that compares the
// row before and after: a decision, branch result or final status that took effect
// although its writer did not own the row is a fenced-writes violation. The test builds
// deliberately broken stores (the owner fence removed from the decision, or from the
// branch and final writes) and checks that the simulation finds them.
//
// Determinism. Every random choice comes from the seed, and is drawn so as not to depend
// on the order of concurrent goroutines: the workload, the instance fault schedule and
// each incarnation's seed from generators seeded by it, sequentially; each branch call's
// network fault and delay from a generator seeded by (seed, request ID, branch, phase,
// n-th such call); each store call's crash point and latency by (incarnation seed,
// method, first XID, n-th such call); each backoff jitter by (incarnation seed, the
// simulated instant, the duration). Every simulated duration has nanosecond resolution,
// so two events rarely fall on the same instant. The clock is the bubble's fake clock.
// What is not deterministic is the order of goroutines that do run at the same
// simulated instant (the Go scheduler's choice, on any GOMAXPROCS; for instance the
// writers' and batchers' workers, a stale and a new driver calling the same branch, a
// map iteration in the engine): most seeds replay exactly (the same Result.Digest run
// after run), some diverge after such a tie. A failing seed replays the same workload
// and fault schedule; if it does not fail every time, run it with -sim.repeat=N (or
// -count=N) to reproduce it.
//
// Running it: `go test ./coordinator/internal/sim` runs 12 fixed seeds and the evidence
// test (the broken stores); -sim.seed=N replays one seed, -sim.seeds=N runs seeds 1..N
// (the long mode), -sim.broken=NAME runs against a broken store, -sim.log prints the
// engines' logs, -sim.repeat=K runs each seed K times and reports whether the runs
// agree. A failing seed prints its replay command.
package sim
