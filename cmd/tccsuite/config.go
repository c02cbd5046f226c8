package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/tccsuite/tccsuite/internal/conf"
)

// Demo secrets, used unless TCC_HMAC_KEY / TCC_ADMIN_TOKEN are set. They are printed at
// start: never use them anywhere but a laptop.
const (
	demoHMACKey    = "tccsuite-demo-hmac-key-do-not-use-in-production"
	demoAdminToken = "demo-admin-token"
)

// config is what the quick start itself reads; every component reads its own
// variables on top, through componentEnv.
type config struct {
	DataDir  string `env:"TCC_DATA_DIR" envDefault:".tccsuite-data" desc:"directory of the SQLite files and the embedded etcd’s data"`
	MySQLDSN string `env:"TCC_MYSQL_DSN,dsn" desc:"a MySQL server to use instead of SQLite: one schema per component, '<database>_<component>' (database default 'tccsuite'), created if missing"`
	LogLevel string `env:"TCC_LOG_LEVEL" desc:"'info' logs at info; anything else, warnings only"`

	HMACKey    string `env:"TCC_HMAC_KEY,secret" envDefault:"tccsuite-demo-hmac-key-do-not-use-in-production" desc:"the suite’s HMAC key (default: a printed demo key)"`
	AdminToken string `env:"TCC_ADMIN_TOKEN,secret" envDefault:"demo-admin-token" desc:"the admin token (default: a printed demo token)"`

	EtcdEndpoints  string `env:"TCC_ETCD_ENDPOINTS" desc:"an etcd to use instead of the embedded one"`
	EtcdClientAddr string `env:"TCC_ETCD_CLIENT_ADDR" envDefault:"127.0.0.1:2379" desc:"the embedded etcd’s client address"`
	EtcdPeerAddr   string `env:"TCC_ETCD_PEER_ADDR" envDefault:"127.0.0.1:2380" desc:"the embedded etcd’s peer address"`
	PprofAddr      string `env:"TCC_PPROF_ADDR" desc:"serve Go’s profiler there (loopback, for tuning)"`

	// Set by the user, the order service calls these instead of the quick start's own.
	OrderCoordinatorURL string `env:"ORDER_COORDINATOR_URL" desc:"the coordinator the order service calls"`
	OrderInventoryURL   string `env:"ORDER_INVENTORY_URL" desc:"the inventory the order service calls"`
	OrderPaymentURL     string `env:"ORDER_PAYMENT_URL" desc:"the payment service the order service calls"`
}

// loadConfig reads the quick start's variables through getenv.
func loadConfig(getenv func(string) string) (config, error) {
	var c config
	if err := conf.Load(getenv, &c); err != nil {
		return c, err
	}
	return c, nil
}

// logger logs warnings, or everything from info up with TCC_LOG_LEVEL=info.
func (c config) logger() *slog.Logger {
	level := slog.LevelWarn
	if c.LogLevel == "info" {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// prepareDataDir creates the data directory if missing.
func prepareDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	return nil
}

// envPrefix is the prefix of a component's variables.
func envPrefix(component string) string {
	if component == "coordinator" {
		return "TCC_"
	}
	return strings.ToUpper(component) + "_"
}

// componentEnv returns the getenvs the components read their configuration through:
// the process environment over the quick start's defaults (the demo secrets, and each
// component's SQLite file under the data directory or its own MySQL schema). The
// coordinator gets its own, because it reads TCC_MYSQL_DSN itself: there it names the
// coordinator's schema, not the server.
func componentEnv(getenv func(string) string, c config) (env, coordEnv func(string) string, err error) {
	defaults := map[string]string{
		"TCC_HMAC_KEY":    c.HMACKey,
		"TCC_ADMIN_TOKEN": c.AdminToken,
	}
	for _, comp := range []string{"coordinator", "order", "inventory", "payment"} {
		prefix := envPrefix(comp)
		if c.MySQLDSN == "" {
			defaults[prefix+"SQLITE_PATH"] = filepath.Join(c.DataDir, comp+".db")
			continue
		}
		dsn, err := schemaDSN(c.MySQLDSN, comp)
		if err != nil {
			return nil, nil, err
		}
		defaults[prefix+"MYSQL_DSN"] = dsn
		// Four pools share one server (MySQL allows 151 connections by default).
		defaults[prefix+"DB_MAX_CONNS"] = "24"
	}
	env = overlay(getenv, defaults)
	coordEnv = func(k string) string {
		if k == "TCC_MYSQL_DSN" && c.MySQLDSN != "" {
			return defaults["TCC_MYSQL_DSN"]
		}
		return env(k)
	}
	return env, coordEnv, nil
}

// overlay returns a getenv that answers from getenv first, then from defaults.
func overlay(getenv func(string) string, defaults map[string]string) func(string) string {
	return func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return defaults[k]
	}
}

// schemaDSN returns dsn naming the schema <prefix>_<component>, where prefix is the
// DSN's own database name or "tccsuite".
func schemaDSN(dsn, component string) (string, error) {
	cfg, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		return "", fmt.Errorf("TCC_MYSQL_DSN: %w", err)
	}
	prefix := cfg.DBName
	if prefix == "" {
		prefix = "tccsuite"
	}
	cfg.DBName = prefix + "_" + component
	return cfg.FormatDSN(), nil
}

// localURL turns a listen address into a URL a local client can call.
func localURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
