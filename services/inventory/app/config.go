package app

import (
	"net"

	"github.com/tccsuite/tccsuite/internal/conf"
	"github.com/tccsuite/tccsuite/services/internal/platform"
)

// Config is the inventory's configuration. The tags declare each variable;
// services/README.md's tables are generated from them (go generate ./internal/conf/confdocs).
type Config struct {
	Addr            string `env:"INVENTORY_ADDR" envDefault:":8081" desc:"listen address"`
	platform.Common `envPrefix:"INVENTORY_"`
	// Listener, when set, is served instead of listening on Addr (tests, quick start).
	// The TCC routes' own listener, if any, is in Common (TCCAddr, TCCListener).
	Listener net.Listener
}

// ConfigFromEnv reads the configuration through getenv (os.Getenv in main), each
// variable once, and validates it; every problem is reported.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	return platform.LoadConfig[Config](getenv)
}

// Validate reports every problem of the configuration.
func (c Config) Validate() error {
	var p conf.Problems
	p.Add(c.ValidateServer("INVENTORY_", c.Addr, c.Listener))
	p.Check(c.AdminToken == "" || len(c.AdminToken) >= 8, "TCC_ADMIN_TOKEN must be at least 8 characters")
	return p.Err()
}
