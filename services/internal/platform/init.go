package platform

import (
	"os"

	"github.com/gin-gonic/gin"
)

// gin's debug mode prints every route at start; services run in release mode unless
// GIN_MODE says otherwise. Set once here, before any engine exists, because gin keeps the
// mode in a package variable.
func init() {
	if os.Getenv(gin.EnvGinMode) == "" {
		gin.SetMode(gin.ReleaseMode)
	}
}
