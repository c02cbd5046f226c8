// Package httpx is the HTTP seam every server of the suite shares (the coordinator and
// the business services): one error type and the one middleware that turns an error into
// a JSON answer, handlers that return an error, panic recovery, request-ID and trace
// propagation, HTTP metrics, strict JSON bodies, admin authentication, paging, and the
// graceful serving of one or several listeners. It knows nothing of transactions,
// orders, stock or money.
//
// A handler returns an error instead of writing one:
//
//	r.GET("/api/v1/stock/:sku", httpx.Handle(func(c *gin.Context) error {
//		it, err := store.Get(c.Request.Context(), c.Param("sku"))
//		if err != nil {
//			return err // mapped once, by the engine's Errors middleware
//		}
//		c.JSON(http.StatusOK, it)
//		return nil
//	}))
//
// The engine (NewEngine) maps it once: an *Error as it is, else the server's Mapper, else
// a transient database condition as 503 UNAVAILABLE with Retry-After, else a generic 500
// whose cause is logged, never sent.
package httpx
