// Package httpapi is the payment service's REST API: accounts (read, admin reset) and
// payment look-ups. The TCC action "charge" is in tccaction.
package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tccsuite/tccsuite/internal/httpx"
	"github.com/tccsuite/tccsuite/services/payment/internal/domain"
	"github.com/tccsuite/tccsuite/services/payment/internal/store"
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
func MapError(err error) *httpx.Error {
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return &httpx.Error{Status: http.StatusNotFound, Code: httpx.CodeNotFound, Message: "no such account", Err: err}
	case errors.Is(err, domain.ErrInvalid):
		return &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeBadRequest, Message: err.Error(), Err: err}
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
	r.GET("/api/v1/accounts", httpx.Handle(a.list))
	r.GET("/api/v1/accounts/:id", httpx.Handle(a.get))
	r.PUT("/api/v1/accounts/:id", admin, httpx.Handle(a.put))
	r.GET("/api/v1/payments", httpx.Handle(a.payments))
	r.GET("/api/v1/payments/stats", httpx.Handle(a.stats))
}

func idParam(c *gin.Context) (string, error) {
	id := c.Param("id")
	if !domain.ValidAccountID(id) {
		return "", httpx.Errorf(http.StatusBadRequest, httpx.CodeBadRequest, "account id must be 1..64 characters of [A-Za-z0-9._-]")
	}
	return id, nil
}

func (a *API) get(c *gin.Context) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	acc, err := a.Store.Get(c.Request.Context(), id)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, toJSON(acc))
	return nil
}

func (a *API) list(c *gin.Context) error {
	limit, after, err := httpx.PageQuery(c, domain.ValidAccountID, "an account id")
	if err != nil {
		return err
	}
	accs, err := a.Store.List(c.Request.Context(), after, limit+1)
	if err != nil {
		return err
	}
	accs, next := httpx.Page(accs, limit, func(a domain.Account) string { return a.ID })
	page := AccountPage{Accounts: make([]AccountJSON, 0, len(accs)), Next: next}
	for _, acc := range accs {
		page.Accounts = append(page.Accounts, toJSON(acc))
	}
	c.JSON(http.StatusOK, page)
	return nil
}

type putBody struct {
	Balance *int64 `json:"balance"`
}

func (a *API) put(c *gin.Context) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	var b putBody
	if err := httpx.DecodeJSON(c, a.MaxBodyBytes, &b); err != nil {
		return err
	}
	if b.Balance == nil {
		return httpx.Errorf(http.StatusBadRequest, httpx.CodeBadRequest, "balance is required")
	}
	if err := domain.ValidBalance(*b.Balance); err != nil {
		return err
	}
	acc, err := a.Store.Put(c.Request.Context(), id, *b.Balance)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, toJSON(acc))
	return nil
}

func (a *API) payments(c *gin.Context) error {
	orderID := c.Query("order_id")
	if orderID == "" || len(orderID) > 64 {
		return httpx.Errorf(http.StatusBadRequest, httpx.CodeBadRequest, "order_id is required")
	}
	ps, err := a.Store.Payments(c.Request.Context(), orderID)
	if err != nil {
		return err
	}
	out := make([]PaymentJSON, len(ps))
	for i, p := range ps {
		out[i] = PaymentJSON{OrderID: p.OrderID, XID: p.XID, AccountID: p.AccountID, Amount: p.Amount, CreatedAt: p.CreatedAt}
	}
	c.JSON(http.StatusOK, gin.H{"payments": out})
	return nil
}

func (a *API) stats(c *gin.Context) error {
	n, total, err := a.Store.CountPayments(c.Request.Context())
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, PaymentStats{Count: n, Total: total})
	return nil
}
