// Package tccaction is the payment service's side of the TCC protocol: the action
// "charge", which the participant SDK (pkg/tcc) serves as POST
// /tcc/charge/{try,confirm,cancel}.
package tccaction

import (
	"context"

	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/pkg/tcc"
	"github.com/tccsuite/tccsuite/services/internal/platform"
	"github.com/tccsuite/tccsuite/services/payment/internal/domain"
	"github.com/tccsuite/tccsuite/services/payment/internal/store"
)

// NameCharge is the action's name: POST /tcc/charge/{try,confirm,cancel}.
const NameCharge = "charge"

// Refusal codes of the charge Try.
const (
	CodeInsufficientFunds = "INSUFFICIENT_FUNDS"
	CodeUnknownAccount    = "UNKNOWN_ACCOUNT"
)

// Charge is the TCC action: Try freezes, Confirm captures (one payments row per order),
// Cancel unfreezes. Each runs inside the barrier's transaction, so it happens once per
// branch whatever the duplication or order of the calls.
func Charge(s *store.Store) tcc.Action[domain.Hold] {
	return tcc.Action[domain.Hold]{
		Name: NameCharge,
		Try: func(ctx context.Context, tx *gorm.DB, _ tcc.Branch, h domain.Hold) error {
			return platform.Refuse(s.Freeze(ctx, tx, h),
				platform.Refusal{Err: domain.ErrInsufficientFunds, Code: CodeInsufficientFunds},
				platform.Refusal{Err: domain.ErrNotFound, Code: CodeUnknownAccount})
		},
		Confirm: func(ctx context.Context, tx *gorm.DB, b tcc.Branch, h domain.Hold) error {
			return s.Capture(ctx, tx, b.XID, h)
		},
		Cancel: func(ctx context.Context, tx *gorm.DB, _ tcc.Branch, h domain.Hold) error {
			return s.Release(ctx, tx, h)
		},
	}
}
