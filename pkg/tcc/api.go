package tcc

import (
	"encoding/json"
	"time"
)

// This file holds the coordinator's public API types (docs/design.md §7), shared by the
// coordinator's server and the Go client that services use to start transactions.

// TxStatus is the status of a global transaction.
type TxStatus string

// Global transaction statuses (docs/design.md §4). CONFIRMED and CANCELLED are final.
const (
	TxTrying     TxStatus = "TRYING"
	TxConfirming TxStatus = "CONFIRMING"
	TxConfirmed  TxStatus = "CONFIRMED"
	TxCancelling TxStatus = "CANCELLING"
	TxCancelled  TxStatus = "CANCELLED"
)

// Final reports whether s is CONFIRMED or CANCELLED.
func (s TxStatus) Final() bool { return s == TxConfirmed || s == TxCancelled }

// BranchStatus is the status of one branch of a global transaction.
type BranchStatus string

// Branch statuses.
const (
	BranchRegistered BranchStatus = "REGISTERED" // written at begin; Try not yet answered
	BranchTried      BranchStatus = "TRIED"      // Try answered 2xx
	BranchRefused    BranchStatus = "REFUSED"    // Try answered 409 (business refusal)
	BranchFailed     BranchStatus = "FAILED"     // Try failed otherwise (timeout, 5xx, bad call)
	BranchConfirmed  BranchStatus = "CONFIRMED"  // Confirm answered 2xx
	BranchCancelled  BranchStatus = "CANCELLED"  // Cancel answered 2xx
	// BranchNotApplied: the participant's barrier refused the Confirm or Cancel
	// (TCC_NOT_TRIED or TCC_PHASE_CONFLICT): nothing was applied there and nothing will
	// be. Final for the branch; the transaction is flagged for attention.
	BranchNotApplied BranchStatus = "NOT_APPLIED"
)

// Wait modes of BeginRequest.
const (
	WaitDecision   = "decision"   // answer once the decision is durable
	WaitCompletion = "completion" // answer once every branch confirmed or cancelled
)

// BranchSpec is one branch of a BeginRequest: a registered participant, one of its
// actions, and the payload its Try, Confirm and Cancel receive.
type BranchSpec struct {
	Participant string          `json:"participant"`
	Action      string          `json:"action"`
	Payload     json.RawMessage `json:"payload"`
}

// BeginRequest is the body of POST /v1/transactions.
type BeginRequest struct {
	Branches  []BranchSpec `json:"branches"`
	TimeoutMS int64        `json:"timeout_ms,omitempty"`
	Wait      string       `json:"wait,omitempty"`
	LockKeys  []string     `json:"lock_keys,omitempty"`
}

// Refusal says which branch refused its Try and why, when a transaction was cancelled
// because of a business refusal.
type Refusal struct {
	BranchID    string `json:"branch_id"`
	Participant string `json:"participant"`
	Action      string `json:"action"`
	Code        string `json:"code"`
	Message     string `json:"message,omitempty"`
}

// BranchInfo is one branch as the coordinator reports it.
type BranchInfo struct {
	BranchID    string       `json:"branch_id"`
	Participant string       `json:"participant"`
	Action      string       `json:"action"`
	Status      BranchStatus `json:"status"`
	Attempts    int          `json:"attempts"`
	LastError   string       `json:"last_error,omitempty"`
}

// Transaction is a global transaction as the coordinator reports it.
type Transaction struct {
	XID       string       `json:"xid"`
	Status    TxStatus     `json:"status"`
	Attention bool         `json:"attention"`
	Refusal   *Refusal     `json:"refusal,omitempty"`
	Deadline  time.Time    `json:"deadline"`
	CreatedAt time.Time    `json:"created_at"`
	UpdatedAt time.Time    `json:"updated_at"`
	Branches  []BranchInfo `json:"branches"`
}

// TransactionPage is one page of GET /v1/transactions. Next, when not empty, is the
// "after" cursor of the following page.
type TransactionPage struct {
	Transactions []Transaction `json:"transactions"`
	Next         string        `json:"next,omitempty"`
}
