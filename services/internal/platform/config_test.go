package platform

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tccsuite/tccsuite/internal/conf"
)

// testConfig is a service configuration as the services declare theirs.
type testConfig struct {
	Addr   string `env:"X_ADDR" envDefault:":9000"`
	Common `envPrefix:"X_"`
}

func (c testConfig) Validate() error { return c.ValidateServer("X_", c.Addr, nil) }

func TestCommonDefaults(t *testing.T) {
	c, err := LoadConfig[testConfig](func(k string) string {
		return map[string]string{"X_SQLITE_PATH": "x.db", "TCC_INSECURE": "true"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Common{SQLitePath: "x.db", Insecure: true, DBMaxConns: 64, DBConnectWait: 30 * time.Second, MaxBodyBytes: 16 << 10, ShutdownGrace: 15 * time.Second,
		BarrierRetention: DefaultBarrierRetention, PurgeInterval: time.Hour, LogLevel: slog.LevelInfo}
	if c.Common != want || c.Addr != ":9000" {
		t.Errorf("got %+v, want %+v", c, want)
	}
}

func TestLoadConfigRefuses(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string // in the error
	}{
		{map[string]string{"X_DB_MAX_CONNS": "many"}, `X_DB_MAX_CONNS: "many" is not an integer`},
		{map[string]string{"X_LOG_LEVEL": "chatty"}, "X_LOG_LEVEL"},
		{map[string]string{}, "X_MYSQL_DSN or X_SQLITE_PATH is required"},
		{map[string]string{"X_MYSQL_DSN": "u:p@tcp(db)/x", "X_SQLITE_PATH": "x.db"}, "set only one of X_MYSQL_DSN and X_SQLITE_PATH"},
		{map[string]string{"X_SQLITE_PATH": "x.db", "TCC_HMAC_KEY": "short"}, "TCC_HMAC_KEY must be at least"},
		{map[string]string{"X_SQLITE_PATH": "x.db", "X_ADDR": " "}, ""}, // blank: the default, accepted below
		{map[string]string{"X_SQLITE_PATH": "x.db", "X_TCC_ADDR": ":9000"}, "X_TCC_ADDR (:9000) must differ from X_ADDR (:9000)"},
		{map[string]string{"X_SQLITE_PATH": "x.db", "X_ADDR": "127.0.0.1:9000", "X_TCC_ADDR": "0.0.0.0:9000"}, "must differ from X_ADDR"},
		{map[string]string{"X_SQLITE_PATH": "x.db", "X_TCC_ADDR": "9001"}, "X_TCC_ADDR must be host:port"},
	} {
		env := map[string]string{"TCC_INSECURE": "true"}
		for k, v := range tc.env {
			env[k] = v
		}
		_, err := LoadConfig[testConfig](func(k string) string { return env[k] })
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: refused: %v", tc.env, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: error %v, want one with %q", tc.env, err, tc.want)
		}
	}
	c, err := LoadConfig[testConfig](func(k string) string { return map[string]string{"X_SQLITE_PATH": "x.db"}[k] })
	if err == nil || c.SQLitePath != "x.db" {
		t.Errorf("a valid parse with a Validate error: %+v, %v (want the config and the error)", c, err)
	}
}

// TestCommonLogMasksSecrets: the start-up line shows the DSN's user and host, no secret.
func TestCommonLogMasksSecrets(t *testing.T) {
	c := testConfig{Addr: ":1", Common: Common{MySQLDSN: "svc:pw-secret@tcp(db:3306)/x", HMACKey: "hmac-secret-0123456789", AdminToken: "admin-secret"}}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x starting", conf.Attrs(c)...)
	for _, s := range []string{"pw-secret", "hmac-secret", "admin-secret"} {
		if strings.Contains(b.String(), s) {
			t.Errorf("the log line shows %s: %s", s, b.String())
		}
	}
	for _, want := range []string{`"X_MYSQL_DSN":"svc:***@tcp(db:3306)/x"`, `"TCC_HMAC_KEY":"***"`, `"X_SHUTDOWN_TIMEOUT":"0s"`, `"X_ADDR":":1"`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the log line lacks %s: %s", want, b.String())
		}
	}
}
