// Package httpapi is the inventory's REST API: the catalogue (read, admin reset). The
// TCC action "reserve" is in tccaction.
package httpapi

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/tccsuite/tccsuite/internal/httpx"
	"github.com/tccsuite/tccsuite/services/inventory/internal/domain"
	"github.com/tccsuite/tccsuite/services/inventory/internal/store"
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
func MapError(err error) *httpx.Error {
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return &httpx.Error{Status: http.StatusNotFound, Code: httpx.CodeNotFound, Message: "no such SKU", Err: err}
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
	r.GET("/api/v1/stock", httpx.Handle(a.list))
	r.GET("/api/v1/stock/:sku", httpx.Handle(a.get))
	r.PUT("/api/v1/stock/:sku", admin, httpx.Handle(a.put))
}

func skuParam(c *gin.Context) (string, error) {
	sku := c.Param("sku")
	if !domain.ValidSKU(sku) {
		return "", httpx.Errorf(http.StatusBadRequest, httpx.CodeBadRequest, "sku must be 1..64 characters of [A-Za-z0-9._-]")
	}
	return sku, nil
}

func (a *API) get(c *gin.Context) error {
	sku, err := skuParam(c)
	if err != nil {
		return err
	}
	it, err := a.Store.Get(c.Request.Context(), sku)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, toJSON(it))
	return nil
}

func (a *API) list(c *gin.Context) error {
	limit, after, err := httpx.PageQuery(c, domain.ValidSKU, "a SKU")
	if err != nil {
		return err
	}
	items, err := a.Store.List(c.Request.Context(), after, limit+1)
	if err != nil {
		return err
	}
	items, next := httpx.Page(items, limit, func(it domain.Item) string { return it.SKU })
	page := StockPage{Items: make([]StockJSON, 0, len(items)), Next: next}
	for _, it := range items {
		page.Items = append(page.Items, toJSON(it))
	}
	c.JSON(http.StatusOK, page)
	return nil
}

// putBody is the admin PUT body. Pointers tell a missing field from a zero.
type putBody struct {
	Price     *int64 `json:"price"`
	Available *int64 `json:"available"`
}

func (a *API) put(c *gin.Context) error {
	sku, err := skuParam(c)
	if err != nil {
		return err
	}
	var b putBody
	if err := httpx.DecodeJSON(c, a.MaxBodyBytes, &b); err != nil {
		return err
	}
	if b.Price == nil || b.Available == nil {
		return httpx.Errorf(http.StatusBadRequest, httpx.CodeBadRequest, "price and available are required")
	}
	r := domain.Restock{Price: *b.Price, Available: *b.Available}
	if err := r.Validate(); err != nil {
		return err
	}
	it, err := a.Store.Put(c.Request.Context(), sku, r)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, toJSON(it))
	return nil
}
