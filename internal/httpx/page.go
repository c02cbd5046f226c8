package httpx

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
)

// Page limits of the list endpoints.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// PageQuery reads a list endpoint's ?limit= (1..MaxPageSize, default DefaultPageSize)
// and ?after= cursor, which validAfter must accept (what names it in the error), or
// returns a 400 BAD_REQUEST *Error. Fetch limit+1 rows and cut them with Page.
func PageQuery(c *gin.Context, validAfter func(string) bool, what string) (limit int, after string, err error) {
	limit = DefaultPageSize
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			return 0, "", Errorf(http.StatusBadRequest, CodeBadRequest, "limit must be in 1..%d", MaxPageSize)
		}
		limit = n
	}
	after = c.Query("after")
	if after != "" && !validAfter(after) {
		return 0, "", Errorf(http.StatusBadRequest, CodeBadRequest, "after must be %s", what)
	}
	return limit, after, nil
}

// Page cuts rows, fetched with limit+1, to one page and returns the next page's cursor
// (the last row's key), or "" when this is the last page.
func Page[T any](rows []T, limit int, key func(T) string) ([]T, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, key(rows[limit-1])
}
