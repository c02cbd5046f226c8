package platform

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Env reads typed environment variables through getenv and collects every parse error,
// so a bad configuration is reported whole, at start.
type Env struct {
	Getenv func(string) string
	errs   []error
}

// String returns the variable or def when unset or empty.
func (e *Env) String(key, def string) string {
	if v := strings.TrimSpace(e.Getenv(key)); v != "" {
		return v
	}
	return def
}

// Int returns the variable as an integer, or def.
func (e *Env) Int(key string, def int64) int64 {
	v := strings.TrimSpace(e.Getenv(key))
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %q is not an integer", key, v))
		return def
	}
	return n
}

// Float returns the variable as a float, or def.
func (e *Env) Float(key string, def float64) float64 {
	v := strings.TrimSpace(e.Getenv(key))
	if v == "" {
		return def
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %q is not a number", key, v))
		return def
	}
	return n
}

// Duration returns the variable as a Go duration ("5s"), or def.
func (e *Env) Duration(key string, def time.Duration) time.Duration {
	v := strings.TrimSpace(e.Getenv(key))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %q is not a duration", key, v))
		return def
	}
	return d
}

// Bool returns the variable as a boolean, or def.
func (e *Env) Bool(key string, def bool) bool {
	v := strings.TrimSpace(e.Getenv(key))
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %q is not a boolean", key, v))
		return def
	}
	return b
}

// Err returns every parse error, joined, or nil.
func (e *Env) Err() error { return errors.Join(e.errs...) }

// Mask hides a secret for logging, keeping only whether it is set.
func Mask(s string) string {
	if s == "" {
		return ""
	}
	return "***"
}

// MaskDSN hides the password of a MySQL DSN ("user:pass@tcp(...)").
func MaskDSN(dsn string) string {
	at := strings.LastIndex(dsn, "@")
	if at < 0 {
		return dsn
	}
	cred := dsn[:at]
	if i := strings.Index(cred, ":"); i >= 0 {
		return cred[:i] + ":***" + dsn[at:]
	}
	return dsn
}
