package httpx

import (
	"crypto/subtle"
	"net/http"

	"github.com/gin-gonic/gin"
)

// HasBearer reports, in constant time, whether the request carries exactly
// "Authorization: Bearer <token>". An empty token never matches.
func HasBearer(c *gin.Context, token string) bool {
	if token == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(c.GetHeader("Authorization")), []byte("Bearer "+token)) == 1
}

// AdminAuth lets a request through only with the admin token (HasBearer); otherwise it
// answers 401 UNAUTHORIZED with a WWW-Authenticate challenge and the handler never runs.
// An empty token refuses every request.
func AdminAuth(token string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !HasBearer(c, token) {
			c.Header("WWW-Authenticate", `Bearer realm="tccsuite-admin"`)
			Abort(c, Errorf(http.StatusUnauthorized, CodeUnauthorized, "admin token missing or wrong"))
			return
		}
		c.Next()
	}
}
