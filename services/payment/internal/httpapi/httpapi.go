// Package httpapi is the payment service's HTTP surface: the accounts REST API (read,
// admin reset), payment look-ups, and the TCC action "charge" on the participant SDK.
package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/pkg/tcc"
	"github.com/tccsuite/tccsuite/services/internal/platform"
	"github.com/tccsuite/tccsuite/services/payment/internal/domain"
	"github.com/tccsuite/tccsuite/services/payment/internal/store"
)

// ActionCharge is the TCC action's name: POST /tcc/charge/{try,confirm,cancel}.
const ActionCharge = "charge"

// Refusal codes of the charge Try.
const (
	CodeInsufficientFunds = "INSUFFICIENT_FUNDS"
	CodeUnknownAccount    = "UNKNOWN_ACCOUNT"
)

// AccountJSON is an account as the REST API shows it.
type AccountJSON struct {
	ID       string `json:"id"`
	Balance  int64  `json:"balance"`
	Frozen   int64  `json:"frozen"`
	Captured int64  `json:"captured"`
}

// AccountPage is the answer of GET /api/v1/accounts.
type AccountPage struct {
	Accounts []AccountJSON `json:"accounts"`
	Next     string        `json:"next,omitempty"`
}

// PaymentJSON is one captured payment.
type PaymentJSON struct {
	OrderID   string    `json:"order_id"`
	XID       string    `json:"xid"`
	AccountID string    `json:"account_id"`
	Amount    int64     `json:"amount"`
	CreatedAt time.Time `json:"created_at"`
}

// PaymentStats is the answer of GET /api/v1/payments/stats.
type PaymentStats struct {
	Count int64 `json:"count"`
	Total int64 `json:"total"`
}

func toJSON(a domain.Account) AccountJSON {
	return AccountJSON{ID: a.ID, Balance: a.Balance, Frozen: a.Frozen, Captured: a.Captured}
}

// MapError maps the payment service's domain errors to answers.
func MapError(err error) *platform.Error {
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return &platform.Error{Status: http.StatusNotFound, Code: platform.CodeNotFound, Message: "no such account", Err: err}
	case errors.Is(err, domain.ErrInvalid):
		return &platform.Error{Status: http.StatusBadRequest, Code: platform.CodeBadRequest, Message: err.Error(), Err: err}
	}
	return nil
}

// API holds the handlers' dependencies.
type API struct {
	Store        *store.Store
	MaxBodyBytes int64
}

// Routes registers the REST routes on r; admin guards the PUT.
func (a *API) Routes(r gin.IRouter, admin gin.HandlerFunc) {
	r.GET("/api/v1/accounts", a.list)
	r.GET("/api/v1/accounts/:id", a.get)
	r.PUT("/api/v1/accounts/:id", admin, a.put)
	r.GET("/api/v1/payments", a.payments)
	r.GET("/api/v1/payments/stats", a.stats)
}

func idParam(c *gin.Context) (string, error) {
	id := c.Param("id")
	if !domain.ValidAccountID(id) {
		return "", platform.Errorf(http.StatusBadRequest, platform.CodeBadRequest, "account id must be 1..64 characters of [A-Za-z0-9._-]")
	}
	return id, nil
}

func (a *API) get(c *gin.Context) {
	id, err := idParam(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	acc, err := a.Store.Get(c.Request.Context(), id)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, toJSON(acc))
}

func (a *API) list(c *gin.Context) {
	limit, after, err := platform.PageQuery(c, domain.ValidAccountID, "an account id")
	if err != nil {
		_ = c.Error(err)
		return
	}
	accs, err := a.Store.List(c.Request.Context(), after, limit+1)
	if err != nil {
		_ = c.Error(err)
		return
	}
	accs, next := platform.Page(accs, limit, func(a domain.Account) string { return a.ID })
	page := AccountPage{Accounts: make([]AccountJSON, 0, len(accs)), Next: next}
	for _, acc := range accs {
		page.Accounts = append(page.Accounts, toJSON(acc))
	}
	c.JSON(http.StatusOK, page)
}

type putBody struct {
	Balance *int64 `json:"balance"`
}

func (a *API) put(c *gin.Context) {
	id, err := idParam(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	var b putBody
	if err := platform.DecodeJSON(c, a.MaxBodyBytes, &b); err != nil {
		_ = c.Error(err)
		return
	}
	if b.Balance == nil {
		_ = c.Error(platform.Errorf(http.StatusBadRequest, platform.CodeBadRequest, "balance is required"))
		return
	}
	if err := domain.ValidBalance(*b.Balance); err != nil {
		_ = c.Error(err)
		return
	}
	acc, err := a.Store.Put(c.Request.Context(), id, *b.Balance)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, toJSON(acc))
}

func (a *API) payments(c *gin.Context) {
	orderID := c.Query("order_id")
	if orderID == "" || len(orderID) > 64 {
		_ = c.Error(platform.Errorf(http.StatusBadRequest, platform.CodeBadRequest, "order_id is required"))
		return
	}
	ps, err := a.Store.Payments(c.Request.Context(), orderID)
	if err != nil {
		_ = c.Error(err)
		return
	}
	out := make([]PaymentJSON, len(ps))
	for i, p := range ps {
		out[i] = PaymentJSON{OrderID: p.OrderID, XID: p.XID, AccountID: p.AccountID, Amount: p.Amount, CreatedAt: p.CreatedAt}
	}
	c.JSON(http.StatusOK, gin.H{"payments": out})
}

func (a *API) stats(c *gin.Context) {
	n, total, err := a.Store.CountPayments(c.Request.Context())
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, PaymentStats{Count: n, Total: total})
}

// ChargeAction is the TCC action: Try freezes, Confirm captures (one payments row per
// order), Cancel unfreezes. Each runs inside the barrier's transaction, so it happens
// once per branch whatever the duplication or order of the calls.
func ChargeAction(s *store.Store) tcc.Action[domain.Hold] {
	return tcc.Action[domain.Hold]{
		Name: ActionCharge,
		Try: func(ctx context.Context, tx *gorm.DB, _ tcc.Branch, h domain.Hold) error {
			err := s.Freeze(ctx, tx, h)
			switch {
			case errors.Is(err, domain.ErrInsufficientFunds):
				return tcc.Reject(CodeInsufficientFunds, err.Error())
			case errors.Is(err, domain.ErrNotFound):
				return tcc.Reject(CodeUnknownAccount, err.Error())
			}
			return err
		},
		Confirm: func(ctx context.Context, tx *gorm.DB, b tcc.Branch, h domain.Hold) error {
			return s.Capture(ctx, tx, b.XID, h)
		},
		Cancel: func(ctx context.Context, tx *gorm.DB, _ tcc.Branch, h domain.Hold) error {
			return s.Release(ctx, tx, h)
		},
	}
}
