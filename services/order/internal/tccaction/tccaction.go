// Package tccaction is the order service's side of the TCC protocol: the order branch's
// action "place", which the participant SDK (pkg/tcc) serves as POST
// /tcc/place/{try,confirm,cancel}.
package tccaction

import (
	"context"

	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/pkg/tcc"
	"github.com/tccsuite/tccsuite/services/order/internal/domain"
	"github.com/tccsuite/tccsuite/services/order/internal/store"
)

// NamePlace is the action's name: POST /tcc/place/{try,confirm,cancel}.
const NamePlace = "place"

// Place is the order branch: Try writes the PENDING order row, Confirm marks it
// CONFIRMED, Cancel CANCELLED (an empty Cancel, whose Try never ran, writes nothing).
// Each runs inside the barrier's transaction, so it happens once per branch whatever
// the duplication or order of the calls.
func Place(st *store.Store) tcc.Action[domain.Placement] {
	return tcc.Action[domain.Placement]{
		Name: NamePlace,
		Try: func(ctx context.Context, tx *gorm.DB, b tcc.Branch, p domain.Placement) error {
			return st.Insert(ctx, tx, b.XID, p)
		},
		Confirm: func(ctx context.Context, tx *gorm.DB, _ tcc.Branch, p domain.Placement) error {
			return st.Finish(ctx, tx, p.OrderID, domain.StatusConfirmed)
		},
		Cancel: func(ctx context.Context, tx *gorm.DB, _ tcc.Branch, p domain.Placement) error {
			return st.Finish(ctx, tx, p.OrderID, domain.StatusCancelled)
		},
	}
}
