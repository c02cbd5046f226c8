package platform

import (
	"net"

	"github.com/tccsuite/tccsuite/internal/conf"
)

// LoadConfig reads a service's configuration C through getenv (os.Getenv in main;
// conf.Load: each variable once, defaults applied) and validates it; every problem is
// reported at once. On a parse error it returns the zero C.
func LoadConfig[C interface{ Validate() error }](getenv func(string) string) (C, error) {
	var c C
	if err := conf.Load(getenv, &c); err != nil {
		var zero C
		return zero, err
	}
	return c, c.Validate()
}

// ValidateServer checks what every service checks: a main listen address (prefix+ADDR,
// or ln instead), the shared settings (Validate), and a TCC listener distinct from the
// main one (ValidateListeners). prefix names the variables in messages ("ORDER_").
func (c Common) ValidateServer(prefix, addr string, ln net.Listener) error {
	var p conf.Problems
	p.Check(addr != "" || ln != nil, "%sADDR is required", prefix)
	p.Add(c.Validate(prefix))
	p.Add(c.ValidateListeners(prefix, addr, ln))
	return p.Err()
}
