package conf

import (
	"reflect"
	"testing"
	"time"
)

func TestMaskDSN(t *testing.T) {
	for in, want := range map[string]string{ //nolint:gosec // made-up DSNs: what is masked, not credentials
		"":                                   "",
		"user:pw@tcp(db:3306)/x?parseTime=1": "user:***@tcp(db:3306)/x?parseTime=1",
		"user:p@ss:w@tcp(db)/x":              "user:***@tcp(db)/x",
		"user@tcp(db)/x":                     "user@tcp(db)/x",
		"tcp(db)/x":                          "tcp(db)/x",
		":pw@tcp(db)/x":                      ":***@tcp(db)/x",
		"mysql://user:pw@db:3306/x":          "mysql://user:***@db:3306/x",
		"mysql://user@db/x":                  "mysql://user@db/x",
	} {
		if got := MaskDSN(in); got != want {
			t.Errorf("MaskDSN(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMask(t *testing.T) {
	if Mask("") != "" || Mask("s") != Masked {
		t.Errorf("Mask: %q, %q", Mask(""), Mask("s"))
	}
}

func TestRedactAndAttrs(t *testing.T) {
	cfg := sample{Addr: ":1", Wait: time.Second, DSN: "u:pw@tcp(h)/d", shared: shared{Key: "k", Port: 1}}
	r := Redact(cfg)
	if r.Key != Masked || r.Nested.Port != 0 || r.DSN != "u:***@tcp(h)/d" || r.Addr != ":1" {
		t.Errorf("Redact: %+v", r)
	}
	if cfg.Key != "k" || cfg.DSN != "u:pw@tcp(h)/d" {
		t.Errorf("Redact changed its argument: %+v", cfg)
	}
	attrs := Attrs(&cfg)
	got := map[string]any{}
	for i := 0; i < len(attrs); i += 2 {
		got[attrs[i].(string)] = attrs[i+1]
	}
	for k, want := range map[string]any{"X_ADDR": ":1", "X_WAIT": "1s", "X_DSN": "u:***@tcp(h)/d", "TCC_KEY": Masked, "X_PORT": 1, "X_LEVEL": "INFO"} {
		if !reflect.DeepEqual(got[k], want) {
			t.Errorf("Attrs[%s] = %#v, want %#v", k, got[k], want)
		}
	}
	if len(got) != 12 {
		t.Errorf("Attrs has %d variables, want 12: %v", len(got), got)
	}
}
