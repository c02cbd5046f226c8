// Package httpapi is the inventory's HTTP surface: the REST catalogue (read, admin
// reset) and the TCC action "reserve" mounted on the participant SDK.
package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/pkg/tcc"
	"github.com/tccsuite/tccsuite/services/internal/platform"
	"github.com/tccsuite/tccsuite/services/inventory/internal/domain"
	"github.com/tccsuite/tccsuite/services/inventory/internal/store"
)

// ActionReserve is the TCC action's name: POST /tcc/reserve/{try,confirm,cancel}.
const ActionReserve = "reserve"

// Refusal codes of the reserve Try (409 to the coordinator, passed on to the client).
const (
	CodeOutOfStock   = "OUT_OF_STOCK"
	CodePriceChanged = "PRICE_CHANGED"
	CodeUnknownSKU   = "UNKNOWN_SKU"
)

// StockJSON is an item as the REST API shows it.
type StockJSON struct {
	SKU       string `json:"sku"`
	Price     int64  `json:"price"`
	Available int64  `json:"available"`
	Reserved  int64  `json:"reserved"`
	Sold      int64  `json:"sold"`
}

// StockPage is the answer of GET /api/v1/stock. Next, when set, is the "after" of the
// following page.
type StockPage struct {
	Items []StockJSON `json:"items"`
	Next  string      `json:"next,omitempty"`
}

func toJSON(it domain.Item) StockJSON {
	return StockJSON{SKU: it.SKU, Price: it.Price, Available: it.Available, Reserved: it.Reserved, Sold: it.Sold}
}

// MapError maps the inventory's domain errors to answers.
func MapError(err error) *platform.Error {
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return &platform.Error{Status: http.StatusNotFound, Code: platform.CodeNotFound, Message: "no such SKU", Err: err}
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
	r.GET("/api/v1/stock", a.list)
	r.GET("/api/v1/stock/:sku", a.get)
	r.PUT("/api/v1/stock/:sku", admin, a.put)
}

func skuParam(c *gin.Context) (string, error) {
	sku := c.Param("sku")
	if !domain.ValidSKU(sku) {
		return "", platform.Errorf(http.StatusBadRequest, platform.CodeBadRequest, "sku must be 1..64 characters of [A-Za-z0-9._-]")
	}
	return sku, nil
}

func (a *API) get(c *gin.Context) {
	sku, err := skuParam(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	it, err := a.Store.Get(c.Request.Context(), sku)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, toJSON(it))
}

func (a *API) list(c *gin.Context) {
	limit, after, err := platform.PageQuery(c, domain.ValidSKU, "a SKU")
	if err != nil {
		_ = c.Error(err)
		return
	}
	items, err := a.Store.List(c.Request.Context(), after, limit+1)
	if err != nil {
		_ = c.Error(err)
		return
	}
	items, next := platform.Page(items, limit, func(it domain.Item) string { return it.SKU })
	page := StockPage{Items: make([]StockJSON, 0, len(items)), Next: next}
	for _, it := range items {
		page.Items = append(page.Items, toJSON(it))
	}
	c.JSON(http.StatusOK, page)
}

// putBody is the admin PUT body. Pointers tell a missing field from a zero.
type putBody struct {
	Price     *int64 `json:"price"`
	Available *int64 `json:"available"`
}

func (a *API) put(c *gin.Context) {
	sku, err := skuParam(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	var b putBody
	if err := platform.DecodeJSON(c, a.MaxBodyBytes, &b); err != nil {
		_ = c.Error(err)
		return
	}
	if b.Price == nil || b.Available == nil {
		_ = c.Error(platform.Errorf(http.StatusBadRequest, platform.CodeBadRequest, "price and available are required"))
		return
	}
	r := domain.Restock{Price: *b.Price, Available: *b.Available}
	if err := r.Validate(); err != nil {
		_ = c.Error(err)
		return
	}
	it, err := a.Store.Put(c.Request.Context(), sku, r)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, toJSON(it))
}

// ReserveAction is the TCC action: Try reserves, Confirm sells, Cancel releases. Each
// runs inside the barrier's transaction, so it happens once per branch whatever the
// duplication or order of the calls.
func ReserveAction(s *store.Store) tcc.Action[domain.Reservation] {
	return tcc.Action[domain.Reservation]{
		Name: ActionReserve,
		Try: func(ctx context.Context, tx *gorm.DB, _ tcc.Branch, r domain.Reservation) error {
			err := s.Reserve(ctx, tx, r)
			switch {
			case errors.Is(err, domain.ErrOutOfStock):
				return tcc.Reject(CodeOutOfStock, err.Error())
			case errors.Is(err, domain.ErrPriceChanged):
				return tcc.Reject(CodePriceChanged, err.Error())
			case errors.Is(err, domain.ErrNotFound):
				return tcc.Reject(CodeUnknownSKU, err.Error())
			}
			return err
		},
		Confirm: func(ctx context.Context, tx *gorm.DB, _ tcc.Branch, r domain.Reservation) error {
			return s.Sell(ctx, tx, r)
		},
		Cancel: func(ctx context.Context, tx *gorm.DB, _ tcc.Branch, r domain.Reservation) error {
			return s.Release(ctx, tx, r)
		},
	}
}
