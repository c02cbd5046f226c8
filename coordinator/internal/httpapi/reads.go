package httpapi

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/tccsuite/tccsuite/coordinator/internal/store"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// get answers one transaction.
func (h *handlers) get(c *gin.Context) error {
	xid := c.Param("xid")
	if !tcc.ValidID(xid) {
		return bad(http.StatusBadRequest, CodeBadXID, "malformed XID")
	}
	t, err := h.d.Engine.Get(c.Request.Context(), xid)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, t)
	return nil
}

// list answers a page of transactions.
func (h *handlers) list(c *gin.Context) error {
	f := store.ListFilter{Limit: 100}
	q := c.Request.URL.Query()
	if s := q.Get("status"); s != "" {
		switch st := tcc.TxStatus(s); st {
		case tcc.TxTrying, tcc.TxConfirming, tcc.TxConfirmed, tcc.TxCancelling, tcc.TxCancelled:
			f.Status = st
		default:
			return bad(http.StatusBadRequest, CodeBadQuery, "unknown status")
		}
	}
	if s := q.Get("attention"); s != "" {
		v, err := strconv.ParseBool(s)
		if err != nil {
			return bad(http.StatusBadRequest, CodeBadQuery, "attention must be true or false")
		}
		f.Attention = &v
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return bad(http.StatusBadRequest, CodeBadQuery, "limit must be 1..1000")
		}
		f.Limit = n
	}
	if s := q.Get("after"); s != "" {
		if !tcc.ValidID(s) {
			return bad(http.StatusBadRequest, CodeBadQuery, "malformed after cursor")
		}
		f.After = s
	}
	page, err := h.d.Engine.List(c.Request.Context(), f)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, page)
	return nil
}
