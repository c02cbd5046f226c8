package conf

import (
	"encoding"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Field is one variable of a configuration struct, as its tags declare it.
type Field struct {
	Key        string // the variable's name, prefixes included
	Default    string // envDefault: used when the variable is unset or blank
	DocDefault string // docDefault: the default as documented, when it is computed after Load
	Desc       string // desc: what the variable means ('x' is code in the README)
	NoPrefix   bool   // the key ignores the envPrefix of enclosing structs
	Secret     bool   // the value is logged as "***"
	DSN        bool   // the value is a DSN, logged with its password masked

	index []int // the path from the root struct, for reflect.Value.FieldByIndex
}

var (
	durationType        = reflect.TypeFor[time.Duration]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// Fields lists the variables of cfg (a struct or a pointer to one) in field order. It fails on a tag it cannot honour: an
// unsupported type, an unknown option, a key declared twice, a default that does not
// parse, secret or dsn on a non-string field.
func Fields(cfg any) ([]Field, error) {
	t := reflect.TypeOf(cfg)
	if t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("conf: %T is not a struct", cfg)
	}
	var fs []Field
	if err := walk(t, "", nil, &fs); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, f := range fs {
		if seen[f.Key] {
			return nil, fmt.Errorf("conf: %s is declared twice in %s", f.Key, t)
		}
		seen[f.Key] = true
	}
	return fs, nil
}

func walk(t reflect.Type, prefix string, index []int, fs *[]Field) error {
	for i := range t.NumField() {
		sf := t.Field(i)
		embedded := sf.Anonymous && sf.Type.Kind() == reflect.Struct
		if !sf.IsExported() && !embedded {
			continue // an embedded struct's exported fields are settable even when it is not
		}
		idx := append(slices.Clone(index), i)
		tag, tagged := sf.Tag.Lookup("env")
		if !tagged {
			if sf.Type.Kind() == reflect.Struct && !reflect.PointerTo(sf.Type).Implements(textUnmarshalerType) {
				if err := walk(sf.Type, prefix+sf.Tag.Get("envPrefix"), idx, fs); err != nil {
					return err
				}
			}
			continue
		}
		f, err := newField(sf, tag, prefix)
		if err != nil {
			return err
		}
		f.index = idx
		*fs = append(*fs, f)
	}
	return nil
}

func newField(sf reflect.StructField, tag, prefix string) (Field, error) {
	name, opts, _ := strings.Cut(tag, ",")
	f := Field{Key: name, Default: sf.Tag.Get("envDefault"), DocDefault: sf.Tag.Get("docDefault"), Desc: sf.Tag.Get("desc")}
	for o := range strings.SplitSeq(opts, ",") {
		switch o {
		case "":
		case "noprefix":
			f.NoPrefix = true
		case "secret":
			f.Secret = true
		case "dsn":
			f.DSN = true
		default:
			return Field{}, fmt.Errorf("conf: field %s: unknown env option %q", sf.Name, o)
		}
	}
	if strings.Count(f.Desc, "'")%2 != 0 || strings.Count(f.DocDefault, "'")%2 != 0 {
		return Field{}, fmt.Errorf("conf: field %s: an unpaired ' in desc or docDefault ('x' is code; write an apostrophe as ’)", sf.Name)
	}
	if name == "" {
		return Field{}, fmt.Errorf("conf: field %s: the env tag names no variable", sf.Name)
	}
	if !f.NoPrefix {
		f.Key = prefix + name
	}
	if !supported(sf.Type) {
		return Field{}, fmt.Errorf("conf: %s: unsupported type %s", f.Key, sf.Type)
	}
	if (f.Secret || f.DSN) && sf.Type.Kind() != reflect.String {
		return Field{}, fmt.Errorf("conf: %s: secret and dsn need a string field, not %s", f.Key, sf.Type)
	}
	if f.Default != "" {
		if err := parse(reflect.New(sf.Type).Elem(), f.Default); err != nil {
			return Field{}, fmt.Errorf("conf: %s: default %w", f.Key, err)
		}
	}
	return f, nil
}
