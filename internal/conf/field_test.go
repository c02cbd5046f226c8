package conf

import (
	"reflect"
	"testing"
)

func TestFields(t *testing.T) {
	fs, err := Fields(sample{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, f := range fs {
		keys = append(keys, f.Key)
	}
	want := []string{"X_ADDR", "X_WAIT", "X_ON", "X_RATE", "X_SMALL", "X_COUNT", "X_LIST", "X_LEVEL", "X_DSN",
		"TCC_KEY", "X_PORT", "Y_PORT"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
	if f := fs[9]; !f.NoPrefix || !f.Secret || f.Desc != "the key" {
		t.Errorf("TCC_KEY: %+v, want noprefix, secret, desc", f)
	}
	if f := fs[8]; !f.DSN || f.Secret {
		t.Errorf("X_DSN: %+v, want dsn only", f)
	}
	if f := fs[0]; f.Default != ":1" {
		t.Errorf("X_ADDR default %q", f.Default)
	}
	if _, err := Fields(3); err == nil {
		t.Error("Fields accepted an int")
	}
}
