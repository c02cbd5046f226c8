package conf

import (
	"fmt"
	"reflect"
	"strings"
)

// Masked replaces a secret that is set.
const Masked = "***"

// Mask hides a secret for logging, keeping only whether it is set: "" stays "", anything
// else is Masked.
func Mask(s string) string {
	if s == "" {
		return ""
	}
	return Masked
}

// MaskDSN hides the password of a DSN and keeps the rest, user and host included:
// "user:pass@tcp(db:3306)/x" is logged "user:***@tcp(db:3306)/x", and a URL DSN
// "mysql://user:pass@db/x" likewise. A DSN without a password is returned unchanged.
func MaskDSN(dsn string) string {
	at := strings.LastIndex(dsn, "@")
	if at < 0 {
		return dsn
	}
	start := 0
	if i := strings.Index(dsn[:at], "://"); i >= 0 {
		start = i + len("://")
	}
	colon := strings.Index(dsn[start:at], ":")
	if colon < 0 {
		return dsn
	}
	return dsn[:start+colon+1] + Masked + dsn[at:]
}

// Redact returns a copy of cfg (a struct) with its secret fields masked (Mask) and its
// DSN fields' passwords masked (MaskDSN); cfg itself is not changed. It panics on a
// struct whose tags Fields refuses, a programming error that every configuration's
// tests catch.
func Redact[T any](cfg T) T {
	redact(reflect.ValueOf(&cfg).Elem(), mustFields(cfg))
	return cfg
}

// Attrs returns cfg (a struct or a pointer to one) as log/slog key-value pairs, one per
// variable, keyed by its name, secrets masked as Redact does; values with a String
// method (durations, log levels) are logged as that string. It panics as Redact does.
// Use: log.Info("x starting", conf.Attrs(cfg)...).
func Attrs(cfg any) []any {
	fs := mustFields(cfg)
	src := reflect.Indirect(reflect.ValueOf(cfg))
	v := reflect.New(src.Type()).Elem()
	v.Set(src)
	redact(v, fs)
	attrs := make([]any, 0, 2*len(fs))
	for _, f := range fs {
		x := v.FieldByIndex(f.index).Interface()
		if s, ok := x.(fmt.Stringer); ok {
			x = s.String()
		}
		attrs = append(attrs, f.Key, x)
	}
	return attrs
}

// redact masks, in v (a settable struct), the fields fs marks secret or dsn.
func redact(v reflect.Value, fs []Field) {
	for _, f := range fs {
		fv := v.FieldByIndex(f.index)
		switch {
		case f.Secret:
			fv.SetString(Mask(fv.String()))
		case f.DSN:
			fv.SetString(MaskDSN(fv.String()))
		}
	}
}

func mustFields(cfg any) []Field {
	fs, err := Fields(cfg)
	if err != nil {
		panic(err)
	}
	return fs
}
