// Package tccaction is the inventory's side of the TCC protocol: the action "reserve",
// which the participant SDK (pkg/tcc) serves as POST /tcc/reserve/{try,confirm,cancel}.
package tccaction

import (
	"context"

	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/pkg/tcc"
	"github.com/tccsuite/tccsuite/services/internal/platform"
	"github.com/tccsuite/tccsuite/services/inventory/internal/domain"
	"github.com/tccsuite/tccsuite/services/inventory/internal/store"
)

// NameReserve is the action's name: POST /tcc/reserve/{try,confirm,cancel}.
const NameReserve = "reserve"

// Refusal codes of the reserve Try (409 to the coordinator, passed on to the client).
const (
	CodeOutOfStock   = "OUT_OF_STOCK"
	CodePriceChanged = "PRICE_CHANGED"
	CodeUnknownSKU   = "UNKNOWN_SKU"
)

// Reserve is the TCC action: Try reserves, Confirm sells, Cancel releases. Each runs
// inside the barrier's transaction, so it happens once per branch whatever the
// duplication or order of the calls.
func Reserve(s *store.Store) tcc.Action[domain.Reservation] {
	return tcc.Action[domain.Reservation]{
		Name: NameReserve,
		Try: func(ctx context.Context, tx *gorm.DB, _ tcc.Branch, r domain.Reservation) error {
			return platform.Refuse(s.Reserve(ctx, tx, r),
				platform.Refusal{Err: domain.ErrOutOfStock, Code: CodeOutOfStock},
				platform.Refusal{Err: domain.ErrPriceChanged, Code: CodePriceChanged},
				platform.Refusal{Err: domain.ErrNotFound, Code: CodeUnknownSKU})
		},
		Confirm: func(ctx context.Context, tx *gorm.DB, _ tcc.Branch, r domain.Reservation) error {
			return s.Sell(ctx, tx, r)
		},
		Cancel: func(ctx context.Context, tx *gorm.DB, _ tcc.Branch, r domain.Reservation) error {
			return s.Release(ctx, tx, r)
		},
	}
}
