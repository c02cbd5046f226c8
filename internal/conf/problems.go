package conf

import (
	"errors"
	"fmt"
)

// Problems collects what a configuration's Validate finds, so that a bad configuration
// is reported whole, at start, rather than one problem per restart. The zero value is
// ready to use.
type Problems struct {
	errs []error
}

// Check records the problem format describes unless ok.
func (p *Problems) Check(ok bool, format string, a ...any) {
	if !ok {
		p.errs = append(p.errs, fmt.Errorf(format, a...))
	}
}

// Add records err unless it is nil.
func (p *Problems) Add(err error) {
	if err != nil {
		p.errs = append(p.errs, err)
	}
}

// Err returns every problem recorded, joined, or nil when there is none.
func (p *Problems) Err() error { return errors.Join(p.errs...) }
