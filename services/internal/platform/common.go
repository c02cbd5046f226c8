package platform

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// Common is the configuration every business service shares: where its database is,
// how coordinator calls are authenticated, and the admin token. A service embeds it with
// its prefix (envPrefix:"ORDER_"); the TCC_ variables are the same for every service.
// The tags declare each variable (internal/conf); services/README.md's tables are
// generated from them.
type Common struct {
	MySQLDSN      string        `env:"MYSQL_DSN,dsn" desc:"the service’s MySQL schema (created if missing); exactly one of this and the next"`
	SQLitePath    string        `env:"SQLITE_PATH" desc:"an SQLite file instead (quick start, development)"`
	DBMaxConns    int           `env:"DB_MAX_CONNS" envDefault:"64" desc:"MySQL pool size"`
	DBConnectWait time.Duration `env:"DB_CONNECT_WAIT" envDefault:"30s" desc:"at start, how long an unreachable database is waited for (retrying, logged) before the service gives up; '0' gives up at once"`
	HMACKey       string        `env:"TCC_HMAC_KEY,noprefix,secret" desc:"key the coordinator signs participant calls with (≥ 16 bytes); required unless 'TCC_INSECURE'"`
	Insecure      bool          `env:"TCC_INSECURE,noprefix" envDefault:"false" desc:"accept unsigned participant calls (local development only; logged loudly)"`
	AdminToken    string        `env:"TCC_ADMIN_TOKEN,noprefix,secret" desc:"bearer token of the admin 'PUT's (≥ 8 characters); unset: admin calls always 401"`
	MaxBodyBytes  int64         `env:"MAX_BODY_BYTES" envDefault:"16384" desc:"request body limit"`
	ShutdownGrace time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"15s" desc:"how long in-flight requests may finish on SIGTERM"`
	// TCCAddr, when set, is a second listen address that alone serves the TCC participant
	// routes (POST /tcc/...); the main listener then answers 404 there, so a network
	// policy can admit coordinators only to this port. Empty: one listener.
	TCCAddr string `env:"TCC_ADDR" desc:"when set, a second listen address that alone serves the participant protocol ('POST /tcc/...', plus '/healthz', '/readyz', '/metrics'); the '<S>_ADDR' listener then answers 404 there, so a network policy can admit only coordinators to it (Kubernetes: ports 9080 / 9081 / 9082, named 'tcc'). Must differ from '<S>_ADDR'. Unset: one listener serves everything (quick start, compose)"`
	// TCCListener, when set, is served instead of listening on TCCAddr (tests); it also
	// turns the second listener on.
	TCCListener net.Listener
	// BarrierRetention (zero means the default): barrier rows of finished branches older
	// than this are purged. It must be far longer than any transaction can stay open;
	// rows of open branches are never purged whatever their age.
	BarrierRetention time.Duration `env:"BARRIER_RETENTION" envDefault:"168h" desc:"barrier rows of finished branches older than this are purged (at least '1h'; open branches are never purged)"`
	// PurgeInterval between purges; 0 disables.
	PurgeInterval time.Duration `env:"BARRIER_PURGE_INTERVAL" envDefault:"1h" desc:"time between purges ('0' disables); safe on every replica at once"`
	// LogLevel is the level of the service's log (main sets its handler to it).
	LogLevel slog.Level `env:"LOG_LEVEL" envDefault:"INFO" desc:"'DEBUG', 'INFO', 'WARN' or 'ERROR' (JSON logs on stderr; the quick start logs by its own 'TCC_LOG_LEVEL')"`
}

// DefaultBarrierRetention is how long finished branches' barrier rows are kept.
const DefaultBarrierRetention = 7 * 24 * time.Hour

// Validate checks the shared settings; prefix names the variables in messages.
func (c Common) Validate(prefix string) error {
	var errs []error
	if c.MySQLDSN == "" && c.SQLitePath == "" {
		errs = append(errs, fmt.Errorf("%sMYSQL_DSN or %sSQLITE_PATH is required", prefix, prefix))
	}
	if c.MySQLDSN != "" && c.SQLitePath != "" {
		errs = append(errs, fmt.Errorf("set only one of %sMYSQL_DSN and %sSQLITE_PATH", prefix, prefix))
	}
	if c.DBMaxConns < 1 || c.DBMaxConns > 1000 {
		errs = append(errs, fmt.Errorf("%sDB_MAX_CONNS must be in 1..1000", prefix))
	}
	if !c.Insecure && len(c.HMACKey) < tcc.MinKeyLen {
		errs = append(errs, fmt.Errorf("TCC_HMAC_KEY must be at least %d bytes (or TCC_INSECURE=true for local development)", tcc.MinKeyLen))
	}
	if c.HMACKey != "" && len(c.HMACKey) < tcc.MinKeyLen {
		errs = append(errs, fmt.Errorf("TCC_HMAC_KEY must be at least %d bytes", tcc.MinKeyLen))
	}
	if c.MaxBodyBytes < 256 || c.MaxBodyBytes > 1<<20 {
		errs = append(errs, fmt.Errorf("%sMAX_BODY_BYTES must be in 256..1048576", prefix))
	}
	if c.BarrierRetention != 0 && c.BarrierRetention < time.Hour {
		errs = append(errs, fmt.Errorf("%sBARRIER_RETENTION must be at least 1h (rows must outlive every transaction)", prefix))
	}
	if c.PurgeInterval < 0 {
		errs = append(errs, fmt.Errorf("%sBARRIER_PURGE_INTERVAL must not be negative (0 disables the purge)", prefix))
	}
	if c.ShutdownGrace <= 0 {
		errs = append(errs, fmt.Errorf("%sSHUTDOWN_TIMEOUT must be positive", prefix))
	}
	return errors.Join(errs...)
}

// SeparateTCC reports whether the TCC participant routes have their own listener.
func (c Common) SeparateTCC() bool { return c.TCCAddr != "" || c.TCCListener != nil }

// ValidateListeners checks the TCC listener against the main one: addr is the main
// listen address (<S>_ADDR), replaced by ln when ln is set. The two must differ.
func (c Common) ValidateListeners(prefix, addr string, ln net.Listener) error {
	if c.TCCListener != nil {
		if ln != nil && c.TCCListener == ln {
			return fmt.Errorf("%sTCC_ADDR: the TCC listener must not be the main listener", prefix)
		}
		return nil
	}
	if c.TCCAddr == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.TCCAddr); err != nil {
		return fmt.Errorf("%sTCC_ADDR must be host:port or :port, got %q", prefix, c.TCCAddr)
	}
	if ln == nil && sameAddr(addr, c.TCCAddr) {
		return fmt.Errorf("%sTCC_ADDR (%s) must differ from %sADDR (%s)", prefix, c.TCCAddr, prefix, addr)
	}
	return nil
}

// sameAddr reports whether listening on a and b would collide: the same port (not 0) on
// the same host, or on a wildcard host.
func sameAddr(a, b string) bool {
	if a == b {
		return true
	}
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa != pb || pa == "0" {
		return false
	}
	wild := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || wild(ha) || wild(hb)
}
