// Package tcc is the participant SDK of tccsuite: what a Go service imports to take part
// in TCC (Try / Confirm / Cancel) global transactions driven by the tccsuite coordinator.
//
// # The barrier
//
// Barrier.Run runs a phase's business change and its barrier rows (table tcc_barrier,
// created by Migrate) in one local database transaction, so that every phase is applied
// at most once whatever the coordinator or the network does:
//
//   - a duplicate Try, Confirm or Cancel does nothing and answers as the first did;
//   - a Confirm runs its business step only if this branch's Try was applied here and
//     its Cancel was not: otherwise it does nothing and answers 409 TCC_NOT_TRIED (no
//     Try applied: it never arrived, rolled back, or its rows were purged) or 409
//     TCC_PHASE_CONFLICT (the branch was cancelled);
//   - a Cancel compensates only a Try applied here and not confirmed: after a Confirm it
//     does nothing and answers 409 TCC_PHASE_CONFLICT;
//   - a Cancel whose Try never committed compensates nothing (empty compensation) and
//     blocks that Try for ever (anti-suspension): a late Try answers 409 TCC_SUSPENDED;
//   - a Try that arrives after its X-TCC-Deadline is refused (409 TCC_EXPIRED) before it
//     touches anything. Once Purge has removed a finished branch's rows, this deadline is
//     what keeps a very late duplicate Try out.
//
// The phases of one branch are serialised on its 'try' row (a locking read or write of
// it comes first in each), on MySQL (REPEATABLE READ or READ COMMITTED) and SQLite, so
// concurrent deliveries behave as if they came one after the other.
//
// Duplicates are detected through gorm's portable conflict clause on the unique key
// (xid, branch_id, phase), on MySQL and SQLite alike; no driver error text is read.
//
// # The gin adapter
//
// Mount serves POST /tcc/{action}/{try|confirm|cancel} for one Action, decoding the
// payload into a typed value, checking the coordinator's HMAC signature (Verifier), the
// protocol headers and the body size, and answering by status code:
//
//	200  applied, duplicate or empty compensation (the body's "outcome" says which)
//	400  TCC_BAD_HEADER, TCC_BAD_PAYLOAD        the call is malformed (a bug)
//	401  TCC_UNAUTHORIZED                       not signed by a coordinator, or stale
//	409  the action's code (Reject), TCC_SUSPENDED, TCC_EXPIRED
//	409  TCC_NOT_TRIED, TCC_PHASE_CONFLICT      a second phase the barrier refused (above);
//	                                            logged at Error: a coordinator bug or lost data
//	413  TCC_PAYLOAD_TOO_LARGE; 415 TCC_UNSUPPORTED_MEDIA_TYPE
//	503  TCC_RETRY     a transient database conflict (deadlock) or the database
//	                   unreachable: rolled back, call again (with Retry-After)
//	504  TCC_TIMEOUT   the call ran out of time: outcome unknown, call again
//	500  TCC_INTERNAL  anything else: rolled back, call again
//
// Every refused call changes nothing.
//
// # Propagation
//
// Propagate (a gin middleware) and RestyMiddleware carry the request ID, the W3C trace
// context and the transaction headers from an incoming request to the calls it makes.
//
// # Retention
//
// Purge removes the barrier rows of finished branches older than a retention, in
// batches; RunPurger runs it periodically. Open branches are never purged.
//
// The coordinator's API types (BeginRequest, Transaction, ...) also live here, with a Go
// client for services that start global transactions.
//
// # The module
//
// The SDK is its own Go module, github.com/tccsuite/tccsuite/pkg/tcc, so that a service
// importing it takes in gin, gorm, resty, the MySQL driver and the Prometheus client, and
// nothing of the suite: no SQLite engine, etcd server, Kubernetes or compose library (a
// test, TestSDKImportsStayLight, keeps it so). Its sub-packages jsonbody (the strict JSON
// body reader of the adapter) and dberr (the database error classification behind 503
// TCC_RETRY) are the ones the suite's services use too. The barrier works on any gorm
// connection to MySQL, MariaDB or SQLite; the application picks and imports the driver.
package tcc
