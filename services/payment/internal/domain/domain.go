// Package domain holds the payment service's business rules: an account's balance and
// frozen funds, and the hold an order places on them (docs/design.md §6). Money is integer minor
// units.
package domain

import (
	"errors"
	"fmt"
)

// Bounds of the service's values.
const (
	MaxAccountIDLen = 64
	MaxAmount       = 1_000_000_000_000_000 // minor units, per hold and per balance
)

// Errors of the payment service.
var (
	ErrNotFound          = errors.New("payment: no such account")
	ErrInsufficientFunds = errors.New("payment: insufficient funds")
	ErrInvalid           = errors.New("payment: invalid value")
	// ErrInconsistent means a Confirm or Cancel found less frozen than its Try froze, or
	// a second capture for one order: the protocol was bypassed. Never expected.
	ErrInconsistent = errors.New("payment: frozen funds missing")
)

// Account is a user's account. balance + frozen + captured is what was ever deposited
// (reset by an admin PUT).
type Account struct {
	ID       string
	Balance  int64
	Frozen   int64
	Captured int64 // sum of the account's payments
	Version  int64
}

// ValidAccountID reports whether s is a usable account (user) ID: 1..64 characters of
// [A-Za-z0-9._-].
func ValidAccountID(s string) bool {
	if len(s) == 0 || len(s) > MaxAccountIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// Hold is what an order asks of the payment service: freeze Amount of AccountID's
// balance for OrderID, then capture or release it.
type Hold struct {
	OrderID   string `json:"order_id"`
	AccountID string `json:"account_id"`
	Amount    int64  `json:"amount"`
}

// Validate checks the hold's shape (not the funds).
func (h Hold) Validate() error {
	switch {
	case h.OrderID == "" || len(h.OrderID) > 64:
		return fmt.Errorf("%w: order_id is required (at most 64 characters)", ErrInvalid)
	case !ValidAccountID(h.AccountID):
		return fmt.Errorf("%w: account_id must be 1..64 characters of [A-Za-z0-9._-]", ErrInvalid)
	case h.Amount < 1 || h.Amount > MaxAmount:
		return fmt.Errorf("%w: amount must be in 1..%d", ErrInvalid, int64(MaxAmount))
	}
	return nil
}

// CanFreeze says why the account cannot take h, or nil if it can. The store applies the
// same rule atomically in its conditional update; this explains a refusal.
func (a Account) CanFreeze(h Hold) error {
	if a.Balance < h.Amount {
		return fmt.Errorf("%w: account %s has %d, %d asked", ErrInsufficientFunds, a.ID, a.Balance, h.Amount)
	}
	return nil
}

// ValidBalance checks an admin's balance.
func ValidBalance(b int64) error {
	if b < 0 || b > MaxAmount {
		return fmt.Errorf("%w: balance must be in 0..%d", ErrInvalid, int64(MaxAmount))
	}
	return nil
}
