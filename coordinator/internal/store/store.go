// Package store is the coordinator's durable state: one row per global transaction and
// one per branch (docs/design.md §4). The Store interface is the seam; GormStore implements it
// on MySQL (MariaDB) and on the embedded SQLite of the quick start, and one contract
// test suite runs against both.
//
// Every method that writes many records takes them as a batch and writes the batch in
// one database transaction (group commit): the engine collects the begins, decisions
// and results of concurrent global transactions and hands them over together.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// Domain errors of the store.
var (
	// ErrNotFound: no such transaction.
	ErrNotFound = errors.New("store: not found")
	// ErrDuplicateXID: a transaction with this XID exists already; nothing was written.
	ErrDuplicateXID = errors.New("store: duplicate xid")
	// ErrDuplicateIdempotencyKey: a transaction with this idempotency key exists
	// already; nothing was written.
	ErrDuplicateIdempotencyKey = errors.New("store: duplicate idempotency key")
)

// Transaction is a global transaction and its branches.
type Transaction struct {
	XID       string
	Status    tcc.TxStatus
	Owner     string // the coordinator session driving it: "instance#lease" (cluster.Epoch.Owner)
	Deadline  time.Time
	TimeoutMS int64
	LockKeys  []string
	// IdempotencyKey, when not empty, is unique among all transactions; RequestHash is
	// the hash of the request that created it, to tell a replay from a different call.
	IdempotencyKey string
	RequestHash    string
	RequestID      string
	Refusal        *tcc.Refusal
	Attention      bool
	CreatedAt      time.Time
	UpdatedAt      time.Time
	Branches       []Branch
}

// Branch is one branch of a global transaction.
type Branch struct {
	BranchID    string
	Participant string
	Action      string
	Payload     []byte
	Status      tcc.BranchStatus
	Attempts    int
	LastError   string
	UpdatedAt   time.Time
}

// Header is what the recovery scanner needs of an unfinished transaction.
type Header struct {
	XID      string
	Status   tcc.TxStatus
	Owner    string
	Deadline time.Time
}

// Decision is a compare-and-set of a transaction's status out of TRYING (docs/design.md §4).
// It wins only if the row is still TRYING and still owned by Owner, so a coordinator
// whose row was taken over can no longer decide (fencing).
type Decision struct {
	XID     string
	Owner   string
	To      tcc.TxStatus // TxConfirming or TxCancelling
	Refusal *tcc.Refusal
}

// DecideResult is the outcome of one Decision: Won, or lost (the row had left TRYING or
// changed owner), or Err when the outcome is unknown (the caller tries again: the
// compare-and-set makes a repeat harmless).
type DecideResult struct {
	Won bool
	Err error
}

// BranchUpdate records a branch's latest status. Participant, Action are carried so the
// write can be a single multi-row upsert; the row always exists (written at begin).
// Owner fences the write: it is applied only while the transaction's row is still owned
// by Owner (empty: unconditional, for tools and tests).
type BranchUpdate struct {
	XID         string
	Owner       string
	BranchID    string
	Participant string
	Action      string
	Status      tcc.BranchStatus
	Attempts    int
	LastError   string
}

// Finish moves a transaction from From (CONFIRMING or CANCELLING) to its final status
// and sets its attention flag to Attention (false clears a flag raised by retries that
// later succeeded; true keeps a transaction with a NOT_APPLIED branch flagged). It does
// nothing if the row is not in From, and, like BranchUpdate, is fenced by Owner.
type Finish struct {
	XID       string
	Owner     string
	From      tcc.TxStatus
	To        tcc.TxStatus
	Attention bool
}

// Results is a batch of asynchronous writes: everything after the decision that recovery
// can redo. Losing it costs a repeated, idempotent Confirm or Cancel, never correctness.
type Results struct {
	Branches  []BranchUpdate
	Attention []string // XIDs to flag for attention
	Finishes  []Finish
}

// Empty reports whether r holds nothing to write.
func (r Results) Empty() bool {
	return len(r.Branches) == 0 && len(r.Attention) == 0 && len(r.Finishes) == 0
}

// ListFilter selects a page of transactions, in XID (creation) order.
type ListFilter struct {
	Status    tcc.TxStatus // empty: any
	Attention *bool        // nil: any
	After     string       // XID cursor: only XIDs greater than this
	Limit     int          // 1..1000
}

// Store is the coordinator's durable state. Implementations are safe for concurrent use.
type Store interface {
	// Migrate brings the schema to its newest version (Schema): idempotent, and safe while
	// other instances run it on the same database.
	Migrate(ctx context.Context) error
	// Ping checks the database is reachable.
	Ping(ctx context.Context) error
	// Begin durably writes each transaction with all its branches. The batch is written
	// in one database transaction; if that fails, each is written alone so that every
	// element of the answer (same order as txs) is that transaction's own outcome:
	// nil (durable), ErrDuplicateXID, ErrDuplicateIdempotencyKey, or another error
	// (outcome unknown only if the error came from the commit itself).
	Begin(ctx context.Context, txs []*Transaction) []error
	// Decide applies the decisions, in one database transaction when possible. The
	// answer has one element per decision, in order.
	Decide(ctx context.Context, ds []Decision) []DecideResult
	// Apply writes a batch of results in one database transaction. It is idempotent.
	// Branch updates and finishes whose Owner no longer owns the transaction's row (it
	// was taken over) are skipped, and their XIDs are returned in fenced (sorted, each
	// once); the rest of the batch is written. On error nothing was written (or the
	// outcome of the commit is unknown) and fenced is nil.
	Apply(ctx context.Context, r Results) (fenced []string, err error)
	// Claim makes to the owner of an unfinished xid if from still owns it; it reports
	// whether it did (a compare-and-set: of several claimers, one wins).
	Claim(ctx context.Context, xid, from, to string) (bool, error)
	// Get returns a transaction with its branches, or ErrNotFound.
	Get(ctx context.Context, xid string) (*Transaction, error)
	// GetByIdempotencyKey returns the transaction begun with key, or ErrNotFound.
	GetByIdempotencyKey(ctx context.Context, key string) (*Transaction, error)
	// List returns a page of transactions with their branches.
	List(ctx context.Context, f ListFilter) ([]Transaction, error)
	// Unfinished returns up to limit unfinished transactions with XID > after, in XID
	// order.
	Unfinished(ctx context.Context, after string, limit int) ([]Header, error)
}
