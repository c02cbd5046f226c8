package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// Common is the configuration every business service shares: where its database is,
// how coordinator calls are authenticated, and the admin token.
type Common struct {
	MySQLDSN      string
	SQLitePath    string
	DBMaxConns    int
	HMACKey       string
	Insecure      bool
	AdminToken    string
	MaxBodyBytes  int64
	ShutdownGrace time.Duration
	// TCCAddr, when set (<S>_TCC_ADDR), is a second listen address that alone serves the
	// TCC participant routes (POST /tcc/...); the main listener then answers 404 there, so
	// a network policy can admit coordinators only to this port. Empty: one listener.
	TCCAddr string
	// TCCListener, when set, is served instead of listening on TCCAddr (tests); it also
	// turns the second listener on.
	TCCListener net.Listener
	// BarrierRetention (<S>_BARRIER_RETENTION, default 168h; zero means the default):
	// barrier rows of finished branches older than this are purged. It must be far longer
	// than any transaction can stay open; rows of open branches are never purged whatever
	// their age.
	BarrierRetention time.Duration
	// PurgeInterval (<S>_BARRIER_PURGE_INTERVAL, default 1h) between purges; 0 disables.
	PurgeInterval time.Duration
}

// Background runs fn in a goroutine with a context that the returned stop cancels; stop
// then waits for fn to return, so a service calls it before closing what fn uses.
// Calling stop more than once is harmless.
func Background(fn func(ctx context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// DefaultBarrierRetention is how long finished branches' barrier rows are kept.
const DefaultBarrierRetention = 7 * 24 * time.Hour

// CommonFromEnv reads the shared variables; prefix is the service's ("INVENTORY_").
func CommonFromEnv(e *Env, prefix string) Common {
	return Common{
		MySQLDSN:      e.String(prefix+"MYSQL_DSN", ""),
		SQLitePath:    e.String(prefix+"SQLITE_PATH", ""),
		DBMaxConns:    int(e.Int(prefix+"DB_MAX_CONNS", 64)),
		HMACKey:       e.String("TCC_HMAC_KEY", ""),
		Insecure:      e.Bool("TCC_INSECURE", false),
		AdminToken:    e.String("TCC_ADMIN_TOKEN", ""),
		MaxBodyBytes:  e.Int(prefix+"MAX_BODY_BYTES", 16<<10),
		ShutdownGrace: e.Duration(prefix+"SHUTDOWN_TIMEOUT", 15*time.Second),
		TCCAddr:       e.String(prefix+"TCC_ADDR", ""),

		BarrierRetention: e.Duration(prefix+"BARRIER_RETENTION", DefaultBarrierRetention),
		PurgeInterval:    e.Duration(prefix+"BARRIER_PURGE_INTERVAL", time.Hour),
	}
}

// StartPurger purges old barrier rows every PurgeInterval (tcc.RunPurger; safe on several
// replicas at once) until the returned stop is called; stop waits for a purge in
// progress to end, so call it before closing db. PurgeInterval 0: nothing runs.
func (c Common) StartPurger(db *gorm.DB, log *slog.Logger) (stop func()) {
	if c.PurgeInterval <= 0 {
		return func() {}
	}
	retention := c.BarrierRetention
	if retention == 0 {
		retention = DefaultBarrierRetention
	}
	return Background(func(ctx context.Context) {
		tcc.RunPurger(ctx, db, tcc.PurgeConfig{Retention: retention}, c.PurgeInterval, log.Info)
	})
}

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

// LogAttrs is the configuration for the start-up log line, secrets masked.
func (c Common) LogAttrs() []any {
	return []any{"mysql_dsn", MaskDSN(c.MySQLDSN), "sqlite_path", c.SQLitePath, "db_max_conns", c.DBMaxConns,
		"hmac_key", Mask(c.HMACKey), "insecure", c.Insecure, "admin_token", Mask(c.AdminToken),
		"max_body_bytes", c.MaxBodyBytes, "shutdown_timeout", c.ShutdownGrace.String(), "tcc_addr", c.TCCAddr}
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

// Engines returns the engine the REST API goes on and the one the TCC participant
// routes go on: the same engine, unless SeparateTCC, then a second one built alike
// (recovery, propagation, metrics, error mapping, /healthz, /readyz, /metrics).
func (c Common) Engines(log *slog.Logger, m *Metrics, db *gorm.DB, mapErr Mapper) (api, tcc *gin.Engine) {
	api = NewEngine(log, m, db, mapErr)
	if !c.SeparateTCC() {
		return api, api
	}
	return api, NewEngine(log, m, db, mapErr)
}

// Servers returns what ServeAll serves for a service: the main listener (addr, or ln
// when set) with api, and, when SeparateTCC, the TCC listener with tcc.
func (c Common) Servers(name, addr string, ln net.Listener, api, tcc http.Handler) []Server {
	s := []Server{{Name: name, Addr: addr, Listener: ln, Handler: api}}
	if c.SeparateTCC() {
		s = append(s, Server{Name: name + " tcc", Addr: c.TCCAddr, Listener: c.TCCListener, Handler: tcc})
	}
	return s
}

// OpenDB opens the service's database, creating the MySQL schema if missing.
func (c Common) OpenDB(ctx context.Context) (*gorm.DB, error) {
	if c.MySQLDSN != "" {
		if err := dbx.CreateMySQLDatabase(ctx, c.MySQLDSN); err != nil {
			return nil, err
		}
	}
	return dbx.Open(ctx, dbx.Config{MySQLDSN: c.MySQLDSN, SQLitePath: c.SQLitePath, MaxOpenConns: c.DBMaxConns})
}

// NewParticipant builds the TCC participant of a service from the shared settings.
func (c Common) NewParticipant(db *gorm.DB, log *slog.Logger, m *Metrics) (*tcc.Participant, error) {
	var v *tcc.Verifier
	if c.HMACKey != "" {
		var err error
		if v, err = tcc.NewVerifier(time.Minute, []byte(c.HMACKey)); err != nil {
			return nil, err
		}
	}
	return tcc.NewParticipant(tcc.ParticipantConfig{
		DB: db, Verifier: v, Insecure: c.Insecure && v == nil, Logger: log, Registerer: m.Registry,
	})
}
