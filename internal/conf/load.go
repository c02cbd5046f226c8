package conf

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// Load sets the tagged fields of *dst from the environment read through getenv
// (os.Getenv in production, a map in tests): every variable is read exactly once, in
// field order, with surrounding white space trimmed. A variable that is unset or blank
// takes its envDefault; without one the field keeps its value. Every parse error is
// reported, joined, each naming its variable; the fields that did parse are set. Load
// checks no relation between fields: that is each configuration's Validate.
func Load(getenv func(string) string, dst any) error {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("conf: Load needs a pointer to a struct, not %T", dst)
	}
	fs, err := Fields(dst)
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range fs {
		s := strings.TrimSpace(getenv(f.Key))
		if s == "" {
			s = f.Default
		}
		if s == "" {
			continue
		}
		if err := parse(v.Elem().FieldByIndex(f.index), s); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.Key, err))
		}
	}
	return errors.Join(errs...)
}
