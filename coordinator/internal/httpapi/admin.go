package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/tccsuite/tccsuite/internal/httpx"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// client checks the client token (or the admin token) when one is configured: 401
// UNAUTHORIZED otherwise.
func (h *handlers) client(c *gin.Context) {
	if h.d.ClientToken == "" {
		return
	}
	if !httpx.HasBearer(c, h.d.ClientToken) && !httpx.HasBearer(c, h.d.AdminToken) {
		httpx.Abort(c, httpx.Errorf(http.StatusUnauthorized, CodeUnauthorized, "client token required"))
	}
}

// admin checks the admin token (constant time): 403 FORBIDDEN when none is configured
// (unless AllowAdminWithoutToken), 401 UNAUTHORIZED when the request lacks it.
func (h *handlers) admin(c *gin.Context) {
	switch {
	case h.d.AdminToken == "" && h.d.AllowAdminWithoutToken:
	case h.d.AdminToken == "":
		httpx.Abort(c, httpx.Errorf(http.StatusForbidden, CodeForbidden, "admin calls are disabled: no admin token is configured"))
	case !httpx.HasBearer(c, h.d.AdminToken):
		httpx.Abort(c, httpx.Errorf(http.StatusUnauthorized, CodeUnauthorized, "admin token required"))
	}
}

// retry fires an unfinished transaction's waiting retries now (or takes an orphan
// over): 202 with its state.
func (h *handlers) retry(c *gin.Context) error {
	xid := c.Param("xid")
	if !tcc.ValidID(xid) {
		return bad(http.StatusBadRequest, CodeBadXID, "malformed XID")
	}
	t, err := h.d.Engine.Retry(c.Request.Context(), xid)
	if err != nil {
		return err
	}
	c.JSON(http.StatusAccepted, t)
	return nil
}
