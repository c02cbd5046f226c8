// Package domain holds the inventory's business rules: an item of the catalogue, its
// stock counters, and what a reservation may and may not do (docs/design.md §6).
package domain

import (
	"errors"
	"fmt"
)

// Bounds of the catalogue's values.
const (
	MaxSKULen    = 64
	MaxQuantity  = 1_000_000         // per reservation
	MaxAvailable = 1_000_000_000_000 // per item
	MaxPrice     = 1_000_000_000_000 // minor units
)

// Errors of the inventory. Out of stock and a changed price are business refusals of a
// reservation; the others are bad requests.
var (
	ErrNotFound     = errors.New("inventory: no such SKU")
	ErrOutOfStock   = errors.New("inventory: not enough stock")
	ErrPriceChanged = errors.New("inventory: the unit price changed")
	ErrInvalid      = errors.New("inventory: invalid value")
	// ErrInconsistent means a Confirm or Cancel found less reserved than its Try put
	// there: the stock row was changed behind the protocol's back. It is never expected.
	ErrInconsistent = errors.New("inventory: reserved stock missing")
)

// Item is one SKU of the catalogue with its stock counters. available + reserved + sold
// is the stock ever put on the shelf for it (reset by an admin PUT).
type Item struct {
	SKU       string
	Price     int64 // minor units per unit
	Available int64
	Reserved  int64
	Sold      int64
	Version   int64
}

// ValidSKU reports whether s is a usable SKU: 1..64 characters of [A-Za-z0-9._-].
func ValidSKU(s string) bool {
	if len(s) == 0 || len(s) > MaxSKULen {
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

// Reservation is what an order asks of the inventory: qty units of SKU at the unit price
// the order was priced at.
type Reservation struct {
	OrderID   string `json:"order_id"`
	SKU       string `json:"sku"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unit_price"`
}

// Validate checks the reservation's shape (not the stock).
func (r Reservation) Validate() error {
	switch {
	case r.OrderID == "" || len(r.OrderID) > 64:
		return fmt.Errorf("%w: order_id is required (at most 64 characters)", ErrInvalid)
	case !ValidSKU(r.SKU):
		return fmt.Errorf("%w: sku must be 1..64 characters of [A-Za-z0-9._-]", ErrInvalid)
	case r.Quantity < 1 || r.Quantity > MaxQuantity:
		return fmt.Errorf("%w: quantity must be in 1..%d", ErrInvalid, MaxQuantity)
	case r.UnitPrice < 1 || r.UnitPrice > MaxPrice:
		return fmt.Errorf("%w: unit_price must be in 1..%d", ErrInvalid, MaxPrice)
	}
	return nil
}

// CanReserve says why the item cannot take r, or nil if it can. The store applies the
// same rule atomically in its conditional update; this is how it explains a refusal.
func (it Item) CanReserve(r Reservation) error {
	if it.Price != r.UnitPrice {
		return fmt.Errorf("%w: %s costs %d now, the order was priced at %d", ErrPriceChanged, it.SKU, it.Price, r.UnitPrice)
	}
	if it.Available < r.Quantity {
		return fmt.Errorf("%w: %s has %d available, %d asked", ErrOutOfStock, it.SKU, it.Available, r.Quantity)
	}
	return nil
}

// Restock is an admin's creation or reset of an item: its price and available count.
// Reserved and sold are kept, so reservations in flight still confirm or cancel.
type Restock struct {
	Price     int64
	Available int64
}

// Validate checks the restock's values. A price of 0 is refused: the payment service
// refuses to hold an amount of 0, so a free item could never be ordered (every order of
// it would be cancelled by the payment branch); refusing it here says so at the input.
func (r Restock) Validate() error {
	if r.Price < 1 || r.Price > MaxPrice {
		return fmt.Errorf("%w: price must be in 1..%d", ErrInvalid, int64(MaxPrice))
	}
	if r.Available < 0 || r.Available > MaxAvailable {
		return fmt.Errorf("%w: available must be in 0..%d", ErrInvalid, int64(MaxAvailable))
	}
	return nil
}
