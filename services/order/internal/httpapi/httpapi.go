// Package httpapi is the order service's REST API: POST and GET of orders. The order
// branch's TCC action is in tccaction.
package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/internal/httpx"
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
func MapError(err error) *httpx.Error {
	var unavailable *domain.UnavailableError
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return &httpx.Error{Status: http.StatusNotFound, Code: httpx.CodeNotFound, Message: "no such order", Err: err}
	case errors.Is(err, domain.ErrInvalid):
		return &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeBadRequest, Message: err.Error(), Err: err}
	case errors.Is(err, domain.ErrUnknownSKU):
		return &httpx.Error{Status: http.StatusUnprocessableEntity, Code: CodeUnknownSKU, Message: "no such SKU in the catalogue", Err: err}
	case errors.Is(err, domain.ErrUnknownUser):
		return &httpx.Error{Status: http.StatusUnprocessableEntity, Code: CodeUnknownUser, Message: "no account for this user", Err: err}
	case errors.Is(err, domain.ErrAmountOverflow):
		return &httpx.Error{Status: http.StatusUnprocessableEntity, Code: CodeAmountTooLarge, Message: "price × quantity is too large", Err: err}
	case errors.Is(err, domain.ErrKeyReused):
		return &httpx.Error{Status: http.StatusUnprocessableEntity, Code: CodeKeyReused, Message: "this Idempotency-Key was used with another request body", Err: err}
	case errors.As(err, &unavailable):
		return &httpx.Error{Status: http.StatusServiceUnavailable, Code: unavailable.Code, Message: unavailable.Reason + "; retry later", RetryAfter: 1, Err: err}
	case dbx.IsTransient(err) || errors.Is(err, context.DeadlineExceeded):
		// The order database unreachable, gone away, busy or too slow: it may well be
		// back for the retry (the pool reconnects by itself).
		return &httpx.Error{Status: http.StatusServiceUnavailable, Code: httpx.CodeUnavailable, Message: "the order database is unavailable; retry later", RetryAfter: 1, Err: err}
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
	// Limiter bounds the rate of POST /api/v1/orders; nil: no limit.
	Limiter *rate.Limiter
}

// Routes registers the REST routes.
func (a *API) Routes(r gin.IRouter) {
	r.POST("/api/v1/orders", httpx.Handle(a.place))
	r.GET("/api/v1/orders", httpx.Handle(a.list))
	r.GET("/api/v1/orders/:id", httpx.Handle(a.get))
}

type placeBody struct {
	UserID   string `json:"user_id"`
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

// place answers POST /api/v1/orders: 201 with the confirmed order, or an error answer.
// One about a placed order (a refusal, 409 or 422; or 503 with Retry-After, the outcome
// unknown or not reached yet) is the usual {"code","message"} plus, when an order was
// created, its "order_id" and "xid"; a 503's message says to retry with the same
// Idempotency-Key (or, without one, to read the order first).
func (a *API) place(c *gin.Context) error {
	if a.Limiter != nil && !a.Limiter.Allow() {
		return &httpx.Error{Status: http.StatusTooManyRequests, Code: CodeRateLimited, Message: "too many orders; slow down", RetryAfter: 1}
	}
	key := c.GetHeader(HeaderIdempotencyKey)
	if _, present := c.Request.Header[http.CanonicalHeaderKey(HeaderIdempotencyKey)]; present && !domain.ValidIdempotencyKey(key) {
		return httpx.Errorf(http.StatusBadRequest, httpx.CodeBadRequest, "Idempotency-Key must be 1..128 printable ASCII characters")
	}
	var b placeBody
	if err := httpx.DecodeJSON(c, a.MaxBodyBytes, &b); err != nil {
		return err
	}
	res, err := a.Service.Place(c.Request.Context(), domain.PlaceRequest{UserID: b.UserID, SKU: b.SKU, Quantity: b.Quantity}, key)
	if err != nil {
		return placeError(err, key != "")
	}
	c.JSON(http.StatusCreated, PlacedJSON{OrderID: res.OrderID, XID: res.XID, Status: string(domain.StatusConfirmed), Amount: res.Amount})
	return nil
}

// placeError is the answer of a failed placement; keyed says whether the request had an
// Idempotency-Key. Errors other than a refusal or an unavailability go to MapError.
func placeError(err error, keyed bool) error {
	var refused *domain.RefusedError
	var unavailable *domain.UnavailableError
	switch {
	case errors.As(err, &refused):
		status, code := http.StatusConflict, refused.Code
		switch refused.Code {
		case domain.RefusedUnknownSKU:
			status, code = http.StatusUnprocessableEntity, CodeUnknownSKU
		case domain.RefusedUnknownAccount:
			status, code = http.StatusUnprocessableEntity, CodeUnknownUser
		}
		return &httpx.Error{Status: status, Code: code, Message: refused.Message, Details: orderDetails(refused.OrderID, refused.XID), Err: err}
	case errors.As(err, &unavailable):
		return &httpx.Error{Status: http.StatusServiceUnavailable, Code: unavailable.Code, RetryAfter: 1,
			Message: unavailable.Reason + retryHint(keyed, unavailable.Code, unavailable.OrderID),
			Details: orderDetails(unavailable.OrderID, unavailable.XID), Err: err}
	}
	return err
}

// orderDetails are the order's IDs in an error answer, each only when known.
func orderDetails(orderID, xid string) map[string]any {
	d := map[string]any{}
	if orderID != "" {
		d["order_id"] = orderID
	}
	if xid != "" {
		d["xid"] = xid
	}
	return d
}

func (a *API) get(c *gin.Context) error {
	id := c.Param("id")
	if !domain.ValidRef(id) {
		return httpx.Errorf(http.StatusBadRequest, httpx.CodeBadRequest, "order_id must be 1..64 characters of [A-Za-z0-9._-]")
	}
	o, err := a.Store.Get(c.Request.Context(), id)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, toJSON(o))
	return nil
}

func (a *API) list(c *gin.Context) error {
	user := c.Query("user_id")
	if !domain.ValidRef(user) {
		return httpx.Errorf(http.StatusBadRequest, httpx.CodeBadRequest, "user_id is required: 1..64 characters of [A-Za-z0-9._-]")
	}
	limit, after, err := httpx.PageQuery(c, domain.ValidRef, "an order_id")
	if err != nil {
		return err
	}
	orders, err := a.Store.ListByUser(c.Request.Context(), user, after, limit+1)
	if err != nil {
		if errors.Is(err, domain.ErrNotFound) {
			err = httpx.Errorf(http.StatusBadRequest, httpx.CodeBadRequest, "after names no order")
		}
		return err
	}
	orders, next := httpx.Page(orders, limit, func(o domain.Order) string { return o.ID })
	page := OrderPage{Orders: make([]OrderJSON, 0, len(orders)), Next: next}
	for _, o := range orders {
		page.Orders = append(page.Orders, toJSON(o))
	}
	c.JSON(http.StatusOK, page)
	return nil
}
