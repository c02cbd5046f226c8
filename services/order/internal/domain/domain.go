// Package domain holds the order service's business rules: what a customer may order,
// how it is priced (integer minor units, overflow-checked), and an order's life
// (PENDING → CONFIRMED or CANCELLED, docs/design.md §6).
package domain

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"time"
)

// Bounds of an order.
const (
	MaxQuantity = 1000 // units per order: a sane upper bound (docs/design.md §6)
	MaxIDLen    = 64
	// MaxIdempotencyKeyLen bounds the Idempotency-Key header.
	MaxIdempotencyKeyLen = 128
)

// Status is an order's status.
type Status string

// Order statuses.
const (
	StatusPending   Status = "PENDING"
	StatusConfirmed Status = "CONFIRMED"
	StatusCancelled Status = "CANCELLED"
)

// Errors of the order service.
var (
	ErrNotFound = errors.New("order: not found")
	ErrInvalid  = errors.New("order: invalid request")
	// ErrUnknownSKU: the catalogue has no such SKU.
	ErrUnknownSKU = errors.New("order: unknown sku")
	// ErrUnknownUser: the payment service has no account for the user.
	ErrUnknownUser = errors.New("order: unknown user")
	// ErrAmountOverflow: price × quantity does not fit in 64 bits.
	ErrAmountOverflow = errors.New("order: amount too large")
	// ErrKeyReused: an Idempotency-Key came back with another body.
	ErrKeyReused = errors.New("order: idempotency key reused with another request")
	// ErrInconsistent: a Confirm or Cancel found no PENDING order, or one in the other
	// final state: the protocol was bypassed. Never expected.
	ErrInconsistent = errors.New("order: inconsistent order state")
)

// Order is one order.
type Order struct {
	ID        string
	XID       string
	UserID    string
	SKU       string
	Quantity  int64
	UnitPrice int64
	Amount    int64
	Status    Status
	CreatedAt time.Time
}

// ValidRef reports whether s is a usable user ID, SKU or order ID: 1..64 characters of
// [A-Za-z0-9._-].
func ValidRef(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
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

// ValidIdempotencyKey reports whether k is a usable Idempotency-Key: 1..128 printable
// ASCII characters.
func ValidIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > MaxIdempotencyKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// PlaceRequest is what a customer asks for.
type PlaceRequest struct {
	UserID   string
	SKU      string
	Quantity int64
}

// Validate checks the request's shape.
func (r PlaceRequest) Validate() error {
	switch {
	case !ValidRef(r.UserID):
		return fmt.Errorf("%w: user_id must be 1..64 characters of [A-Za-z0-9._-]", ErrInvalid)
	case !ValidRef(r.SKU):
		return fmt.Errorf("%w: sku must be 1..64 characters of [A-Za-z0-9._-]", ErrInvalid)
	case r.Quantity < 1 || r.Quantity > MaxQuantity:
		return fmt.Errorf("%w: quantity must be in 1..%d", ErrInvalid, MaxQuantity)
	}
	return nil
}

// Fingerprint identifies the request's content for idempotency: the same key with
// another fingerprint is a reuse of the key.
func (r PlaceRequest) Fingerprint() string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%d:%s|%d:%s|%d", len(r.UserID), r.UserID, len(r.SKU), r.SKU, r.Quantity)))
	return hex.EncodeToString(h[:])
}

// Amount returns unitPrice × qty, or ErrAmountOverflow.
func Amount(unitPrice, qty int64) (int64, error) {
	if unitPrice < 0 || qty < 0 {
		return 0, fmt.Errorf("%w: negative price or quantity", ErrInvalid)
	}
	if qty != 0 && unitPrice > math.MaxInt64/qty {
		return 0, fmt.Errorf("%w: %d × %d", ErrAmountOverflow, unitPrice, qty)
	}
	return unitPrice * qty, nil
}

// NewOrderID returns a fresh random order ID ("o-" and 32 hex digits).
func NewOrderID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "o-" + hex.EncodeToString(b[:])
}

// Placement is the payload of the order branch: everything the order row holds.
type Placement struct {
	OrderID   string `json:"order_id"`
	UserID    string `json:"user_id"`
	SKU       string `json:"sku"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unit_price"`
	Amount    int64  `json:"amount"`
}

// Validate checks the placement, including that the amount is the price × quantity.
func (p Placement) Validate() error {
	if !ValidRef(p.OrderID) {
		return fmt.Errorf("%w: bad order_id", ErrInvalid)
	}
	if err := (PlaceRequest{UserID: p.UserID, SKU: p.SKU, Quantity: p.Quantity}).Validate(); err != nil {
		return err
	}
	amt, err := Amount(p.UnitPrice, p.Quantity)
	if err != nil {
		return err
	}
	if amt != p.Amount {
		return fmt.Errorf("%w: amount %d is not %d × %d", ErrInvalid, p.Amount, p.UnitPrice, p.Quantity)
	}
	return nil
}

// Outcome is how a placed order ended, as an idempotent replay must repeat it: "" while
// undecided, "CONFIRMED", or the refusal code (OUT_OF_STOCK, INSUFFICIENT_FUNDS,
// PRICE_CHANGED, UNKNOWN_SKU, UNKNOWN_ACCOUNT).
type Outcome string

// OutcomeConfirmed is the outcome of a confirmed order.
const OutcomeConfirmed Outcome = "CONFIRMED"

// Refusal codes a placed order can end with.
const (
	RefusedOutOfStock        = "OUT_OF_STOCK"
	RefusedInsufficientFunds = "INSUFFICIENT_FUNDS"
	RefusedPriceChanged      = "PRICE_CHANGED"
	RefusedUnknownSKU        = "UNKNOWN_SKU"
	RefusedUnknownAccount    = "UNKNOWN_ACCOUNT"
)

// RefusedError is a business refusal of an order by one of the participants: the order
// is CANCELLED and nothing stays held.
type RefusedError struct {
	Code    string
	Message string
	OrderID string
	XID     string
}

func (e *RefusedError) Error() string { return "order refused: " + e.Code + ": " + e.Message }

// Codes of an UnavailableError.
const (
	// UnavailableDependency: the coordinator or a look-up was unreachable.
	UnavailableDependency = "UNAVAILABLE"
	// UnavailableUndecided: the transaction exists but is not decided yet.
	UnavailableUndecided = "UNDECIDED"
	// UnavailableFailed: a participant failed (not a refusal) and the order was
	// cancelled; nothing is held.
	UnavailableFailed = "TRANSACTION_FAILED"
)

// UnavailableError says the order could not be decided now: the coordinator was
// unreachable or undecided, or a participant failed. The client may retry (with the
// same Idempotency-Key).
type UnavailableError struct {
	Code    string // UnavailableDependency, UnavailableUndecided or UnavailableFailed
	Reason  string
	OrderID string
	XID     string
	Err     error
}

func (e *UnavailableError) Error() string {
	if e.Err != nil {
		return "order unavailable: " + e.Reason + ": " + e.Err.Error()
	}
	return "order unavailable: " + e.Reason
}

func (e *UnavailableError) Unwrap() error { return e.Err }
