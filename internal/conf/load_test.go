package conf

import (
	"log/slog"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

type shared struct {
	Key  string `env:"TCC_KEY,noprefix,secret" desc:"the key"`
	Port int    `env:"PORT" envDefault:"80"`
}

type inner struct {
	Port  int    `env:"PORT" envDefault:"80"`
	Local string // no tag: left alone
}

type sample struct {
	Addr     string        `env:"X_ADDR" envDefault:":1"`
	Wait     time.Duration `env:"X_WAIT" envDefault:"5s"`
	On       bool          `env:"X_ON" envDefault:"true"`
	Rate     float64       `env:"X_RATE"`
	Small    int8          `env:"X_SMALL"`
	Count    uint          `env:"X_COUNT"`
	List     []string      `env:"X_LIST" envDefault:"a,b"`
	Level    slog.Level    `env:"X_LEVEL" envDefault:"info"`
	DSN      string        `env:"X_DSN,dsn"`
	Listener net.Listener  // untagged, not a struct: left alone
	shared   `envPrefix:"X_"`
	Nested   inner `envPrefix:"Y_"`
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadDefaults(t *testing.T) {
	var got sample
	if err := Load(env(nil), &got); err != nil {
		t.Fatal(err)
	}
	want := sample{Addr: ":1", Wait: 5 * time.Second, On: true, List: []string{"a", "b"}, Level: slog.LevelInfo,
		shared: shared{Port: 80}, Nested: inner{Port: 80}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestLoadValues(t *testing.T) {
	got := sample{Nested: inner{Local: "kept"}}
	err := Load(env(map[string]string{
		"X_ADDR": " :2 ", "X_WAIT": "1m", "X_ON": "false", "X_RATE": "2.5", "X_SMALL": "-3", "X_COUNT": "7",
		"X_LIST": " p , ,q ", "X_LEVEL": "DEBUG", "X_DSN": "u:p@tcp(h)/d", "TCC_KEY": "k", "X_PORT": "81", "Y_PORT": "82",
	}), &got)
	if err != nil {
		t.Fatal(err)
	}
	want := sample{Addr: ":2", Wait: time.Minute, Rate: 2.5, Small: -3, Count: 7, List: []string{"p", "q"},
		Level: slog.LevelDebug, DSN: "u:p@tcp(h)/d", shared: shared{Key: "k", Port: 81}, Nested: inner{Port: 82, Local: "kept"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestLoadBlankIsUnset(t *testing.T) {
	got := sample{Rate: 9}
	if err := Load(env(map[string]string{"X_ADDR": "  ", "X_RATE": "\t"}), &got); err != nil {
		t.Fatal(err)
	}
	if got.Addr != ":1" || got.Rate != 9 {
		t.Errorf("blank variables: Addr %q (want the default :1), Rate %v (want the value kept, 9)", got.Addr, got.Rate)
	}
}

func TestLoadReadsEveryVariableOnce(t *testing.T) {
	reads := map[string]int{}
	var got sample
	_ = Load(func(k string) string { reads[k]++; return "bad" }, &got)
	want := []string{"X_ADDR", "X_WAIT", "X_ON", "X_RATE", "X_SMALL", "X_COUNT", "X_LIST", "X_LEVEL", "X_DSN", "TCC_KEY", "X_PORT", "Y_PORT"}
	for _, k := range want {
		if reads[k] != 1 {
			t.Errorf("%s read %d times, want 1", k, reads[k])
		}
	}
	if len(reads) != len(want) {
		t.Errorf("read %v, want exactly %v", reads, want)
	}
}

func TestLoadReportsEveryError(t *testing.T) {
	var got sample
	err := Load(env(map[string]string{
		"X_WAIT": "soon", "X_ON": "maybe", "X_RATE": "fast", "X_SMALL": "300", "X_COUNT": "-1", "X_LEVEL": "loud", "X_PORT": "eighty",
	}), &got)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`X_WAIT: "soon" is not a duration`, `X_ON: "maybe" is not a boolean`, `X_RATE: "fast" is not a number`,
		`X_SMALL: "300" is not an integer in range`, `X_COUNT: "-1" is not a non-negative integer`, `X_LEVEL: "loud": `,
		`X_PORT: "eighty" is not an integer`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if got.Addr != ":1" {
		t.Errorf("a field that parsed was not set: Addr %q", got.Addr)
	}
}

func TestLoadRefuses(t *testing.T) {
	for name, dst := range map[string]any{
		"not a pointer":         sample{},
		"nil pointer":           (*sample)(nil),
		"pointer to non-struct": new(int),
		"unsupported type": &struct {
			M map[string]int `env:"M"`
		}{},
		"bad default": &struct {
			D time.Duration `env:"D" envDefault:"5"`
		}{},
		"unknown option": &struct {
			S string `env:"S,sekret"`
		}{},
		"no name": &struct {
			S string `env:",secret"`
		}{},
		"secret non-string": &struct {
			N int `env:"N,secret"`
		}{},
		"declared twice": &struct {
			A, B string `env:"A"`
		}{},
	} {
		if err := Load(env(nil), dst); err == nil {
			t.Errorf("%s: Load accepted %T", name, dst)
		}
	}
}
