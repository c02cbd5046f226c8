// Package httpapi is the order service's HTTP surface: POST and GET of orders, and the
// order branch's TCC action mounted on the participant SDK.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/pkg/tcc"
	"github.com/tccsuite/tccsuite/services/internal/platform"
	"github.com/tccsuite/tccsuite/services/order/internal/domain"
	"github.com/tccsuite/tccsuite/services/order/internal/service"
	"github.com/tccsuite/tccsuite/services/order/internal/store"
)

// Stable codes of the order API (besides the platform's).
const (
	CodeUnknownSKU     = "UNKNOWN_SKU"
	CodeUnknownUser    = "UNKNOWN_USER"
	CodeAmountTooLarge = "AMOUNT_TOO_LARGE"
	CodeKeyReused      = "IDEMPOTENCY_KEY_REUSED"
	CodeRateLimited    = "RATE_LIMITED"
)

// HeaderIdempotencyKey is the header that makes POST /api/v1/orders idempotent.
const HeaderIdempotencyKey = "Idempotency-Key"

// PlacedJSON is the 201 answer of POST /api/v1/orders.
type PlacedJSON struct {
	OrderID string `json:"order_id"`
	XID     string `json:"xid"`
	Status  string `json:"status"`
	Amount  int64  `json:"amount"`
}

// ProblemJSON is a non-2xx answer of POST /api/v1/orders about a placed order: the
// usual {"code","message"} plus, when an order was created, its ID and XID. A 503 (the
// outcome unknown or not reached yet) comes with Retry-After, and its message says to
// retry with the same Idempotency-Key (or, without one, to read the order first).
type ProblemJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	OrderID string `json:"order_id,omitempty"`
	XID     string `json:"xid,omitempty"`
}

// OrderJSON is an order as GET shows it.
type OrderJSON struct {
	OrderID   string    `json:"order_id"`
	XID       string    `json:"xid"`
	UserID    string    `json:"user_id"`
	SKU       string    `json:"sku"`
	Quantity  int64     `json:"quantity"`
	UnitPrice int64     `json:"unit_price"`
	Amount    int64     `json:"amount"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
}

// OrderPage is the answer of GET /api/v1/orders?user_id=.
type OrderPage struct {
	Orders []OrderJSON `json:"orders"`
	Next   string      `json:"next,omitempty"`
}

func toJSON(o domain.Order) OrderJSON {
	return OrderJSON{OrderID: o.ID, XID: o.XID, UserID: o.UserID, SKU: o.SKU, Quantity: o.Quantity,
		UnitPrice: o.UnitPrice, Amount: o.Amount, Status: string(o.Status), CreatedAt: o.CreatedAt}
}

// MapError maps the order service's errors to answers.
func MapError(err error) *platform.Error {
	var unavailable *domain.UnavailableError
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return &platform.Error{Status: http.StatusNotFound, Code: platform.CodeNotFound, Message: "no such order", Err: err}
	case errors.Is(err, domain.ErrInvalid):
		return &platform.Error{Status: http.StatusBadRequest, Code: platform.CodeBadRequest, Message: err.Error(), Err: err}
	case errors.Is(err, domain.ErrUnknownSKU):
		return &platform.Error{Status: http.StatusUnprocessableEntity, Code: CodeUnknownSKU, Message: "no such SKU in the catalogue", Err: err}
	case errors.Is(err, domain.ErrUnknownUser):
		return &platform.Error{Status: http.StatusUnprocessableEntity, Code: CodeUnknownUser, Message: "no account for this user", Err: err}
	case errors.Is(err, domain.ErrAmountOverflow):
		return &platform.Error{Status: http.StatusUnprocessableEntity, Code: CodeAmountTooLarge, Message: "price × quantity is too large", Err: err}
	case errors.Is(err, domain.ErrKeyReused):
		return &platform.Error{Status: http.StatusUnprocessableEntity, Code: CodeKeyReused, Message: "this Idempotency-Key was used with another request body", Err: err}
	case errors.As(err, &unavailable):
		return &platform.Error{Status: http.StatusServiceUnavailable, Code: unavailable.Code, Message: unavailable.Reason + "; retry later", RetryAfter: 1, Err: err}
	case dbx.IsTransient(err) || errors.Is(err, context.DeadlineExceeded):
		// The order database unreachable, gone away, busy or too slow: it may well be
		// back for the retry (the pool reconnects by itself).
		return &platform.Error{Status: http.StatusServiceUnavailable, Code: platform.CodeUnavailable, Message: "the order database is unavailable; retry later", RetryAfter: 1, Err: err}
	}
	return nil
}

// retryHint completes the message of a 503 of POST /api/v1/orders: how to learn the
// outcome without ordering twice.
func retryHint(keyed bool, code, orderID string) string {
	switch {
	case keyed:
		return "; retry with the same Idempotency-Key to learn the outcome (it never orders twice)"
	case code == domain.UnavailableFailed:
		return "; place it again"
	case orderID != "":
		return "; the outcome is unknown: read GET /api/v1/orders/" + orderID + " before ordering again, or send an Idempotency-Key to retry safely"
	}
	return "; nothing was ordered; retry later"
}

// API holds the handlers' dependencies.
type API struct {
	Service      *service.Service
	Store        *store.Store
	MaxBodyBytes int64
	Log          *slog.Logger
	// Limiter bounds the rate of POST /api/v1/orders; nil: no limit.
	Limiter *rate.Limiter
}

// Routes registers the REST routes.
func (a *API) Routes(r gin.IRouter) {
	r.POST("/api/v1/orders", a.place)
	r.GET("/api/v1/orders", a.list)
	r.GET("/api/v1/orders/:id", a.get)
}

type placeBody struct {
	UserID   string `json:"user_id"`
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

func (a *API) place(c *gin.Context) {
	if a.Limiter != nil && !a.Limiter.Allow() {
		_ = c.Error(&platform.Error{Status: http.StatusTooManyRequests, Code: CodeRateLimited, Message: "too many orders; slow down", RetryAfter: 1})
		return
	}
	key := c.GetHeader(HeaderIdempotencyKey)
	if _, present := c.Request.Header[http.CanonicalHeaderKey(HeaderIdempotencyKey)]; present && !domain.ValidIdempotencyKey(key) {
		_ = c.Error(platform.Errorf(http.StatusBadRequest, platform.CodeBadRequest, "Idempotency-Key must be 1..128 printable ASCII characters"))
		return
	}
	var b placeBody
	if err := platform.DecodeJSON(c, a.MaxBodyBytes, &b); err != nil {
		_ = c.Error(err)
		return
	}
	res, err := a.Service.Place(c.Request.Context(), domain.PlaceRequest{UserID: b.UserID, SKU: b.SKU, Quantity: b.Quantity}, key)
	var refused *domain.RefusedError
	var unavailable *domain.UnavailableError
	switch {
	case err == nil:
		c.JSON(http.StatusCreated, PlacedJSON{OrderID: res.OrderID, XID: res.XID, Status: string(domain.StatusConfirmed), Amount: res.Amount})
	case errors.As(err, &refused):
		status, code := http.StatusConflict, refused.Code
		switch refused.Code {
		case domain.RefusedUnknownSKU:
			status, code = http.StatusUnprocessableEntity, CodeUnknownSKU
		case domain.RefusedUnknownAccount:
			status, code = http.StatusUnprocessableEntity, CodeUnknownUser
		}
		c.JSON(status, ProblemJSON{Code: code, Message: refused.Message, OrderID: refused.OrderID, XID: refused.XID})
	case errors.As(err, &unavailable):
		a.Log.Warn("order not placed: unavailable", "code", unavailable.Code, "order_id", unavailable.OrderID,
			"xid", unavailable.XID, "request_id", tcc.MetaFrom(c.Request.Context()).RequestID, "err", err)
		c.Header("Retry-After", "1")
		c.JSON(http.StatusServiceUnavailable, ProblemJSON{Code: unavailable.Code, Message: unavailable.Reason + retryHint(key != "", unavailable.Code, unavailable.OrderID),
			OrderID: unavailable.OrderID, XID: unavailable.XID})
	default:
		_ = c.Error(err)
	}
}

func (a *API) get(c *gin.Context) {
	id := c.Param("id")
	if !domain.ValidRef(id) {
		_ = c.Error(platform.Errorf(http.StatusBadRequest, platform.CodeBadRequest, "order_id must be 1..64 characters of [A-Za-z0-9._-]"))
		return
	}
	o, err := a.Store.Get(c.Request.Context(), id)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, toJSON(o))
}

func (a *API) list(c *gin.Context) {
	user := c.Query("user_id")
	if !domain.ValidRef(user) {
		_ = c.Error(platform.Errorf(http.StatusBadRequest, platform.CodeBadRequest, "user_id is required: 1..64 characters of [A-Za-z0-9._-]"))
		return
	}
	limit, after, err := platform.PageQuery(c, domain.ValidRef, "an order_id")
	if err != nil {
		_ = c.Error(err)
		return
	}
	orders, err := a.Store.ListByUser(c.Request.Context(), user, after, limit+1)
	if err != nil {
		if errors.Is(err, domain.ErrNotFound) {
			err = platform.Errorf(http.StatusBadRequest, platform.CodeBadRequest, "after names no order")
		}
		_ = c.Error(err)
		return
	}
	orders, next := platform.Page(orders, limit, func(o domain.Order) string { return o.ID })
	page := OrderPage{Orders: make([]OrderJSON, 0, len(orders)), Next: next}
	for _, o := range orders {
		page.Orders = append(page.Orders, toJSON(o))
	}
	c.JSON(http.StatusOK, page)
}
